import { createHash } from 'node:crypto';
import { renderBegin, renderCommit, renderFooter, renderSegmentHeader, type SegmentHeader } from '../../../src/core/segment/format';

export interface TestTxn {
  xid: number;
  commitLsn: bigint;
  endLsn: bigint;
  commitTime: string;
  statements: string[];
}

export const header: SegmentHeader = {
  systemIdentifier: '7312345678901234567',
  database: 'app',
  serverVersion: 'PostgreSQL 15.20',
  encoding: 'UTF8',
  slot: 'pgincr',
  decoder: 'pgoutput',
  startLsn: 0x16b3748n,
  timeline: 1,
};

/** Renders a whole segment the way the writer does: header, blank + BEGIN … COMMIT, blank + footer. */
export function renderSegment(h: SegmentHeader, txns: TestTxn[], withFooter = true): Buffer {
  let body = renderSegmentHeader(h);
  let changes = 0;
  for (const t of txns) {
    body += renderBegin(t);
    for (const s of t.statements) body += `${s}\n`;
    body += renderCommit({ xid: t.xid, endLsn: t.endLsn, changes: t.statements.length });
    changes += t.statements.length;
  }
  if (!withFooter) return Buffer.from(body, 'latin1');
  body += '\n';
  const bodySha256 = createHash('sha256').update(Buffer.from(body, 'latin1')).digest('hex');
  const lastEndLsn = txns.at(-1)?.endLsn ?? h.startLsn;
  return Buffer.from(body + renderFooter({ transactions: txns.length, changes, lastEndLsn, bodySha256 }), 'latin1');
}

export function sampleTxns(): TestTxn[] {
  return [
    {
      xid: 1234,
      commitLsn: 0x16b37a0n,
      endLsn: 0x16b37d8n,
      commitTime: '2026-11-27T14:00:00.123456Z',
      statements: ["INSERT INTO public.users (id, name) VALUES ('1', 'Alice');"],
    },
    {
      xid: 1235,
      commitLsn: 0x16b3800n,
      endLsn: 0x16b3900n,
      commitTime: '2026-11-27T14:00:01.000001Z',
      statements: ["UPDATE public.users SET name = 'Alice Smith' WHERE id = '1';", "DELETE FROM public.users WHERE id = '2';"],
    },
  ];
}

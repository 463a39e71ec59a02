/**
 * A chain of sealed gzip segments written directly with the capture's own renderer (render.ts
 * rows, grammar.ts markers and footer): a long `pgincr log` scan made of data, without a database
 * or a capture (test/integration/workflows/find-transactions-progress.test.ts, bench/log-scan.ts). Transactions insert and update rows of
 * public.orders / public.order_items / public.customers; every 50th deletes one row.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chainDirName, segmentRelPath } from '../../src/core/repository/paths';
import { renderBegin, renderCommit, renderFooter, renderSegmentHeader } from '../../src/core/segment/grammar';
import { renderDelete, renderInsert, renderUpdate, type RelationInfo } from '../../src/core/sql/render';

const SYSID = '7312345678901234567';

function relation(table: string, id: number): RelationInfo {
  return {
    relationId: id,
    schema: 'public',
    table,
    replicaIdentity: 'd',
    columns: [
      { name: 'id', typeOid: 20, typeMod: -1, isKey: true },
      { name: 'customer', typeOid: 25, typeMod: -1, isKey: false },
      { name: 'amount', typeOid: 1700, typeMod: -1, isKey: false },
      { name: 'placed_at', typeOid: 1184, typeMod: -1, isKey: false },
    ],
    identityAlways: new Set(),
    generated: new Set(),
  };
}

const text = (v: string) => ({ kind: 'text' as const, value: v });

export interface LogChain {
  chainDir: string;
  /** The sealed files (relative to the chain), in LSN order. */
  segments: string[];
  transactions: number;
  /** DELETEs on public.orders (one in each 50th transaction deletes a row of one of the tables). */
  orderDeletes: number;
  sqlBytes: number;
}

export interface LogChainSize {
  /** About this much SQL in each segment. */
  segmentBytes: number;
  /** Segments are written until there are this many, or until `sqlBytes` are written. */
  segments?: number;
  sqlBytes?: number;
  /** gzip level: 1 is quick to write; the capture's own default is 6. */
  gzipLevel?: number;
}

/** Where writeLogChain puts the chain of `dbname`. */
export function logChainDir(repository: string, dbname: string): string {
  return join(repository, chainDirName(SYSID, dbname));
}

/** Writes sealed segments of about `size.segmentBytes` of SQL each into `<repository>/<sysid>-<dbname>`. */
export function writeLogChain(repository: string, dbname: string, size: LogChainSize): LogChain {
  const { segmentBytes, gzipLevel = 1 } = size;
  const enough = (segments: number, written: number) => (size.segments !== undefined ? segments >= size.segments : written >= (size.sqlBytes ?? segmentBytes));
  const chainDir = logChainDir(repository, dbname);
  const rels = [relation('orders', 1), relation('order_items', 2), relation('customers', 3)];
  let lsn = 0x1000000n;
  let xid = 1000;
  let time = Date.parse('2026-11-27T00:00:00Z');
  const segments: string[] = [];
  let transactions = 0;
  let sqlBytes = 0;
  let orderDeletes = 0;
  while (!enough(segments.length, sqlBytes)) {
    const startLsn = lsn;
    const header = renderSegmentHeader({
      systemIdentifier: SYSID,
      database: dbname,
      serverVersion: 'PostgreSQL 15.20',
      encoding: 'UTF8',
      slot: 'pgincr',
      decoder: 'pgoutput',
      startLsn,
      timeline: 1,
    });
    const parts: string[] = [header];
    let size = header.length;
    let segTxns = 0;
    let changes = 0;
    let last = '';
    while (size < segmentBytes) {
      xid++;
      time += 37;
      const commitTime = new Date(time).toISOString().replace('Z', '000Z');
      lsn += 0x200n;
      let t = renderBegin({ xid, commitLsn: lsn, commitTime });
      const n = 1 + (xid % 7);
      for (let i = 0; i < n; i++) {
        const rel = rels[(xid + i) % 3]!;
        const id = String(xid * 10 + i);
        const row = [text(id), text(`customer ${xid % 997}`), text(`${xid % 1000}.${i}5`), text(commitTime.replace('T', ' ').replace('Z', '+00'))];
        if (xid % 50 === 0 && i === 0) {
          t += renderDelete(rel, { kind: 'key', tuple: [text(id), { kind: 'null' }, { kind: 'null' }, { kind: 'null' }] });
          if (rel.table === 'orders') orderDeletes++;
        } else if (i % 3 === 2) t += renderUpdate(rel, row);
        else t += renderInsert(rel, row);
      }
      lsn += BigInt(0x80 * n);
      t += renderCommit({ xid, endLsn: lsn + 0x10n, changes: n });
      lsn += 0x10n;
      parts.push(t);
      size += t.length;
      segTxns++;
      changes += n;
      last = commitTime;
    }
    parts.push('\n');
    const body = Buffer.from(parts.join(''), 'latin1');
    const sha = createHash('sha256').update(body).digest('hex');
    const full = Buffer.concat([body, Buffer.from(renderFooter({ transactions: segTxns, changes, lastEndLsn: lsn, bodySha256: sha }), 'latin1')]);
    const rel = segmentRelPath(last.slice(0, 10), startLsn, lsn, true);
    mkdirSync(join(chainDir, rel, '..'), { recursive: true });
    writeFileSync(join(chainDir, rel), gzipSync(full, { level: gzipLevel }));
    segments.push(rel);
    transactions += segTxns;
    sqlBytes += full.length;
  }
  return { chainDir, segments, transactions, orderDeletes, sqlBytes };
}

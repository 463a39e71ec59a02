/**
 * Fixture repositories for restore tests and the restore bench: statements are run on a real
 * source database (which becomes the expected state) and recorded as segment transactions with
 * synthetic, increasing xids, LSNs and commit times, rendered with the format module's grammar.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Client } from 'pg';
import type { Lsn } from '../../src/core/lsn';
import { segmentPath } from '../../src/core/repository/paths';
import { renderBegin, renderCommit, renderFooter, renderSegmentHeader } from '../../src/core/segment/format';

export interface FixtureTxn {
  xid: number;
  commitLsn: Lsn;
  endLsn: Lsn;
  commitTime: string;
  statements: string[];
}

export interface FixtureSegment {
  path: string;
  startLsn: Lsn;
  endLsn: Lsn;
  txns: FixtureTxn[];
}

/** Renders a sealed segment (bytes) from transactions. */
export function renderSegment(startLsn: Lsn, txns: FixtureTxn[], options: { encoding?: string; database?: string } = {}): Buffer {
  const encoding = options.encoding ?? 'UTF8';
  const charset = encoding === 'UTF8' ? 'utf8' : 'latin1';
  const parts: Buffer[] = [
    Buffer.from(
      renderSegmentHeader({
        systemIdentifier: '7312000000000000001',
        database: options.database ?? 'app',
        serverVersion: 'PostgreSQL 15.20',
        encoding,
        slot: 'pgincr',
        decoder: 'pgoutput',
        startLsn,
        timeline: 1,
      }),
      'latin1',
    ),
  ];
  let changes = 0;
  for (const t of txns) {
    parts.push(Buffer.from(renderBegin({ xid: t.xid, commitLsn: t.commitLsn, commitTime: t.commitTime }), 'latin1'));
    for (const s of t.statements) parts.push(Buffer.from(`${s.endsWith(';') ? s : `${s};`}\n`, charset));
    parts.push(Buffer.from(renderCommit({ xid: t.xid, endLsn: t.endLsn, changes: t.statements.length }), 'latin1'));
    changes += t.statements.length;
  }
  parts.push(Buffer.from('\n'));
  const body = Buffer.concat(parts);
  const footer = renderFooter({
    transactions: txns.length,
    changes,
    lastEndLsn: txns.at(-1)?.endLsn ?? startLsn,
    bodySha256: createHash('sha256').update(body).digest('hex'),
  });
  return Buffer.concat([body, Buffer.from(footer, 'latin1')]);
}

/** Runs transactions on the source and records them; cuts segments on demand. */
export class Recorder {
  readonly segments: FixtureSegment[] = [];
  private pending: FixtureTxn[] = [];
  private n = 0;
  private segmentStart: Lsn;

  constructor(
    private readonly source: Client,
    private readonly chainDir: string,
    readonly baseLsn: Lsn,
    private readonly baseTime = Date.parse('2026-01-01T00:00:00Z'),
    private readonly options: { encoding?: string } = {},
  ) {
    this.segmentStart = baseLsn;
  }

  /** The i-th recorded transaction's commit time (canonical), 1 s apart plus i µs. */
  timeOf(i: number): string {
    return `${new Date(this.baseTime + i * 1000).toISOString().slice(0, 19)}.${String(i).padStart(6, '0')}Z`;
  }

  /** Runs statements in one source transaction and records it; returns it. */
  async txn(statements: string[]): Promise<FixtureTxn> {
    await this.source.query('BEGIN');
    for (const s of statements) await this.source.query(s);
    await this.source.query('COMMIT');
    return this.record(statements);
  }

  /** Records a transaction without running it (e.g. one the source ran by other means). */
  record(statements: string[]): FixtureTxn {
    this.n += 1;
    const commitLsn = this.baseLsn + BigInt(this.n) * 0x1000n + 0x10n;
    const t: FixtureTxn = { xid: 1000 + this.n, commitLsn, endLsn: commitLsn + 0x30n, commitTime: this.timeOf(this.n), statements };
    this.pending.push(t);
    return t;
  }

  /** Seals what was recorded since the last cut into a segment file. */
  cut(compressed = false): FixtureSegment {
    const txns = this.pending;
    this.pending = [];
    const endLsn = txns.at(-1)?.endLsn ?? this.segmentStart;
    const date = (txns.at(-1)?.commitTime ?? this.timeOf(0)).slice(0, 10);
    const path = segmentPath(this.chainDir, date, this.segmentStart, endLsn, compressed);
    const bytes = renderSegment(this.segmentStart, txns, this.options);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, compressed ? gzipSync(bytes) : bytes);
    const seg = { path, startLsn: this.segmentStart, endLsn, txns };
    this.segments.push(seg);
    this.segmentStart = endLsn;
    return seg;
  }

  get all(): FixtureTxn[] {
    return this.segments.flatMap((s) => s.txns);
  }
}

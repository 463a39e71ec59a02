/**
 * Restore throughput (not a test): the same generated segments applied, in the same run on a
 * throwaway cluster, by pgincr's applier and by plain `psql -f` (one psql per segment, as a
 * manual restore does); both targets must end equal (table checksums).
 *
 *   npm run bench:restore                               # 200k row changes in 20k transactions
 *   npm run bench:restore -- --scale 0.25
 *   npm run bench:restore -- --scale 0.25 --profile     # where the applier's time goes
 *   options: --rows-per-txn 10  --txns-per-segment 2000  --batch-transactions N  --batch-bytes N
 *            --fast-server (fsync and synchronous_commit off; default: a durable server)
 *            --sweep 1,10,100,1000 (batch sizes tried with --profile)
 *            --cases all|synthetic  --pgbench-scale 5  --pgbench-seconds 20  --full-rows 100000  --full-txns 3000
 *            (the real-workload cases of restore-cases.ts: pgbench after setup, a FULL-identity table)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster, type PgCluster } from '../test/helpers/pg-cluster';
import { Recorder } from '../test/helpers/restore-fixture';
import { tableSums } from '../test/helpers/workload';
import { formatLsn, parseLsn } from '../src/core/lsn';
import { applySegments } from '../src/restore/apply-segments';
import { readSegmentFile, verifySegmentFile } from '../src/adapters/fs/segment-files';
import type { ScanResult, ScannedTransaction } from '../src/core/segment/scan';
import { decoderFor } from '../src/restore/text-decoding';
import { TableShapes } from '../src/restore/table-shapes';
import { batchTables, mergeBatch, parseBatch } from '../src/core/restore/merge-changes';
import type { MergedBatch } from '../src/core/restore/merge-sql';
import { queryWithCopies } from '../src/restore/apply-copy';
import { exitOnInterrupt, fmtInt, fmtRatio, loadNote, log, markdownTable, msSince, perSecond } from './bench-util';
import { generateSegments, RESTORE_SCHEMA, type WorkloadCounts } from './restore-workload';
import { fullTableCase, pgbenchCase } from './restore-cases';

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    'rows-per-txn': { type: 'string', default: '10' },
    'txns-per-segment': { type: 'string', default: '2000' },
    'batch-transactions': { type: 'string' },
    'batch-bytes': { type: 'string' },
    'fast-server': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    sweep: { type: 'string', default: '1,10,100,1000,5000' },
    repeat: { type: 'string', default: '1' },
    cases: { type: 'string', default: 'all' },
    'pgbench-scale': { type: 'string', default: '5' },
    'pgbench-seconds': { type: 'string', default: '20' },
    'full-rows': { type: 'string', default: '100000' },
    'full-txns': { type: 'string', default: '3000' },
  },
});

const TRANSACTIONS = Math.max(10, Math.round(20_000 * Number(args.scale)));
const ROWS_PER_TXN = Number(args['rows-per-txn']);
const BASE_LSN = parseLsn('0/3000000');
const SERVER = {
  shared_buffers: '256MB',
  max_wal_size: '8GB',
  checkpoint_timeout: '30min',
  ...(args['fast-server'] ? {} : { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' }),
};

async function newTarget(pg: PgCluster, db: string): Promise<void> {
  await pg.createDatabase(db);
  await pg.query(RESTORE_SCHEMA, [], db);
}

async function applier(pg: PgCluster, db: string, paths: string[], batch: { transactions?: number; bytes?: number } = {}) {
  await newTarget(pg, db);
  const t = process.hrtime.bigint();
  const r = await applySegments({
    profile: pg.profile(db),
    restoreId: db,
    segments: paths,
    stopAt: { kind: 'latest' },
    startLsn: formatLsn(BASE_LSN),
    batchTransactions: batch.transactions,
    batchBytes: batch.bytes,
  });
  return { ms: msSince(t), batches: r.batches, applied: r.appliedTransactions, merged: r.mergedBatches, fallbacks: r.mergeFallbacks };
}

function psqlFiles(pg: PgCluster, db: string, paths: string[]): number {
  const t = process.hrtime.bigint();
  for (const p of paths) {
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', p], { env: { ...process.env, ...pg.env(db) }, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return msSince(t);
}

/** The statements of one transaction: the bytes between its BEGIN and COMMIT marker lines. */
function transactionBody(bytes: Buffer, txn: ScannedTransaction): Buffer {
  const firstNewline = bytes.indexOf(10, txn.byteStart);
  const commitAt = bytes.lastIndexOf('\nCOMMIT; -- xid ', txn.byteEnd - 1, 'latin1');
  if (firstNewline < 0 || commitAt < firstNewline) return Buffer.alloc(0);
  return bytes.subarray(firstNewline + 1, commitAt + 1);
}

/** Where the applier's time goes: verification, reading + decoding, server floor, batch sizes. */
async function profile(pg: PgCluster, paths: string[], counts: WorkloadCounts): Promise<string[][]> {
  const rows: string[][] = [];
  let t = process.hrtime.bigint();
  const verified: { path: string; scan: ScanResult }[] = [];
  for (const path of paths) verified.push({ path, scan: (await verifySegmentFile(path)).scan });
  const verifyMs = msSince(t);
  rows.push(['verify every segment (footer, counts, sha256)', `${verifyMs.toFixed(0)} ms`, '']);
  t = process.hrtime.bigint();
  const bodies: string[] = [];
  for (const { path, scan } of verified) {
    const bytes = await readSegmentFile(path);
    const decode = decoderFor(scan.header.encoding, path);
    for (const txn of scan.transactions) bodies.push(decode(transactionBody(bytes, txn), `xid ${txn.xid}`));
  }
  rows.push(['read + cut + decode every transaction body (in memory)', `${msSince(t).toFixed(0)} ms`, '']);

  // The server's floor: the same statements, 1000 transactions per target transaction, no origin.
  await newTarget(pg, 'floor');
  const c = await pg.connect('floor');
  try {
    await c.query('SET synchronous_commit = off; SET session_replication_role = replica');
    t = process.hrtime.bigint();
    for (let i = 0; i < bodies.length; i += 1000) {
      await c.query(`BEGIN; ${bodies.slice(i, i + 1000).join('')} COMMIT;`);
    }
    const ms = msSince(t);
    rows.push(['server floor: same SQL, 1000 txns per commit, no origin, no verify', `${ms.toFixed(0)} ms`, `${fmtInt(perSecond(counts.changes, ms))} rows/s`]);
    // The applier's set-based rewrite (merge-changes.ts, INSERT runs as COPY): its JS cost, then the server's time for it.
    await c.query('TRUNCATE public.items');
    const shapes = new TableShapes();
    t = process.hrtime.bigint();
    const batches: MergedBatch[] = [];
    for (let i = 0; i < bodies.length; i += 1000) {
      const lines = parseBatch(bodies.slice(i, i + 1000).map((sql) => ({ sql })));
      await shapes.load(c, batchTables(lines));
      batches.push(mergeBatch(lines, (table) => shapes.get(table)));
    }
    rows.push(['parse + rewrite every batch into set-based statements and COPY data (JS)', `${msSince(t).toFixed(0)} ms`, '']);
    t = process.hrtime.bigint();
    for (const b of batches) {
      await c.query('BEGIN');
      await queryWithCopies(c, b.sql, b.copies);
      await c.query('COMMIT');
    }
    const merged = msSince(t);
    if (JSON.stringify(await tableSums(pg, 'floor')) !== JSON.stringify(await tableSums(pg, 'via_applier'))) {
      throw new Error("the rewritten replay differs from the applier's target");
    }
    rows.push([
      'server: the rewritten SQL and COPYs, 1000 txns per commit, no origin',
      `${merged.toFixed(0)} ms`,
      `${fmtInt(perSecond(counts.changes, merged))} rows/s`,
    ]);
  } finally {
    await c.end();
  }
  for (const n of String(args.sweep).split(',').map(Number)) {
    const r = await applier(pg, `sweep_${n}`, paths, { transactions: n, bytes: 256 * 1024 * 1024 });
    rows.push([`applier, batchTransactions ${n} (${r.batches} batches)`, `${r.ms.toFixed(0)} ms`, `${fmtInt(perSecond(counts.changes, r.ms))} rows/s`]);
    log(`sweep ${n}: ${r.ms.toFixed(0)} ms`);
  }
  return rows;
}

async function main(): Promise<void> {
  exitOnInterrupt();
  const pg = await startCluster({ settings: SERVER });
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-bench-restore-'));
  try {
    const recorder = new Recorder(null as never, dir, BASE_LSN);
    const counts = generateSegments(recorder, { transactions: TRANSACTIONS, rowsPerTxn: ROWS_PER_TXN, txnsPerSegment: Number(args['txns-per-segment']) });
    const paths = recorder.segments.map((s) => s.path);
    log(`${fmtInt(counts.changes)} row changes in ${fmtInt(TRANSACTIONS)} transactions, ${paths.length} segments`);

    const batch = {
      transactions: args['batch-transactions'] ? Number(args['batch-transactions']) : undefined,
      bytes: args['batch-bytes'] ? Number(args['batch-bytes']) : undefined,
    };
    // Alternating runs (applier, psql, applier, psql, …) on fresh databases; medians compared.
    const appliers: Awaited<ReturnType<typeof applier>>[] = [];
    const psqls: number[] = [];
    for (let i = 0; i < Number(args.repeat); i++) {
      const suffix = i === 0 ? '' : `_${i}`;
      appliers.push(await applier(pg, `via_applier${suffix}`, paths, batch));
      log(
        `applier: ${appliers[i]!.ms.toFixed(0)} ms, ${appliers[i]!.batches} batches (${appliers[i]!.merged} merged, ${appliers[i]!.fallbacks} merge fallbacks)`,
      );
      await newTarget(pg, `via_psql${suffix}`);
      psqls.push(psqlFiles(pg, `via_psql${suffix}`, paths));
      log(`psql -f: ${psqls[i]!.toFixed(0)} ms`);
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y);
      const mid = Math.floor(s.length / 2);
      return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
    };
    const a = { ms: median(appliers.map((r) => r.ms)), batches: appliers[0]!.batches };
    const psqlMs = median(psqls);

    const [sumA, sumP] = [await tableSums(pg, 'via_applier'), await tableSums(pg, 'via_psql')];
    const equal = JSON.stringify(sumA) === JSON.stringify(sumP);
    const rowsA = Object.values(sumA as Record<string, { rows: string }>)[0]?.rows;
    if (!equal) throw new Error(`targets differ: applier ${JSON.stringify(sumA)} psql ${JSON.stringify(sumP)}`);
    for (let i = 1; i < Number(args.repeat); i++) {
      for (const db of [`via_applier_${i}`, `via_psql_${i}`]) {
        if (JSON.stringify(await tableSums(pg, db)) !== JSON.stringify(sumA)) throw new Error(`${db} differs from via_applier`);
      }
    }
    if (Number(rowsA) !== counts.finalRows) throw new Error(`targets hold ${String(rowsA)} rows, expected ${counts.finalRows}`);

    const secs = (xs: number[]) => `${xs.map((x) => (x / 1000).toFixed(1)).join(' / ')} s${xs.length > 1 ? ' (median used)' : ''}`;
    const rateA = perSecond(counts.changes, a.ms);
    const rateP = perSecond(counts.changes, psqlMs);
    const rows = [
      ['`psql -f` (one psql per segment)', `${fmtInt(rateP)} rows/s`, secs(psqls), 'baseline'],
      [`pgincr applier (${a.batches} batches, verify included)`, `${fmtInt(rateA)} rows/s`, secs(appliers.map((r) => r.ms)), fmtRatio(rateA / rateP)],
    ];
    const out = [
      '',
      `## Restore bench: ${fmtInt(counts.changes)} row changes (${fmtInt(counts.inserts)} inserts, ${fmtInt(counts.updates)} updates, ${fmtInt(counts.deletes)} deletes) in ${fmtInt(TRANSACTIONS)} transactions, ${paths.length} segments`,
      '',
      markdownTable(['replay', 'rows/s', 'time', 'ratio'], rows),
      '',
      `targets equal: yes (${String(rowsA)} rows, content checksums match); ${args['fast-server'] ? 'fsync off' : 'durable'} server; ${loadNote()}`,
    ];
    if (args.profile) {
      out.push('', markdownTable(['applier profile', 'time', 'rate'], await profile(pg, paths, counts)));
    }
    if (args.cases === 'all') {
      const pgb = await pgbenchCase(pg, Number(args['pgbench-scale']), Number(args['pgbench-seconds']));
      const full = await fullTableCase(pg, Number(args['full-rows']), Number(args['full-txns']));
      out.push(
        '',
        "## Real workloads, decoded and rendered as the capture does; every target ends equal to the source (ratio: rows/s over the source's own)",
        '',
        markdownTable(['replay', 'rows/s', 'time', 'ratio'], [...pgb.rows, ...full.rows]),
        '',
        `targets: applier ${fmtRatio(rateA / rateP)} of psql -f (≥ 10x); pgbench FULL restore ${fmtRatio(pgb.ratios.pgbenchFullVsDefault!)} of the DEFAULT one's speed (≥ 0.5x);` +
          ` applier over the source's own rate: pgbench ${fmtRatio(pgb.ratios.pgbenchFullVsSource!)}, FULL table with key ${fmtRatio(full.ratios.fullKeyVsSource!)}, without ${fmtRatio(full.ratios.fullNoKeyVsSource!)} (≥ 0.25x); ${loadNote()}`,
      );
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

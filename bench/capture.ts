/**
 * Capture throughput and overhead (not a test), on a throwaway cluster:
 *
 * 1. A fixed workload (default 1M inserted rows, 200k updates, 100k deletes; int, text,
 *    numeric, timestamptz, jsonb, bytea) is generated on the source after two pgoutput slots
 *    were created at the same point. One is drained by pgincr capture (runCapture into a temp
 *    repository); the other, its twin, is decoded server-side only
 *    (`pg_logical_slot_peek_binary_changes`, the baseline, run before and after the capture).
 *    Printed: changes/s of both and their ratio, peak RSS during capture, bytes per change.
 * 2. pgbench with and without capture streaming, alternating off/on, and the TPS ratio.
 *
 *   npm run bench:capture
 *   npm run bench:capture -- --scale 0.1 --pgbench-seconds 10
 *   npm run bench:capture -- --decoder decoder_raw   # skipped where decoder_raw is not installed
 *   options: --rows-per-txn 100  --compress gzip|none  --pgbench-scale 10  --pgbench-clients 4
 *            --pgbench-rounds 2 (off/on pairs; 0 skips pgbench)  --fast-server (fsync off)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster, type PgCluster } from '../test/helpers/pg-cluster';
import { migrate } from '../src/adapters/pg/migrations';
import { loadCatalog } from '../src/adapters/fs/catalog-store';
import {
  exitOnInterrupt, fmtInt, fmtMiB, fmtRatio, loadNote, log, markdownTable, msSince, perSecond, waitUntil,
} from './bench-util';
import { createSlot, currentLsn, startCaptureRun } from './capture-run';
import { pgbenchRounds, type PgbenchSummary } from './capture-pgbench';

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    'rows-per-txn': { type: 'string', default: '100' },
    compress: { type: 'string', default: 'gzip' },
    decoder: { type: 'string', default: 'pgoutput' },
    'pgbench-seconds': { type: 'string', default: '30' },
    'pgbench-scale': { type: 'string', default: '10' },
    'pgbench-clients': { type: 'string', default: '4' },
    'pgbench-rounds': { type: 'string', default: '2' },
    'fast-server': { type: 'boolean', default: false },
  },
});

const PER_TXN = Number(args['rows-per-txn']);
/** Inserted rows, a multiple of 10 transactions' worth so every update/delete chunk is whole. */
const ROWS = Math.max(10 * PER_TXN, Math.round((1_000_000 * Number(args.scale)) / (10 * PER_TXN)) * 10 * PER_TXN);
const COMPRESS = args.compress === 'none' ? 'none' : 'gzip';

/** Server settings: durable like a real source (fsync on), WAL room so no checkpoint storms. */
const SERVER = {
  shared_buffers: '256MB', max_wal_size: '8GB', checkpoint_timeout: '30min', wal_sender_timeout: '5min',
  ...(args['fast-server'] ? {} : { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' }),
};

const SCHEMA = String.raw`
CREATE TABLE public.bench_t (id bigint PRIMARY KEY, n int NOT NULL, label text, amount numeric(14,2),
  at timestamptz, doc jsonb, raw bytea);
CREATE PROCEDURE public.bench_workload(total bigint, per_txn int) LANGUAGE plpgsql AS $$
DECLARE lo bigint := 0;
BEGIN
  WHILE lo < total LOOP
    INSERT INTO public.bench_t
      SELECT g, g % 1000, 'row ' || g || E' \u00e9 ''q'' \\ x', g * 1.25, timestamptz '2026-01-01 00:00:00+00' + g * interval '1.5 second',
             jsonb_build_object('g', g, 'tags', jsonb_build_array('a', 'b'), 'ok', g % 2 = 0), decode(md5(g::text), 'hex')
        FROM generate_series(lo + 1, lo + per_txn) g;
    COMMIT;
    lo := lo + per_txn;
  END LOOP;
  lo := 0;
  WHILE lo < total LOOP  -- every 5th row updated, per_txn rows per transaction
    UPDATE public.bench_t SET amount = amount + 1, label = label || '!', doc = doc || '{"u": true}'
     WHERE id > lo AND id <= lo + 5 * per_txn AND id % 5 = 0;
    COMMIT;
    lo := lo + 5 * per_txn;
  END LOOP;
  lo := 0;
  WHILE lo < total LOOP  -- every 10th row deleted
    DELETE FROM public.bench_t WHERE id > lo AND id <= lo + 10 * per_txn AND id % 10 = 1;
    COMMIT;
    lo := lo + 10 * per_txn;
  END LOOP;
END $$;
CREATE PUBLICATION pub FOR ALL TABLES;
`;

const PEEK_SQL = `
SELECT count(*)::bigint AS messages,
       count(*) FILTER (WHERE get_byte(data, 0) IN (73, 85, 68))::bigint AS changes,
       count(*) FILTER (WHERE get_byte(data, 0) = 67)::bigint AS commits
  FROM pg_logical_slot_peek_binary_changes('twin', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub')`;

interface Peek { ms: number; changes: number; commits: number; messages: number }

async function peekTwin(pg: PgCluster, db: string): Promise<Peek> {
  const t = process.hrtime.bigint();
  const [r] = await pg.query<{ messages: string; changes: string; commits: string }>(PEEK_SQL, [], db);
  return { ms: msSince(t), messages: Number(r!.messages), changes: Number(r!.changes), commits: Number(r!.commits) };
}

/** True when decoder_raw can be loaded here (a temporary probe slot). */
async function decoderRawInstalled(pg: PgCluster, db: string): Promise<boolean> {
  try {
    await pg.query(`SELECT * FROM pg_create_logical_replication_slot('probe', 'decoder_raw', true)`, [], db);
    return true;
  } catch {
    return false;
  }
}

interface CaptureSummary {
  peek: Peek[];
  captureMs: number;
  drainMs: number;
  changes: number;
  transactions: number;
  peakRss: number;
  rssBefore: number;
  cpuMs: number;
  plainBytes: number;
  gzipBytes: number | null;
  segments: number;
  rawPeek: Peek | null;
}

async function captureBench(pg: PgCluster, rawDecoder: boolean): Promise<CaptureSummary> {
  const db = 'bench';
  await pg.createDatabase(db);
  const c = await pg.connect(db);
  try {
    await migrate(c);
    await c.query(SCHEMA);
  } finally {
    await c.end();
  }
  const baseLsn = await createSlot(pg, db, 'pgincr');
  await createSlot(pg, db, 'twin');
  if (rawDecoder) await createSlot(pg, db, 'twin_raw', 'decoder_raw');

  log(`workload: ${fmtInt(ROWS)} inserts, ${fmtInt(ROWS / 5)} updates, ${fmtInt(ROWS / 10)} deletes, ${PER_TXN} rows per transaction`);
  let t = process.hrtime.bigint();
  await pg.query('CALL public.bench_workload($1, $2)', [ROWS, PER_TXN], db);
  log(`workload generated in ${(msSince(t) / 1000).toFixed(1)} s`);
  const target = await currentLsn(pg, db);

  const peek: Peek[] = [await peekTwin(pg, db)];
  log(`server-side decode (peek 1): ${fmtInt(peek[0]!.changes)} changes in ${peek[0]!.ms.toFixed(0)} ms`);
  let rawPeek: Peek | null = null;
  if (rawDecoder) {
    t = process.hrtime.bigint();
    const [r] = await pg.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM pg_logical_slot_peek_changes('twin_raw', NULL, NULL)`, [], db);
    rawPeek = { ms: msSince(t), messages: Number(r!.n), changes: Number(r!.n), commits: 0 };
  }

  const chainDir = mkdtempSync(join(tmpdir(), 'pgincr-bench-chain-'));
  try {
    const rssBefore = process.memoryUsage().rss;
    const cpu = process.cpuUsage();
    t = process.hrtime.bigint();
    const handle = await startCaptureRun({ pg, db, slot: 'pgincr', publication: 'pub', chainDir, baseLsn, compress: COMPRESS, seal: true });
    let failed: unknown;
    handle.done.catch((e: unknown) => (failed = e));
    await waitUntil('capture to write every workload transaction', () => {
      if (failed) throw failed;
      return handle.last.txns >= peek[0]!.commits || handle.last.lsn >= target;
    }, 30 * 60_000, 20);
    const drainMs = msSince(t);
    const result = await handle.stop();
    const captureMs = msSince(t);
    const used = process.cpuUsage(cpu);
    log(`capture: ${fmtInt(result.changes)} changes in ${captureMs.toFixed(0)} ms (last transaction durable at ${drainMs.toFixed(0)} ms)`);
    if (result.changes !== peek[0]!.changes) {
      throw new Error(`capture wrote ${result.changes} changes, the server decoded ${peek[0]!.changes}`);
    }
    peek.push(await peekTwin(pg, db));
    log(`server-side decode (peek 2): ${peek[1]!.ms.toFixed(0)} ms`);
    const catalog = await loadCatalog(chainDir);
    const segments = catalog?.segments ?? [];
    // The plain size of what was written: the sealed files, uncompressed.
    const plainBytes = segments.reduce((n, seg) => {
      const bytes = readFileSync(join(chainDir, seg.file));
      return n + (seg.compressed ? gunzipSync(bytes).length : bytes.length);
    }, 0);
    return {
      peek, captureMs, drainMs, changes: result.changes, transactions: result.transactions, peakRss: handle.peakRss, rssBefore,
      cpuMs: (used.user + used.system) / 1000, plainBytes,
      gzipBytes: COMPRESS === 'gzip' ? segments.reduce((n, s) => n + s.bytes, 0) : null, segments: segments.length, rawPeek,
    };
  } finally {
    rmSync(chainDir, { recursive: true, force: true });
    await pg.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [db]);
  }
}

function report(s: CaptureSummary, pgb: PgbenchSummary | null, decoderNote: string | null): string {
  const peekMs = s.peek.reduce((n, p) => n + p.ms, 0) / s.peek.length;
  const rawRate = perSecond(s.changes, peekMs);
  const capRate = perSecond(s.changes, s.captureMs);
  const rows: string[][] = [
    ['server-side pgoutput decode (peek, mean of 2)', `${fmtInt(rawRate)} changes/s`, `${s.peek.map((p) => (p.ms / 1000).toFixed(1)).join(' / ')} s`, 'baseline'],
    ['pgincr capture (stream, render, fsync per commit, seal)', `${fmtInt(capRate)} changes/s`, `${(s.captureMs / 1000).toFixed(1)} s`, fmtRatio(capRate / rawRate)],
  ];
  if (s.rawPeek) rows.push(['server-side decoder_raw decode (peek)', `${fmtInt(perSecond(s.changes, s.rawPeek.ms))} changes/s`, `${(s.rawPeek.ms / 1000).toFixed(1)} s`, fmtRatio(peekMs / s.rawPeek.ms)]);
  rows.push(
    ['capture peak RSS (process)', fmtMiB(s.peakRss), `before: ${fmtMiB(s.rssBefore)}`, ''],
    ['capture CPU time (this process)', `${((s.cpuMs * 1000) / s.changes).toFixed(1)} µs/change`, `${(s.cpuMs / 1000).toFixed(1)} s`, ''],
    ['bytes per change, plain SQL', (s.plainBytes / s.changes).toFixed(1), fmtMiB(s.plainBytes), ''],
  );
  if (s.gzipBytes !== null) rows.push(['bytes per change, gzip', (s.gzipBytes / s.changes).toFixed(1), `${fmtMiB(s.gzipBytes)} in ${s.segments} segments`, fmtRatio(s.plainBytes / s.gzipBytes)]);
  if (pgb) {
    rows.push(
      [`pgbench TPS, capture off (${pgb.off.length} runs)`, pgb.off.map((x) => x.tps.toFixed(0)).join(' / '), `mean ${pgb.offMean.toFixed(0)}`, 'baseline'],
      [`pgbench TPS, capture on (${pgb.on.length} runs)`, pgb.on.map((x) => x.tps.toFixed(0)).join(' / '), `mean ${pgb.onMean.toFixed(0)}`, fmtRatio(pgb.onMean / pgb.offMean)],
      ['capture in the on rounds', `${fmtInt(pgb.capturedChanges)} changes written`, `after pgbench ended, caught up within ${(pgb.maxCatchUpMs / 1000).toFixed(1)} s`, ''],
    );
  }
  const lines = [
    '',
    `## Capture bench: ${fmtInt(ROWS)} inserts + ${fmtInt(ROWS / 5)} updates + ${fmtInt(ROWS / 10)} deletes = ${fmtInt(s.changes)} changes in ${fmtInt(s.transactions)} transactions (${PER_TXN} rows each), compress ${COMPRESS}`,
    '',
    markdownTable(['measure', 'value', 'detail', 'ratio'], rows),
    '',
  ];
  if (decoderNote) lines.push(decoderNote, '');
  lines.push(`${loadNote()} at the end, ${args['fast-server'] ? 'fsync off' : 'fsync on'} server`);
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  exitOnInterrupt();
  const pg = await startCluster({ settings: SERVER });
  try {
    let decoderNote: string | null = null;
    let rawDecoder = false;
    if (args.decoder === 'decoder_raw') {
      await pg.createDatabase('probe');
      rawDecoder = await decoderRawInstalled(pg, 'probe');
      if (!rawDecoder) {
        decoderNote = 'decoder_raw: not installed on this server (skipped)';
        process.stdout.write(`${decoderNote}\n`);
      }
    } else if (args.decoder !== 'pgoutput') {
      throw new Error(`--decoder ${args.decoder}: use pgoutput or decoder_raw`);
    }
    const summary = await captureBench(pg, rawDecoder);
    const rounds = Number(args['pgbench-rounds']);
    const pgb = rounds > 0
      ? await pgbenchRounds(pg, {
        rounds, seconds: Number(args['pgbench-seconds']), scale: Number(args['pgbench-scale']), clients: Number(args['pgbench-clients']), compress: COMPRESS,
      })
      : null;
    process.stdout.write(report(summary, pgb, decoderNote));
  } finally {
    await pg.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

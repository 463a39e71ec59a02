/**
 * Capture throughput and overhead (not a test), on a throwaway cluster:
 *
 * 1. A fixed workload (default 1M inserted rows, 200k updates, 100k deletes; int, text,
 *    numeric, timestamptz, jsonb, bytea) is generated on the source after two pgoutput slots
 *    were created at the same point. One is drained by pgincr capture (runCapture into a temp
 *    repository); the other, its twin, is decoded server-side only
 *    (`pg_logical_slot_peek_binary_changes`, the baseline, run before and after the capture).
 *    The capture runs in a child process from compiled JavaScript (bench/capture-child.ts), so
 *    its peak RSS (ru_maxrss) and CPU time are its own. Printed: changes/s of both and their
 *    ratio (drained: every change durable; and with the final seal), peak RSS, CPU per change
 *    of the capture and of the walsender, bytes per change.
 *    With `--decoder decoder_raw` (where installed): its trigger is on the tables before the
 *    workload, two decoder_raw slots are created at the same point too; one is peeked, the
 *    other drained by pgincr's raw capture (runRawCapture: pg_recvlogical + post-processing)
 *    after the pgoutput capture, on the same workload; its numbers print beside pgoutput's.
 *    Two protocol ceilings drain twin slots too: pg_recvlogical (C) into /dev/null, and a Node
 *    client on our receive path that counts and acknowledges every message and writes nothing.
 *    No client of the walsender can drain faster than these on the same machine.
 * 2. pgbench with and without capture streaming, alternating off/on/ceiling (pg_recvlogical into
 *    /dev/null), and the TPS ratios (with decoder_raw: again on a second database with its
 *    triggers and a decoder_raw capture).
 *
 *   npm run bench:capture
 *   npm run bench:capture -- --scale 0.1 --pgbench-seconds 10
 *   npm run bench:capture -- --decoder decoder_raw   # skipped where decoder_raw is not installed
 *   options: --rows-per-txn 100  --compress gzip|none  --pgbench-scale 10  --pgbench-clients 4
 *            --pgbench-rounds 2 (off/on pairs; 0 skips pgbench)  --fast-server (fsync off)
 *   PGINCR_BENCH_CHILD_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the capture child.
 */
import { parseArgs } from 'node:util';
import { startCluster, type PgCluster } from '../test/helpers/pg-cluster';
import { migrate } from '../src/adapters/pg/migrations';
import { decoderRawAvailable, ensureRawCaptureObjects } from '../src/adapters/pg/raw-capture-objects';
import { exitOnInterrupt, fmtInt, fmtMiB, fmtRatio, loadNote, log, markdownTable, msSince, perSecond, waitUntil } from './bench-util';
import { createSlot, currentLsn } from './capture-run';
import { measureCapture, type CaptureMeasure } from './capture-measure';
import { measureRecvlogicalCeiling, type CeilingMeasure } from './capture-ceiling';
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
  shared_buffers: '256MB',
  max_wal_size: '8GB',
  checkpoint_timeout: '30min',
  wal_sender_timeout: '5min',
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

interface Peek {
  ms: number;
  changes: number;
  commits: number;
  messages: number;
}

async function peekTwin(pg: PgCluster, db: string): Promise<Peek> {
  const t = process.hrtime.bigint();
  const [r] = await pg.query<{ messages: string; changes: string; commits: string }>(PEEK_SQL, [], db);
  return { ms: msSince(t), messages: Number(r!.messages), changes: Number(r!.changes), commits: Number(r!.commits) };
}

/**
 * Allow-lists decoder_raw where the server has output_plugin_libraries (PostgreSQL 15.19+
 * refuses an unlisted plugin), then asks whether it can be used here.
 */
async function decoderRawUsable(pg: PgCluster, db: string): Promise<{ available: boolean; reason?: string }> {
  if ((await pg.query(`SELECT 1 FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'`)).length > 0) {
    await pg.query(`ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding', 'decoder_raw'`);
    await pg.query('SELECT pg_catalog.pg_reload_conf()');
    await waitUntil(
      'output_plugin_libraries to take decoder_raw',
      async () =>
        (await pg.query<{ s: string }>(`SELECT setting AS s FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'`))[0]!.s.includes('decoder_raw'),
      10_000,
    );
  }
  return decoderRawAvailable(pg.profile(db));
}

interface CaptureSummary {
  peek: Peek[];
  /** The protocol ceiling: a client that receives and acknowledges, nothing more. */
  discard: CaptureMeasure;
  /** The same ceiling with PostgreSQL's own C client. */
  recvlogical: CeilingMeasure;
  pgoutput: CaptureMeasure;
  raw: CaptureMeasure | null;
  rawPeek: Peek | null;
}

async function captureBench(pg: PgCluster, rawDecoder: boolean): Promise<CaptureSummary> {
  const db = 'bench';
  await pg.createDatabase(db);
  const c = await pg.connect(db);
  try {
    await migrate(c);
    await c.query(SCHEMA);
    // decoder_raw needs its trigger on the tables before the workload (xid and TRUNCATE markers):
    // the same workload, triggers included, is decoded by both.
    if (rawDecoder) await ensureRawCaptureObjects(c);
  } finally {
    await c.end();
  }
  // Every slot at the same point, before the workload.
  const baseLsn = await createSlot(pg, db, 'pgincr');
  await createSlot(pg, db, 'twin');
  const discardBaseLsn = await createSlot(pg, db, 'discard');
  await createSlot(pg, db, 'recvlogical');
  const rawBaseLsn = rawDecoder ? await createSlot(pg, db, 'pgincr_raw', 'decoder_raw') : null;
  if (rawDecoder) await createSlot(pg, db, 'twin_raw', 'decoder_raw');

  log(`workload: ${fmtInt(ROWS)} inserts, ${fmtInt(ROWS / 5)} updates, ${fmtInt(ROWS / 10)} deletes, ${PER_TXN} rows per transaction`);
  let t = process.hrtime.bigint();
  await pg.query('CALL public.bench_workload($1, $2)', [ROWS, PER_TXN], db);
  log(`workload generated in ${(msSince(t) / 1000).toFixed(1)} s`);
  const target = await currentLsn(pg, db);
  // decoder_raw's trigger rows (one per transaction) are changes to the server, nothing to pgincr.
  const markerRows = rawDecoder ? Number((await pg.query<{ n: string }>('SELECT count(*)::bigint AS n FROM pgincr.raw_transactions', [], db))[0]!.n) : 0;

  const peek: Peek[] = [await peekTwin(pg, db)];
  log(`server-side decode (peek 1): ${fmtInt(peek[0]!.changes)} changes in ${peek[0]!.ms.toFixed(0)} ms`);
  let rawPeek: Peek | null = null;
  if (rawDecoder) {
    t = process.hrtime.bigint();
    const [r] = await pg.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM pg_logical_slot_peek_changes('twin_raw', NULL, NULL)`, [], db);
    rawPeek = { ms: msSince(t), messages: Number(r!.n), changes: Number(r!.n), commits: 0 };
  }

  try {
    const expected = peek[0]!.changes - markerRows;
    const commits = peek[0]!.commits;
    const discard = await measureCapture({ pg, db, slot: 'discard', decoder: 'discard', baseLsn: discardBaseLsn, compress: COMPRESS, commits, target });
    if (discard.changes !== peek[0]!.changes)
      throw new Error(`the discarding client received ${discard.changes} changes, the server decoded ${peek[0]!.changes}`);
    const recvlogical = await measureRecvlogicalCeiling({ pg, db, slot: 'recvlogical', target });
    log(`pg_recvlogical (pgoutput → /dev/null): every change sent in ${recvlogical.ms.toFixed(0)} ms`);
    const pgoutput = await measureCapture({ pg, db, slot: 'pgincr', decoder: 'pgoutput', baseLsn, compress: COMPRESS, commits, target });
    if (pgoutput.changes !== expected) throw new Error(`capture wrote ${pgoutput.changes} changes, the server decoded ${expected}`);
    peek.push(await peekTwin(pg, db));
    log(`server-side decode (peek 2): ${peek[1]!.ms.toFixed(0)} ms`);
    let raw: CaptureMeasure | null = null;
    if (rawBaseLsn !== null) {
      raw = await measureCapture({ pg, db, slot: 'pgincr_raw', decoder: 'decoder_raw', baseLsn: rawBaseLsn, compress: COMPRESS, commits });
      if (raw.changes !== expected) throw new Error(`decoder_raw capture wrote ${raw.changes} changes, pgoutput ${expected}`);
    }
    return { peek, discard, recvlogical, pgoutput, raw, rawPeek };
  } finally {
    await pg.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, [db]);
  }
}

function captureRows(m: CaptureMeasure, baseRate: number, label: string): string[][] {
  const drained = perSecond(m.changes, m.drainMs);
  const sealed = perSecond(m.changes, m.captureMs);
  const rows: string[][] = [
    [
      `pgincr capture, ${label}: drained (every change durable)`,
      `${fmtInt(drained)} changes/s`,
      `${(m.drainMs / 1000).toFixed(1)} s`,
      fmtRatio(drained / baseRate),
    ],
    [
      `… including the final stop + seal (${m.gzipBytes === null ? 'no compression' : 'gzip'})`,
      `${fmtInt(sealed)} changes/s`,
      `${(m.captureMs / 1000).toFixed(1)} s (seal ${((m.captureMs - m.drainMs) / 1000).toFixed(1)} s)`,
      fmtRatio(sealed / baseRate),
    ],
    [`capture peak RSS, ${m.decoder}`, fmtMiB(m.peakRss), 'child process (compiled JS), ru_maxrss', ''],
  ];
  if (m.decoder === 'decoder_raw')
    rows.push(['pg_recvlogical peak RSS', fmtMiB(m.recvlogical.peakRss), `CPU ${(m.recvlogical.cpuMs / 1000).toFixed(1)} s`, '']);
  rows.push(
    [
      `capture CPU time, ${m.decoder} (child process, all threads, and its children: gzip${m.decoder === 'decoder_raw' ? ', pg_recvlogical' : ''})`,
      `${((m.cpuMs * 1000) / m.changes).toFixed(1)} µs/change`,
      `${(m.cpuMs / 1000).toFixed(1)} s`,
      '',
    ],
    [
      `walsender CPU time while draining, ${m.decoder}`,
      `${((m.walsenderCpuMs * 1000) / m.changes).toFixed(1)} µs/change`,
      `${(m.walsenderCpuMs / 1000).toFixed(1)} s of ${(m.drainMs / 1000).toFixed(1)} s`,
      '',
    ],
    [`bytes per change, plain SQL, ${m.decoder}`, (m.plainBytes / m.changes).toFixed(1), fmtMiB(m.plainBytes), ''],
  );
  if (m.gzipBytes !== null)
    rows.push([
      `bytes per change, gzip, ${m.decoder}`,
      (m.gzipBytes / m.changes).toFixed(1),
      `${fmtMiB(m.gzipBytes)} in ${m.segments} segments`,
      fmtRatio(m.plainBytes / m.gzipBytes),
    ]);
  return rows;
}

function pgbenchRows(pgb: PgbenchSummary, label: string, baselineTps: number): string[][] {
  const raw = label === 'decoder_raw';
  return [
    [
      `pgbench TPS, ${raw ? 'decoder_raw triggers, ' : ''}capture off (${pgb.off.length} runs)`,
      pgb.off.map((x) => x.tps.toFixed(0)).join(' / '),
      `mean ${pgb.offMean.toFixed(0)}`,
      raw ? fmtRatio(pgb.offMean / baselineTps) : 'baseline',
    ],
    [
      `pgbench TPS, ${label} capture on (${pgb.on.length} runs)`,
      pgb.on.map((x) => x.tps.toFixed(0)).join(' / '),
      `mean ${pgb.onMean.toFixed(0)}`,
      fmtRatio(pgb.onMean / baselineTps),
    ],
    ...(pgb.ceiling.length > 0
      ? [
          [
            `pgbench TPS, pg_recvlogical streaming into /dev/null (${pgb.ceiling.length} runs, protocol ceiling)`,
            pgb.ceiling.map((x) => x.tps.toFixed(0)).join(' / '),
            `mean ${pgb.ceilingMean.toFixed(0)}`,
            fmtRatio(pgb.ceilingMean / baselineTps),
          ],
        ]
      : []),
    [
      `${label} capture in the on rounds`,
      `${fmtInt(pgb.capturedChanges)} changes written`,
      `after pgbench ended, caught up within ${(pgb.maxCatchUpMs / 1000).toFixed(1)} s`,
      '',
    ],
  ];
}

function report(s: CaptureSummary, pgb: PgbenchSummary | null, rawPgb: PgbenchSummary | null, decoderNote: string | null): string {
  const changes = s.pgoutput.changes;
  const peekMs = s.peek.reduce((n, p) => n + p.ms, 0) / s.peek.length;
  const baseRate = perSecond(changes, peekMs);
  const rows: string[][] = [
    [
      'server-side pgoutput decode (peek, mean of 2)',
      `${fmtInt(baseRate)} changes/s`,
      `${s.peek.map((p) => (p.ms / 1000).toFixed(1)).join(' / ')} s`,
      'baseline',
    ],
  ];
  const ceiling = perSecond(s.discard.changes, s.discard.drainMs);
  const cRate = perSecond(changes, s.recvlogical.ms);
  const perChange = (ms: number) => `${((ms * 1000) / changes).toFixed(1)} µs/change`;
  rows.push(
    [
      'protocol ceiling, C: pg_recvlogical streams the slot into /dev/null',
      `${fmtInt(cRate)} changes/s`,
      `walsender ${perChange(s.recvlogical.walsenderCpuMs)}, client ${perChange(s.recvlogical.clientCpuMs)}`,
      fmtRatio(cRate / baseRate),
    ],
    [
      'protocol ceiling, Node: our receive path, every message counted and acknowledged, nothing written',
      `${fmtInt(ceiling)} changes/s`,
      `walsender ${perChange(s.discard.walsenderCpuMs)}, client ${perChange(s.discard.cpuMs)}`,
      fmtRatio(ceiling / baseRate),
    ],
  );
  if (s.rawPeek)
    rows.push([
      'server-side decoder_raw decode (peek)',
      `${fmtInt(perSecond(changes, s.rawPeek.ms))} changes/s`,
      `${(s.rawPeek.ms / 1000).toFixed(1)} s`,
      fmtRatio(peekMs / s.rawPeek.ms),
    ]);
  rows.push(...captureRows(s.pgoutput, baseRate, 'pgoutput (stream, render, fsync per commit, seal)'));
  rows.push([
    'pgincr capture (drained) vs the protocol ceilings',
    `${fmtRatio(perSecond(changes, s.pgoutput.drainMs) / cRate)} of C`,
    `${fmtRatio(perSecond(changes, s.pgoutput.drainMs) / ceiling)} of Node`,
    '',
  ]);
  if (s.raw) {
    rows.push(...captureRows(s.raw, baseRate, 'decoder_raw (pg_recvlogical, 2 s rotation, parse, repair, render, seal)'));
    rows.push([
      'decoder_raw capture vs pgoutput capture',
      `${fmtRatio(s.pgoutput.captureMs / s.raw.captureMs)} the rate`,
      `peak RSS ${fmtRatio((s.raw.peakRss + s.raw.recvlogical.peakRss) / s.pgoutput.peakRss)} (with pg_recvlogical)`,
      '',
    ]);
  }
  if (pgb) rows.push(...pgbenchRows(pgb, 'pgoutput', pgb.offMean));
  if (pgb && rawPgb) rows.push(...pgbenchRows(rawPgb, 'decoder_raw', pgb.offMean));
  const lines = [
    '',
    `## Capture bench: ${fmtInt(ROWS)} inserts + ${fmtInt(ROWS / 5)} updates + ${fmtInt(ROWS / 10)} deletes = ${fmtInt(changes)} changes in ${fmtInt(s.pgoutput.transactions)} transactions (${PER_TXN} rows each), compress ${COMPRESS}`,
    '',
    markdownTable(['measure', 'value', 'detail', 'ratio'], rows),
    '',
  ];
  if (s.raw)
    lines.push(
      'decoder_raw: the workload ran with its trigger (one pgincr.raw_transactions row per transaction) for both decoders; ratios against the pgoutput baselines.',
      '',
    );
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
      const probe = await decoderRawUsable(pg, 'probe');
      rawDecoder = probe.available;
      if (!rawDecoder) {
        decoderNote = `decoder_raw: not usable on this server (skipped): ${probe.reason ?? 'unknown reason'}`;
        process.stdout.write(`${decoderNote}\n`);
      }
    } else if (args.decoder !== 'pgoutput') {
      throw new Error(`--decoder ${args.decoder}: use pgoutput or decoder_raw`);
    }
    const summary = await captureBench(pg, rawDecoder);
    const rounds = Number(args['pgbench-rounds']);
    const pgbOptions = {
      rounds,
      seconds: Number(args['pgbench-seconds']),
      scale: Number(args['pgbench-scale']),
      clients: Number(args['pgbench-clients']),
      compress: COMPRESS,
    } as const;
    const pgb = rounds > 0 ? await pgbenchRounds(pg, { ...pgbOptions, decoder: 'pgoutput' }) : null;
    const rawPgb = rounds > 0 && rawDecoder ? await pgbenchRounds(pg, { ...pgbOptions, decoder: 'decoder_raw' }) : null;
    process.stdout.write(report(summary, pgb, rawPgb, decoderNote));
  } finally {
    await pg.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

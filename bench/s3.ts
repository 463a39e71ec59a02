/**
 * S3 repository throughput (not a test), against Versity's S3 gateway on loopback (the test
 * server, test/helpers/s3-server.ts; its posix backend on the same disk as the local copies):
 *
 * 1. Files: the same files (random bytes: nothing compresses them) uploaded with pgincr's own
 *    upload (ObjectStore.putFile: SHA-256 per part checked by the server, then a HEAD compared
 *    with the file), downloaded with its download (ObjectStore.downloadFile: SHA-256 checked,
 *    temp name then rename), and copied on the local disk (copyFile + fsync, what a local
 *    repository costs). Two sizes: 1 MiB files (small segments) and 32 MiB files (large segments,
 *    base dumps: multipart, 8 MiB parts), one at a time as the capture uploads them. MiB/s and
 *    the ratios to the local copy.
 * 2. Capture: one workload (INSERTs of 100 rows per transaction, text and numbers) after two
 *    pgoutput slots were created at the same point; one drained by a capture into a local
 *    repository, the other by a capture with the S3 repository (each sealed segment uploaded and
 *    the slot acknowledged only past it), both with 8 MiB segments and gzip, in a child process
 *    (bench/capture-child.ts). Drain: every workload transaction durable on the local disk;
 *    in the repository: sealed and (S3) uploaded. Changes/s of both and the S3/local ratio.
 *
 * Runs everything `--runs` times (default 3) and prints one row per run and the spread.
 *
 *   npm run bench:s3
 *   npm run bench:s3 -- --runs 1 --mib 64 --rows 100000
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster, type PgCluster } from '../test/helpers/pg-cluster';
import { startS3Server, type S3TestServer } from '../test/helpers/s3-server';
import { ObjectStore } from '../src/adapters/s3/object-store';
import { exitOnInterrupt, fmtInt, fmtRatio, loadNote, log, markdownTable, msSince } from './bench-util';
import { createSlot, currentLsn } from './capture-run';
import { measureCapture, type CaptureMeasure } from './capture-measure';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    mib: { type: 'string', default: '256' },
    rows: { type: 'string', default: '300000' },
  },
});
const RUNS = Number(args.runs);
const MIB = Number(args.mib);
const ROWS = Math.max(1000, Math.round(Number(args.rows) / 1000) * 1000);
const PER_TXN = 100;
const SEGMENT_BYTES = 8 * 1024 * 1024;

const SCHEMA = String.raw`
CREATE TABLE public.bench_s3 (id bigint PRIMARY KEY, n int NOT NULL, label text, amount numeric(14,2), at timestamptz);
CREATE PUBLICATION pub FOR ALL TABLES;
CREATE PROCEDURE public.bench_s3_workload(first bigint, total bigint, per_txn int) LANGUAGE plpgsql AS $$
DECLARE lo bigint := first;
BEGIN
  WHILE lo < first + total LOOP
    INSERT INTO public.bench_s3
      SELECT g, g % 1000, 'row ' || g || ' ' || md5(g::text), g * 1.25, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
        FROM generate_series(lo + 1, lo + per_txn) g;
    COMMIT;
    lo := lo + per_txn;
  END LOOP;
END $$;`;

interface FileRun {
  size: string;
  files: number;
  bytes: number;
  uploadMs: number;
  downloadMs: number;
  copyMs: number;
}

const mibPerS = (bytes: number, ms: number) => bytes / 1024 / 1024 / (ms / 1000);

async function fsyncFile(path: string): Promise<void> {
  const f = await open(path, 'r+');
  try {
    await f.sync();
  } finally {
    await f.close();
  }
}

/** Upload, download and local copy of `count` files of `bytes` each. */
async function measureFiles(store: ObjectStore, work: string, label: string, count: number, bytes: number, run: number): Promise<FileRun> {
  const src = join(work, `src-${label}`);
  const copies = join(work, `copy-${label}`);
  const back = join(work, `back-${label}`);
  for (const d of [src, copies, back]) mkdirSync(d, { recursive: true });
  const names = Array.from({ length: count }, (_, i) => `f${String(i).padStart(4, '0')}`);
  for (const n of names) writeFileSync(join(src, n), randomBytes(bytes));
  const prefix = `bench-run${run}/${label}`;
  let t = process.hrtime.bigint();
  for (const n of names) {
    await copyFile(join(src, n), join(copies, n));
    await fsyncFile(join(copies, n));
  }
  const copyMs = msSince(t);
  t = process.hrtime.bigint();
  for (const n of names) await store.putFile(`${prefix}/${n}`, join(src, n));
  const uploadMs = msSince(t);
  t = process.hrtime.bigint();
  for (const n of names) await store.downloadFile(`${prefix}/${n}`, join(back, n));
  const downloadMs = msSince(t);
  for (const n of names) await store.delete(`${prefix}/${n}`);
  for (const d of [src, copies, back]) rmSync(d, { recursive: true, force: true });
  const r = { size: label, files: count, bytes: count * bytes, uploadMs, downloadMs, copyMs };
  log(
    `run ${run} ${label}: upload ${mibPerS(r.bytes, uploadMs).toFixed(0)} MiB/s, download ${mibPerS(r.bytes, downloadMs).toFixed(0)} MiB/s, local copy ${mibPerS(r.bytes, copyMs).toFixed(0)} MiB/s`,
  );
  return r;
}

interface CaptureRun {
  local: CaptureMeasure;
  s3: CaptureMeasure;
}

async function measureCaptures(pg: PgCluster, s3: S3TestServer, run: number): Promise<CaptureRun> {
  const base = await createSlot(pg, 'app', `local_${run}`);
  await createSlot(pg, 'app', `s3_${run}`);
  const t = process.hrtime.bigint();
  await pg.query('CALL public.bench_s3_workload($1, $2, $3)', [(run - 1) * ROWS, ROWS, PER_TXN], 'app');
  const target = await currentLsn(pg, 'app');
  log(`run ${run}: workload of ${fmtInt(ROWS)} rows in ${(msSince(t) / 1000).toFixed(1)} s`);
  const common = {
    pg,
    db: 'app',
    decoder: 'pgoutput' as const,
    baseLsn: base,
    compress: 'gzip' as const,
    commits: ROWS / PER_TXN,
    target,
    segmentMaxBytes: SEGMENT_BYTES,
  };
  const local = await measureCapture({ ...common, slot: `local_${run}` });
  const remote = await measureCapture({
    ...common,
    slot: `s3_${run}`,
    objectStore: { bucket: s3.bucket, prefix: `bench-capture-run${run}`, endpoint: s3.endpoint, forcePathStyle: true },
  });
  for (const slot of [`local_${run}`, `s3_${run}`]) await pg.query('SELECT pg_drop_replication_slot($1)', [slot], 'app');
  return { local, s3: remote };
}

const perS = (m: CaptureMeasure, ms: number) => m.changes / (ms / 1000);
const spread = (xs: number[], fmt: (x: number) => string) => (xs.length > 1 ? `${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))}` : fmt(xs[0]!));

async function main(): Promise<void> {
  exitOnInterrupt();
  const s3 = await startS3Server({ bucket: 'pgincr-bench' });
  Object.assign(process.env, s3.env); // the capture child takes its credentials from the AWS environment, as a worker does
  const pg = await startCluster({ settings: { shared_buffers: '256MB', max_wal_size: '4GB', fsync: 'on', synchronous_commit: 'on' } });
  const work = mkdtempSync(join(tmpdir(), 'pgincr-bench-s3-'));
  try {
    await pg.createDatabase('app');
    await pg.query(SCHEMA, [], 'app');
    const store = new ObjectStore({ bucket: s3.bucket, prefix: 'bench', endpoint: s3.endpoint, forcePathStyle: true });
    const files: FileRun[][] = [];
    const captures: CaptureRun[] = [];
    for (let run = 1; run <= RUNS; run++) {
      log(`run ${run} of ${RUNS} (${loadNote()})`);
      const half = (MIB / 2) * 1024 * 1024;
      files.push([
        await measureFiles(store, work, '1 MiB files', Math.max(1, Math.round(half / (1024 * 1024))), 1024 * 1024, run),
        await measureFiles(store, work, '32 MiB files', Math.max(1, Math.round(half / (32 * 1024 * 1024))), 32 * 1024 * 1024, run),
      ]);
      captures.push(await measureCaptures(pg, s3, run));
    }
    store.client.destroy();

    const rows: string[][] = [];
    for (let i = 0; i < files[0]!.length; i++) {
      const per = files.map((r) => r[i]!);
      const up = per.map((r) => mibPerS(r.bytes, r.uploadMs));
      const down = per.map((r) => mibPerS(r.bytes, r.downloadMs));
      const copy = per.map((r) => mibPerS(r.bytes, r.copyMs));
      const f = (x: number) => x.toFixed(0);
      rows.push([
        `${per[0]!.files} × ${per[0]!.size} (${(per[0]!.bytes / 1024 / 1024).toFixed(0)} MiB)`,
        up.map(f).join(' / '),
        down.map(f).join(' / '),
        copy.map(f).join(' / '),
        spread(
          up.map((u, k) => u / copy[k]!),
          (x) => fmtRatio(x),
        ),
        spread(
          down.map((d, k) => d / copy[k]!),
          (x) => fmtRatio(x),
        ),
      ]);
    }
    const changes = captures[0]!.local.changes;
    const localPerS = captures.map((c) => perS(c.local, c.local.captureMs));
    const s3PerS = captures.map((c) => perS(c.s3, c.s3.captureMs));
    const localDrain = captures.map((c) => perS(c.local, c.local.drainMs));
    const s3Drain = captures.map((c) => perS(c.s3, c.s3.drainMs));
    const capRows = [
      [
        'durable on the local disk (drain)',
        localDrain.map(fmtInt).join(' / '),
        s3Drain.map(fmtInt).join(' / '),
        spread(
          s3Drain.map((s, k) => s / localDrain[k]!),
          fmtRatio,
        ),
      ],
      [
        'in the repository (sealed; S3: uploaded)',
        localPerS.map(fmtInt).join(' / '),
        s3PerS.map(fmtInt).join(' / '),
        spread(
          s3PerS.map((s, k) => s / localPerS[k]!),
          fmtRatio,
        ),
      ],
    ];
    process.stdout.write(
      `\nFiles, MiB/s per run (${RUNS} runs; pgincr's upload and download to versitygw on loopback vs copyFile + fsync on the same disk):\n\n` +
        `${markdownTable(['files', 'upload MiB/s', 'download MiB/s', 'local copy MiB/s', 'upload / local', 'download / local'], rows)}\n\n` +
        `Capture of ${fmtInt(changes)} inserted rows (${fmtInt(changes / PER_TXN)} transactions), changes/s per run, 8 MiB segments, gzip:\n\n` +
        `${markdownTable(['capture', 'local repository', 'S3 repository', 'S3 / local'], capRows)}\n\n${loadNote()}\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
    await pg.stop();
    await s3.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

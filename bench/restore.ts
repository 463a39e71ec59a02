/**
 * Restore throughput: the same generated segments applied by pgincr's applier and by plain
 * `psql -f`, in the same run, on a throwaway cluster. Not a test.
 *
 *   npm run bench:restore                  # 200k rows
 *   BENCH_ROWS=50000 npm run bench:restore
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../test/helpers/pg-cluster';
import { Recorder } from '../test/helpers/restore-fixture';
import { formatLsn, parseLsn } from '../src/core/lsn';
import { applySegments } from '../src/restore/apply-segments';

const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const ROWS_PER_TXN = Number(process.env.BENCH_ROWS_PER_TXN ?? 10);
const TXNS_PER_SEGMENT = 2000;
const SCHEMA = `CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL, qty int, price numeric, tags text[],
  created timestamptz)`;

function generate(recorder: Recorder): void {
  let id = 0;
  let txns = 0;
  while (id < ROWS) {
    const statements: string[] = [];
    for (let i = 0; i < ROWS_PER_TXN && id < ROWS; i++) {
      id += 1;
      statements.push(`INSERT INTO public.items (id, name, qty, price, tags, created) VALUES ('${id}', 'item ${id} ✓', '${id % 97}', '${id}.25', '{a,"b c"}', '2026-01-01 00:00:00+00');`);
    }
    recorder.record(statements);
    if (++txns % TXNS_PER_SEGMENT === 0) recorder.cut(false);
  }
  recorder.cut(false);
}

async function main(): Promise<void> {
  const pg = await startCluster({ settings: { fsync: 'off', synchronous_commit: 'off' } });
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-bench-restore-'));
  try {
    const baseLsn = parseLsn('0/3000000');
    const recorder = new Recorder(null as never, dir, baseLsn);
    generate(recorder);
    const paths = recorder.segments.map((s) => s.path);
    for (const db of ['via_applier', 'via_psql']) {
      await pg.createDatabase(db);
      await pg.query(SCHEMA, [], db);
    }

    let t = process.hrtime.bigint();
    const r = await applySegments({
      profile: pg.profile('via_applier'), restoreId: 'bench', segments: paths, stopAt: { kind: 'latest' }, startLsn: formatLsn(baseLsn),
    });
    const applierMs = Number(process.hrtime.bigint() - t) / 1e6;

    t = process.hrtime.bigint();
    for (const p of paths) {
      execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', p], { env: { ...process.env, ...pg.env('via_psql') }, stdio: ['ignore', 'ignore', 'inherit'] });
    }
    const psqlMs = Number(process.hrtime.bigint() - t) / 1e6;

    for (const db of ['via_applier', 'via_psql']) {
      const [c] = await pg.query<{ n: string }>('SELECT count(*) AS n FROM public.items', [], db);
      if (Number(c!.n) !== ROWS) throw new Error(`${db} has ${c!.n} rows, expected ${ROWS}`);
    }
    const rate = (ms: number) => Math.round(ROWS / (ms / 1000));
    process.stdout.write(
      `rows ${ROWS} in ${r.appliedTransactions} transactions (${ROWS_PER_TXN} rows each), ${paths.length} segments, ${r.batches} applier batches\n` +
      `applier: ${applierMs.toFixed(0)} ms, ${rate(applierMs)} rows/s\n` +
      `psql -f: ${psqlMs.toFixed(0)} ms, ${rate(psqlMs)} rows/s\n` +
      `applier / psql: ${(rate(applierMs) / rate(psqlMs)).toFixed(2)}x\n`,
    );
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

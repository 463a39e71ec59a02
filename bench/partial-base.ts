/**
 * A partial restore's base steps with and without TOC filtering, on a base with a big table left
 * out: `pgbench -i -s SCALE` dumped as pgincr takes a plain base (pg_dump, gzip), then restored
 * with only `public.pgbench_branches` chosen, alternately:
 *   whole:    the whole base loaded (every table's data, indexes built), then the others dropped
 *   filtered: the base script filtered (restore/restore-base.ts `dataOf`): only the chosen
 *             tables' COPY data reaches the server, then the (empty) others dropped
 * Each is the workflow's `base` + `keep chosen tables` steps (restoreBase, keepOnlySelection),
 * timed on a new database; the chosen table's checksum is compared with the source's.
 *
 *   npm run bench:partial-base -- --scale 20 --runs 3
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { startCluster } from '../test/helpers/pg-cluster';
import { restoreBase } from '../src/restore/restore-base';
import { keepOnlySelection } from '../src/restore/partial-base';
import { parseSelection } from '../src/core/restore/table-selection';
import { databaseChecksums } from '../src/adapters/pg/checksums';
import { exitOnInterrupt, fmtMiB, fmtRatio, loadNote, log, markdownTable, msSince, run } from './bench-util';

async function main(): Promise<void> {
  exitOnInterrupt();
  const { values: args } = parseArgs({ options: { scale: { type: 'string', default: '20' }, runs: { type: 'string', default: '3' } } });
  const scale = Number(args.scale);
  const runs = Number(args.runs);
  const pg = await startCluster();
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-bench-partial-'));
  try {
    log(`pgbench -i -s ${scale}`);
    await pg.createDatabase('src');
    await run('pgbench', ['-i', '-q', '-s', String(scale)], pg.env('src'));
    const dump = join(dir, 'dump.sql.gz');
    const pgDump = spawn('pg_dump', ['-Fp', '--no-sync', '-d', 'src'], { env: { ...process.env, ...pg.env('src') }, stdio: ['ignore', 'pipe', 'inherit'] });
    await pipeline(pgDump.stdout, createGzip(), createWriteStream(dump));
    log(`base: ${fmtMiB(statSync(dump).size)} gzip`);
    const selection = parseSelection(['public.pgbench_branches'], []);
    const expected = (await databaseChecksums(pg.profile('src'))).tables['"public"."pgbench_branches"'];
    const times: Record<'whole' | 'filtered', number[]> = { whole: [], filtered: [] };
    let skippedBytes = 0;
    for (let i = 0; i < runs; i++) {
      for (const mode of i % 2 === 0 ? (['whole', 'filtered'] as const) : (['filtered', 'whole'] as const)) {
        const db = `t_${mode}_${i}`;
        await pg.createDatabase(db);
        const profile = pg.profile(db);
        const t = process.hrtime.bigint();
        const r = await restoreBase({
          profile,
          restoreId: `bench_${mode}_${i}`,
          baseLsn: '0/1000000',
          dump: { format: 'plain', path: dump },
          ...(mode === 'filtered' ? { dataOf: { selection, encoding: 'UTF8' } } : {}),
        });
        await keepOnlySelection(profile, selection);
        const ms = msSince(t);
        times[mode].push(ms);
        if (r.data?.filtered) skippedBytes = r.data.skippedBytes;
        if (mode === 'filtered' && !r.data?.filtered) throw new Error(`the filtered run loaded the whole base: ${r.data?.wholeBase ?? '?'}`);
        const got = (await databaseChecksums(profile)).tables;
        if (
          JSON.stringify(Object.keys(got)) !== '["\\"public\\".\\"pgbench_branches\\""]' ||
          JSON.stringify(got['"public"."pgbench_branches"']) !== JSON.stringify(expected)
        ) {
          throw new Error(`${mode} run ${i}: restored tables differ: ${JSON.stringify(got)}`);
        }
        log(`${mode} run ${i + 1}: ${(ms / 1000).toFixed(2)} s`);
        await pg.query(`DROP DATABASE ${db}`);
      }
    }
    const s = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' / ');
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      markdownTable(
        ['base steps (restoreBase + keepOnlySelection), pgbench scale ' + String(scale) + ', only pgbench_branches', 'seconds per run', 'median'],
        [
          ['whole base loaded, then the others dropped', s(times.whole), (median(times.whole) / 1000).toFixed(2)],
          [
            `only the chosen table's data loaded (${fmtMiB(skippedBytes)} of COPY data not sent)`,
            s(times.filtered),
            (median(times.filtered) / 1000).toFixed(2),
          ],
        ],
      ),
    );
    console.log(`\nfiltered takes ${fmtRatio(median(times.filtered) / median(times.whole))} the time of whole; ${loadNote()}`);
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

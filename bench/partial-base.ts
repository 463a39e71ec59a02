/**
 * A partial restore's base steps with and without TOC filtering, on a base with a big table left
 * out: `pgbench -i -s SCALE` dumped as pgincr takes a plain base (pg_dump, gzip), then restored
 * with only `public.pgbench_branches` chosen, alternately:
 *   whole:    the whole base loaded (every table's data, indexes built), then the others dropped
 *   filtered: the base script filtered (restore/restore-base.ts `dataOf`): only the chosen
 *             tables' COPY data reaches the server, then the (empty) others dropped
 * Each is the workflow's `base` + `keep chosen tables` steps (restoreBase, keepOnlySelection),
 * timed on a new database; the chosen table's checksum is compared with the source's.
 * With `--format directory` the base is `pg_dump -Fd` (gzip files per table) and the two are:
 *   script:   every data file read and decompressed by `pg_restore -f -`, the script filtered (before)
 *   list:     pg_restore given a list without the data entries of tables left out (restore/base-data-list.ts)
 *
 *   npm run bench:partial-base -- --scale 20 --runs 3
 *   npm run bench:partial-base -- --scale 20 --runs 3 --format directory
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
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
  const { values: args } = parseArgs({
    options: { scale: { type: 'string', default: '20' }, runs: { type: 'string', default: '3' }, format: { type: 'string', default: 'plain' } },
  });
  if (args.format === 'directory') return directory(Number(args.scale), Number(args.runs));
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

/** The directory-format comparison (module comment): every data file read, or only the chosen ones. */
async function directory(scale: number, runs: number): Promise<void> {
  const pg = await startCluster();
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-bench-partial-'));
  try {
    log(`pgbench -i -s ${scale}`);
    await pg.createDatabase('src');
    await run('pgbench', ['-i', '-q', '-s', String(scale)], pg.env('src'));
    const dump = join(dir, 'base');
    await run('pg_dump', ['-Fd', '--no-sync', '-f', dump, '-d', 'src'], pg.env('src'));
    const files = readdirSync(dump).map((f) => statSync(join(dump, f)).size);
    log(`base: directory, ${files.length} files, ${fmtMiB(files.reduce((a, b) => a + b, 0))} on disk`);
    const selection = parseSelection(['public.pgbench_branches'], []);
    const expected = (await databaseChecksums(pg.profile('src'))).tables['"public"."pgbench_branches"'];
    const times: Record<'script' | 'list', number[]> = { script: [], list: [] };
    let unread = { files: 0, bytes: 0 };
    for (let i = 0; i < runs; i++) {
      for (const mode of i % 2 === 0 ? (['script', 'list'] as const) : (['list', 'script'] as const)) {
        const db = `t_${mode}_${i}`;
        await pg.createDatabase(db);
        const profile = pg.profile(db);
        const t = process.hrtime.bigint();
        const r = await restoreBase({
          profile,
          restoreId: `bench_${mode}_${i}`,
          baseLsn: '0/1000000',
          dump: { format: 'directory', path: dump },
          dataOf: { selection, encoding: 'UTF8', ...(mode === 'script' ? { readEveryDataFile: true } : {}) },
        });
        await keepOnlySelection(profile, selection);
        const ms = msSince(t);
        times[mode].push(ms);
        if (!r.data?.filtered) throw new Error(`${mode} run ${i}: the whole base was loaded: ${r.data?.wholeBase ?? '?'}`);
        if (mode === 'list') unread = { files: r.data.unreadFiles ?? 0, bytes: r.data.unreadBytes ?? 0 };
        const got = (await databaseChecksums(profile)).tables;
        if (JSON.stringify(got) !== JSON.stringify({ '"public"."pgbench_branches"': expected })) {
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
        [`directory base, pgbench scale ${scale}, only pgbench_branches`, 'seconds per run', 'median'],
        [
          ['every data file decompressed, the script filtered (before)', s(times.script), (median(times.script) / 1000).toFixed(2)],
          [
            `only the chosen table's data file read (${unread.files} file(s), ${fmtMiB(unread.bytes)} never read)`,
            s(times.list),
            (median(times.list) / 1000).toFixed(2),
          ],
        ],
      ),
    );
    console.log(`\nlist takes ${fmtRatio(median(times.list) / median(times.script))} the time of script; ${loadNote()}`);
  } finally {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * `pgincr log` scan speed against `zcat | grep` on the same gzip segments.
 *
 * Generates a chain of gzip segments (default 300 MiB of SQL) with the project's own renderer
 * (test/helpers/log-chain.ts: render.ts rows, grammar.ts markers, the writer's footer), then times, in the same run:
 *   A. `zcat <files> | grep -c 'BEGIN; -- xid'`                 (the floor: decompress + one search)
 *   B. `bin/pgincr log --json --tables public.orders --kind DELETE | wc -l`   (a narrow search)
 *   C. `bin/pgincr log --json | wc -l`                           (every transaction summarised)
 * and prints the ratios. Env: LOG_BENCH_MIB (SQL bytes to generate), LOG_BENCH_DIR (reuse a dir).
 *
 *   npm run bench:log
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { logChainDir, writeLogChain } from '../test/helpers/log-chain';
import { fmtMiB, fmtRatio, loadNote, log, msSince } from './bench-util';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/pgincr');
const MIB = Number(process.env.LOG_BENCH_MIB ?? 300);
const SEGMENT_BYTES = 16 * 1024 * 1024;

interface Timing {
  ms: number;
  cpuMs: number;
  out: string;
}

/** Wall and CPU time (user + sys of every process of the pipeline, from bash's `time`). */
function timed(label: string, shell: string, env: NodeJS.ProcessEnv): Timing {
  const start = process.hrtime.bigint();
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', `TIMEFORMAT='%U %S'; time (${shell})`], { env, maxBuffer: 1 << 26, encoding: 'utf8' });
  const ms = msSince(start);
  if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`);
  const [user, sys] = (r.stderr.trim().split('\n').at(-1) ?? '').split(' ').map(Number) as [number, number];
  const out = r.stdout.trim();
  log(`${label}: ${(ms / 1000).toFixed(2)} s wall, ${(user + sys).toFixed(2)} s CPU -> ${out}`);
  return { ms, cpuMs: (user + sys) * 1000, out };
}

/** The better of two runs (the machine is shared: the slower one is noise). */
function best(a: Timing, b: Timing): Timing {
  return { ms: Math.min(a.ms, b.ms), cpuMs: Math.min(a.cpuMs, b.cpuMs), out: a.out };
}

function main(): void {
  const dir = process.env.LOG_BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'pgincr-log-bench-'));
  const repository = join(dir, 'repository');
  const chain = logChainDir(repository, 'app');
  let files: string[];
  let expectTxns: number | null = null;
  let expectDeletes: number | null = null;
  if (existsSync(chain)) {
    files = readdirSync(join(chain, 'segments'), { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile() && d.name.endsWith('.gz'))
      .map((d) => join(d.parentPath, d.name))
      .sort();
    log(`reusing ${files.length} segments in ${chain}`);
  } else {
    const start = process.hrtime.bigint();
    const g = writeLogChain(repository, 'app', { segmentBytes: SEGMENT_BYTES, sqlBytes: MIB * 1024 * 1024, gzipLevel: 6 });
    files = g.segments.map((f) => join(g.chainDir, f));
    expectTxns = g.transactions;
    expectDeletes = g.orderDeletes;
    log(`generated ${files.length} gzip segments, ${g.transactions} transactions in ${(msSince(start) / 1000).toFixed(1)} s`);
  }
  const gz = files.reduce((n, f) => n + statSync(f).size, 0);
  const sqlBytes = Number(
    execFileSync('bash', ['-c', `zcat ${files.map((f) => `'${f}'`).join(' ')} | wc -c`])
      .toString()
      .trim(),
  );
  log(`${fmtMiB(sqlBytes)} of SQL in ${fmtMiB(gz)} of gzip; ${loadNote()}`);
  // No database: the chain is found in the repository by the profile's database name.
  const { PGINCR_CONFIG: _unused, ...inherited } = process.env;
  const env = { ...inherited, PGINCR_REPOSITORY: repository, PGDATABASE: 'app', PGHOST: '/nonexistent' };
  const list = files.map((f) => `'${f}'`).join(' ');
  execFileSync(join(ROOT, 'scripts/build'), ['--if-stale'], { stdio: 'inherit' });
  const cmdA = `zcat ${list} | grep -c 'BEGIN; -- xid'`;
  const cmdB = `${BIN} log --json --tables public.orders --kind DELETE 2>/dev/null | wc -l`;
  const cmdC = `${BIN} log --json 2>/dev/null | wc -l`;
  // ABC CBA: load drifts over a run, so each gets an early and a late slot.
  const a1 = timed('A zcat | grep -c', cmdA, env);
  const b1 = timed('B pgincr log --tables public.orders --kind DELETE', cmdB, env);
  const c1 = timed('C pgincr log (every transaction)', cmdC, env);
  const c2 = timed('C pgincr log (every transaction)', cmdC, env);
  const b2 = timed('B pgincr log --tables public.orders --kind DELETE', cmdB, env);
  const a2 = timed('A zcat | grep -c', cmdA, env);
  const [a, b, c] = [best(a1, a2), best(b1, b2), best(c1, c2)];
  if (c.out !== a.out) throw new Error(`pgincr log listed ${c.out} transactions, grep counted ${a.out}`);
  if (expectTxns !== null && Number(a.out) !== expectTxns) throw new Error(`grep counted ${a.out}, generated ${expectTxns}`);
  if (expectDeletes !== null && Number(b.out) !== expectDeletes) throw new Error(`log found ${b.out} DELETEs on public.orders, generated ${expectDeletes}`);
  const mibs = (ms: number) => `${(sqlBytes / 1024 / 1024 / (ms / 1000)).toFixed(0)} MiB/s`;
  const row = (name: string, t: Timing) =>
    `| ${name} | ${(t.ms / 1000).toFixed(2)} s (${mibs(t.ms)}) | ${(t.cpuMs / 1000).toFixed(2)} s | ${t === a ? 'baseline' : `${fmtRatio(a.ms / t.ms)} wall, ${fmtRatio(a.cpuMs / t.cpuMs)} CPU`} |`;
  log(`result: ${fmtMiB(sqlBytes)} of SQL in ${files.length} segments (${fmtMiB(gz)} gzip), ${a.out} transactions; best of two, ABC CBA`);
  process.stdout.write(
    [
      '| run | wall (SQL rate) | CPU | speed vs zcat \\| grep |',
      '| --- | --- | --- | --- |',
      row("`zcat … \\| grep -c 'BEGIN; -- xid'`", a),
      row('`pgincr log --json --tables public.orders --kind DELETE \\| wc -l`', b),
      row('`pgincr log --json \\| wc -l` (every transaction)', c),
    ].join('\n') + '\n',
  );
  if (!process.env.LOG_BENCH_DIR) log(`segments kept in ${dir} (LOG_BENCH_DIR=${dir} reuses them)`);
}

main();

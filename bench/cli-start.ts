/**
 * How fast `bin/pgincr` starts (issue 15: `--help` and `check --nagios` under 0.5 s), against a
 * baseline measured in the same run: a bare `node -e 0` start. `check --nagios` runs against a
 * throwaway cluster with a repository, so it connects and runs every check (the slot does not
 * exist there, so it reports CRITICAL; the time is the point): once with no Temporal server at
 * its address (a refused connect: the SDK is not loaded) and once with one answering (a dev
 * server: the check loads the Temporal client and describes the capture workflow, as in
 * production). `node dist/cli/main.js` rows are the same commands without the one-file bundle
 * and its code cache (src/cli/start.ts), for comparison. The CPU column (user + system of the
 * start and everything it waited for) is the steadier one on a loaded machine.
 *
 *   npm run bench:cli -- [--runs 10]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster } from '../test/helpers/pg-cluster';
import { startDevServer } from '../src/dev/temporal-dev-server';
import { fmtRatio, loadNote, log, markdownTable } from './bench-util';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/pgincr');

/**
 * CPU milliseconds (user + system) of this process's waited-for children so far: Linux's
 * cutime + cstime (/proc/self/stat, in clock ticks of 10 ms). Steadier than wall time on a
 * loaded machine, where a start mostly waits for a core.
 */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'latin1')
    .replace(/^.*\) /s, '')
    .split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10; // fields 16 and 17 of proc(5), counted from the state field (3)
}

/** Wall-clock and CPU milliseconds of `runs` sequential starts, each sorted (exit code ignored: check exits 2 here). */
function time(file: string, args: string[], env: NodeJS.ProcessEnv, runs: number): { ms: number[]; cpu: number[] } {
  const ms: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const c = childrenCpuMs();
    spawnSync(file, args, { env, stdio: 'ignore' });
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    cpu.push(childrenCpuMs() - c);
  }
  return { ms: ms.sort((a, b) => a - b), cpu: cpu.sort((a, b) => a - b) };
}

const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
  const runs = Number(values.runs);
  execFileSync(join(ROOT, 'scripts/build'), ['--if-stale'], { stdio: 'inherit' });
  const pg = await startCluster();
  const temporal = await startDevServer({ namespace: 'default', headless: true, logLevel: 'error' });
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-bench-cli-'));
  try {
    const writeConfig = (name: string, temporalAddress: string): string => {
      const file = join(dir, name);
      const config = { repository: dir, profiles: { app: pg.profile('postgres') }, defaultProfile: 'app', temporal: { address: temporalAddress } };
      writeFileSync(file, JSON.stringify(config));
      return file;
    };
    const noTemporal = writeConfig('no-temporal.json', '127.0.0.1:1'); // nothing listens on port 1: refused at once
    const withTemporal = writeConfig('temporal.json', temporal.address);
    const env = { ...process.env };
    delete env.TEMPORAL_ADDRESS;
    const unbundled = join(ROOT, 'dist/cli/main.js');
    const cases: Array<[string, string, string[]]> = [
      ['node -e 0 (baseline)', process.execPath, ['-e', '0']],
      ['pgincr --help', BIN, ['--help']],
      ['pgincr check --nagios (no Temporal)', BIN, ['check', '--nagios', '--config', noTemporal]],
      ['pgincr check --nagios (Temporal answers)', BIN, ['check', '--nagios', '--config', withTemporal]],
      ['node dist/cli/main.js --help (unbundled)', process.execPath, [unbundled, '--help']],
      ['node dist/cli/main.js check --nagios (no Temporal, unbundled)', process.execPath, [unbundled, 'check', '--nagios', '--config', noTemporal]],
    ];
    // Warm the file cache, and the code cache of each command (made by a command's first run).
    for (const [, file, args] of cases) time(file, args, env, 1);
    // Interleaved (one start of each command per round), so a change of load hits every row alike.
    const rows = cases.map(([name]) => ({ name, ms: [] as number[], cpu: [] as number[] }));
    for (let round = 0; round < runs; round++) {
      cases.forEach(([, file, args], i) => {
        const one = time(file, args, env, 1);
        rows[i]!.ms.push(one.ms[0]!);
        rows[i]!.cpu.push(one.cpu[0]!);
      });
    }
    for (const r of rows) {
      r.ms.sort((a, b) => a - b);
      r.cpu.sort((a, b) => a - b);
    }
    const base = median(rows[0]!.ms);
    log(`${runs} runs each; ${loadNote()}`);
    console.log(
      markdownTable(
        ['command', 'median ms', 'min–max ms', 'ratio to bare node', 'CPU ms (median, min–max)'],
        rows.map((r) => [
          r.name,
          median(r.ms).toFixed(0),
          `${r.ms[0]!.toFixed(0)}–${r.ms.at(-1)!.toFixed(0)}`,
          fmtRatio(median(r.ms) / base),
          `${median(r.cpu)} (${r.cpu[0]}–${r.cpu.at(-1)})`,
        ]),
      ),
    );
  } finally {
    await temporal.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();

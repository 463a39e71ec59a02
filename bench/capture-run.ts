/**
 * One pgincr capture run for the benches: runCapture (pgoutput) or runRawCapture (decoder_raw:
 * pg_recvlogical + post-processing) into a chain folder, in a child process running compiled
 * JavaScript (bench/capture-child.ts), so its peak RSS (ru_maxrss) and CPU time are the
 * capture's own; its heartbeats tracked (for decoder_raw also pg_recvlogical's peak RSS and CPU).
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatLsn, parseLsn, type Lsn } from '../src/core/lsn';
import type { CaptureResult } from '../src/capture/capture-engine';
import type { PgCluster } from '../test/helpers/pg-cluster';
import type { ObjectStoreLocation } from '../src/core/repository/object-store';
import { log, msSince, transpileForChild } from './bench-util';
import type { ChildMessage, ChildOptions } from './capture-child';

export interface CaptureHandle {
  /** Latest heartbeat: durable LSN, transactions written. */
  readonly last: { lsn: Lsn; txns: number };
  /** The child's peak RSS (ru_maxrss), known once it is done. */
  readonly peakRss: number;
  /** The child's CPU time (user + system, all its threads), known once it is done. */
  readonly cpuMs: number;
  /** decoder_raw: pg_recvlogical's peak RSS and CPU time (sampled every 250 ms). */
  readonly recvlogical: RecvlogicalUsage;
  readonly done: Promise<CaptureResult>;
  /** Stops the run (it seals the open segment when `seal`) and returns its result. */
  stop(): Promise<CaptureResult>;
}

export interface CaptureRunOptions {
  pg: PgCluster;
  db: string;
  slot: string;
  publication: string;
  chainDir: string;
  /** The slot's starting point (what setup passes as the base LSN). */
  baseLsn: Lsn;
  compress: 'gzip' | 'none';
  seal: boolean;
  decoder?: 'pgoutput' | 'decoder_raw' | 'discard';
  /** An S3 repository: each sealed segment is uploaded before the slot is acknowledged past it (credentials from the AWS environment). */
  objectStore?: ObjectStoreLocation;
  /** Seal by size and age (defaults 64 MiB, 15 minutes). */
  segmentMaxBytes?: number;
  segmentMaxAgeMs?: number;
}

export interface RecvlogicalUsage {
  peakRss: number;
  cpuMs: number;
}

/** Peak RSS and CPU time of the pg_recvlogical processes streaming `slot` (Linux /proc). */
function recvlogicalSampler(slot: string): { usage: RecvlogicalUsage; stop(): void } {
  const usage = { peakRss: 0, cpuMs: 0 };
  const cpuByPid = new Map<number, number>();
  const tick = () =>
    execFile('pgrep', ['-f', `pg_recvlogical --start .*--slot=${slot}( |$)`], (_err, out) => {
      for (const pid of String(out ?? '')
        .split('\n')
        .filter(Boolean)
        .map(Number)) {
        void Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')]).then(
          ([status, stat]) => {
            const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
            usage.peakRss = Math.max(usage.peakRss, rssKb * 1024);
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
            cpuByPid.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / 100); // utime + stime, USER_HZ 100
            usage.cpuMs = [...cpuByPid.values()].reduce((a, b) => a + b, 0);
          },
          () => undefined,
        );
      }
    });
  const timer = setInterval(tick, 250);
  return { usage, stop: () => clearInterval(timer) };
}

const ROOT = resolve(__dirname, '..');
let childScript: string | undefined;

/** The compiled child script (transpiled once per bench process, outside any timing). */
function compiledChild(): string {
  if (!childScript) {
    const t = process.hrtime.bigint();
    const out = mkdtempSync(join(tmpdir(), 'pgincr-bench-js-'));
    process.once('exit', () => rmSync(out, { recursive: true, force: true }));
    transpileForChild(ROOT, ['src', 'bench'], out);
    childScript = join(out, 'bench', 'capture-child.js');
    log(`capture child compiled to JavaScript in ${(msSince(t) / 1000).toFixed(1)} s (${out})`);
  }
  return childScript;
}

export async function startCaptureRun(o: CaptureRunOptions): Promise<CaptureHandle> {
  const state = { lsn: 0n, txns: 0 };
  const usage = { peakRss: 0, cpuMs: 0 };
  const child: ChildProcess = fork(compiledChild(), [], {
    // PGINCR_BENCH_CHILD_NODE_ARGS profiles the child, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof'.
    execArgv: (process.env.PGINCR_BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean),
    env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules'), NODE_OPTIONS: '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const raw = o.decoder === 'decoder_raw';
  const recv = raw ? recvlogicalSampler(o.slot) : null;
  let ready: () => void = () => undefined;
  const started = new Promise<void>((res) => (ready = res));
  const done = new Promise<CaptureResult>((res, rej) => {
    let result: CaptureResult | undefined;
    let failure: Error | undefined;
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') ready();
      else if (m.type === 'heartbeat') {
        state.lsn = parseLsn(m.lsn);
        state.txns = m.txns;
      } else if (m.type === 'done') {
        result = m.result;
        usage.peakRss = m.maxRssBytes;
        usage.cpuMs = m.cpuMs;
        const mib = (n: number) => (n / 1024 / 1024).toFixed(0);
        const p = m.memory;
        log(
          `capture child: peak RSS ${mib(m.maxRssBytes)} MiB (at start ${mib(p.rssBefore)}); peaks: V8 heap ${mib(p.heapTotal)} (used ${mib(p.heapUsed)}), external ${mib(p.external)}, array buffers ${mib(p.arrayBuffers)} MiB`,
        );
      } else if (m.type === 'failed') failure = new Error(`capture child failed: ${m.error}`);
    });
    child.on('error', rej);
    child.on('exit', (code) => {
      recv?.stop();
      ready();
      if (result) res(result);
      else rej(failure ?? new Error(`capture child exited with code ${code} before reporting a result`));
    });
  });
  done.catch(() => undefined); // observed by stop() or by the caller's polling
  const options: ChildOptions = {
    profile: o.pg.profile(o.db),
    slot: o.slot,
    publication: o.publication,
    chainDir: o.chainDir,
    baseLsn: formatLsn(o.baseLsn),
    compress: o.compress,
    seal: o.seal,
    decoder: o.decoder ?? 'pgoutput',
    ...(o.objectStore ? { objectStore: o.objectStore } : {}),
    ...(o.segmentMaxBytes ? { segmentMaxBytes: o.segmentMaxBytes } : {}),
    ...(o.segmentMaxAgeMs ? { segmentMaxAgeMs: o.segmentMaxAgeMs } : {}),
  };
  child.send({ type: 'start', options });
  await started;
  return {
    last: state,
    get peakRss() {
      return usage.peakRss;
    },
    get cpuMs() {
      return usage.cpuMs;
    },
    recvlogical: recv?.usage ?? { peakRss: 0, cpuMs: 0 },
    done,
    stop: async () => {
      if (child.connected) child.send({ type: 'stop' });
      return done;
    },
  };
}

/** The slot's confirmed flush LSN. */
export async function confirmedFlush(pg: PgCluster, db: string, slot: string): Promise<Lsn> {
  const rows = await pg.query<{ c: string }>('SELECT confirmed_flush_lsn::text AS c FROM pg_replication_slots WHERE slot_name = $1', [slot], db);
  return parseLsn(rows[0]!.c);
}

export async function currentLsn(pg: PgCluster, db: string): Promise<Lsn> {
  return parseLsn((await pg.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l', [], db))[0]!.l);
}

/** Creates a slot (pgoutput unless `plugin` says otherwise; not temporary) and returns its consistent point. */
export async function createSlot(pg: PgCluster, db: string, slot: string, plugin = 'pgoutput'): Promise<Lsn> {
  const rows = await pg.query<{ lsn: string }>(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, $2)`, [slot, plugin], db);
  return parseLsn(rows[0]!.lsn);
}

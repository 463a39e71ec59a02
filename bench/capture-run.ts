/**
 * One pgincr capture run for the benches: runCapture (pgoutput) or runRawCapture (decoder_raw:
 * pg_recvlogical + post-processing) into a chain folder, its heartbeats tracked, peak RSS
 * sampled while it runs (for decoder_raw also pg_recvlogical's peak RSS and CPU time).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { initDdlParser } from '../src/core/ddl/extract';
import { parseLsn, type Lsn } from '../src/core/lsn';
import { runCapture, type CaptureResult } from '../src/capture/capture-engine';
import { runRawCapture } from '../src/capture/raw/raw-capture';
import { createCaptureDeps } from '../src/capture/capture-deps';
import type { HeartbeatDetails } from '../src/capture/capture-types';
import type { PgCluster } from '../test/helpers/pg-cluster';

export interface CaptureHandle {
  /** Latest heartbeat: durable LSN, transactions written. */
  readonly last: { lsn: Lsn; txns: number };
  readonly peakRss: number;
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
  decoder?: 'pgoutput' | 'decoder_raw';
}

export interface RecvlogicalUsage {
  peakRss: number;
  cpuMs: number;
}

/** Peak RSS and CPU time of the pg_recvlogical processes streaming `slot` (Linux /proc). */
function recvlogicalSampler(slot: string): { usage: RecvlogicalUsage; stop(): void } {
  const usage = { peakRss: 0, cpuMs: 0 };
  const cpuByPid = new Map<number, number>();
  const tick = () => execFile('pgrep', ['-f', `pg_recvlogical --start .*--slot=${slot}( |$)`], (_err, out) => {
    for (const pid of String(out ?? '').split('\n').filter(Boolean).map(Number)) {
      void Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')]).then(([status, stat]) => {
        const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        usage.peakRss = Math.max(usage.peakRss, rssKb * 1024);
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
        cpuByPid.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / 100); // utime + stime, USER_HZ 100
        usage.cpuMs = [...cpuByPid.values()].reduce((a, b) => a + b, 0);
      }, () => undefined);
    }
  });
  const timer = setInterval(tick, 250);
  return { usage, stop: () => clearInterval(timer) };
}

export async function startCaptureRun(o: CaptureRunOptions): Promise<CaptureHandle> {
  await initDdlParser(); // once per process; outside the timed part
  const controller = new AbortController();
  const state = { lsn: 0n, txns: 0 };
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  const deps = createCaptureDeps({ profile: o.pg.profile(o.db), chainDir: o.chainDir });
  const raw = o.decoder === 'decoder_raw';
  const recv = raw ? recvlogicalSampler(o.slot) : null;
  const run: typeof runCapture = raw ? (d, i, c) => runRawCapture(d, i, c, { profile: o.pg.profile(o.db), chainDir: o.chainDir }) : runCapture;
  const done = run(deps, {
    slot: o.slot, publication: o.publication, lastDurableLsn: o.baseLsn,
    segmentMaxBytes: 64 * 1024 * 1024, segmentMaxAgeMs: 15 * 60_000, runForMs: 24 * 3600_000,
    heartbeatEveryMs: 50, statusEveryMs: 10_000, sequenceEveryMs: 0, idleMessageEveryMs: 0,
    sealOnExit: o.seal, compress: o.compress, ddlInFunction: 'fail',
  }, {
    heartbeat: (d: HeartbeatDetails) => {
      state.lsn = parseLsn(d.lastDurableLsn);
      state.txns = d.txns;
    },
    signal: controller.signal,
    rotateRequested: () => false,
    now: () => Date.now(),
  }).finally(() => {
    clearInterval(sampler);
    recv?.stop();
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  });
  done.catch(() => undefined); // observed by stop() or by the caller's polling
  return {
    last: state,
    get peakRss() {
      return peakRss;
    },
    recvlogical: recv?.usage ?? { peakRss: 0, cpuMs: 0 },
    done,
    stop: async () => {
      controller.abort();
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

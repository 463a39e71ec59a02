/**
 * One pgincr capture run for the benches: runCapture into a chain folder, its heartbeats
 * tracked, peak RSS and CPU time sampled while it runs.
 */
import { initDdlParser } from '../src/core/ddl/extract';
import { parseLsn, type Lsn } from '../src/core/lsn';
import { runCapture, type CaptureResult } from '../src/capture/capture-engine';
import { createCaptureDeps } from '../src/capture/capture-deps';
import type { HeartbeatDetails } from '../src/capture/capture-types';
import type { PgCluster } from '../test/helpers/pg-cluster';

export interface CaptureHandle {
  /** Latest heartbeat: durable LSN, transactions written. */
  readonly last: { lsn: Lsn; txns: number };
  readonly peakRss: number;
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
  const done = runCapture(deps, {
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
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  });
  done.catch(() => undefined); // observed by stop() or by the caller's polling
  return {
    last: state,
    get peakRss() {
      return peakRss;
    },
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

/** Creates a pgoutput slot (not temporary) and returns its consistent point. */
export async function createSlot(pg: PgCluster, db: string, slot: string, plugin = 'pgoutput'): Promise<Lsn> {
  const rows = await pg.query<{ lsn: string }>(`SELECT lsn::text FROM pg_create_logical_replication_slot($1, $2)`, [slot, plugin], db);
  return parseLsn(rows[0]!.lsn);
}

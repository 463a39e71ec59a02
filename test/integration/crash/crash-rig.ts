/**
 * Crash-test rig: pgincr workers as separate OS processes (`bin/pgincr worker --config FILE`)
 * that a test can SIGKILL, a Temporal client, a pgbench-like workload that records every
 * transaction the client saw committed, and readers for the keys the segments hold.
 *
 *   const rig = await CrashRig.create(pg, 'app', { capture: { segmentMaxBytes: 65536 } });
 *   const w = await rig.startWorker();  ...  await rig.kill(w);  ...  await rig.close();  // afterAll
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client as TemporalClient, Connection, type WorkflowHandle } from '@temporalio/client';
import type { Client as PgClient } from 'pg';
import type { PgCluster } from '../../helpers/pg-cluster';
import { temporalAddress, TEST_NAMESPACE } from '../../helpers/temporal';
import { waitFor } from '../../helpers/pgincr-env';
import { formatLsn, parseLsn } from '../../../src/core/lsn';
import { findPartial, listSealedSegments, readSegmentFile } from '../../../src/adapters/fs/segment-files';

const BIN = resolve(__dirname, '../../../bin/pgincr');
/** A worker process transpiles the CLI and bundles the workflows: ~10 s on a quiet 2-core machine. */
const WORKER_READY_MS = 120_000;

/** temporal.api.enums.v1.PendingActivityState (@temporalio/proto is not a direct dependency). */
const PENDING_ACTIVITY_STATE_STARTED = 2;

const children = new Set<ChildProcess>();
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
// Last resort: no worker outlives the jest process.
process.on('exit', () => {
  for (const c of children) killGroup(c);
});

/** Phase timings for the test's stderr report: `const mark = timer(); mark('setup'); mark.report()`. */
export function timer(): { (label: string): void; report(): string } {
  const start = Date.now();
  const marks: string[] = [];
  const mark = (label: string) => {
    marks.push(`${label} ${((Date.now() - start) / 1000).toFixed(1)}s`);
  };
  return Object.assign(mark, { report: () => marks.join(', ') });
}

/** Polls `probe` until it returns a value (not null), or fails after `timeoutMs` naming `what`. */
export async function waitForValue<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  let value: T | null = null;
  await waitFor(what, async () => (value = await probe()) !== null, timeoutMs, everyMs);
  return value as T;
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const randomBetween = (min: number, max: number) => min + Math.floor(Math.random() * (max - min));

export interface WorkerProcess {
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  alive(): boolean;
}

export interface PendingActivity {
  type: string;
  started: boolean;
  attempt: number;
  activityId: string;
  workerIdentity: string;
}

export interface RigOptions {
  capture?: Record<string, unknown>;
  /** A Temporal server of the test's own (host:port) instead of the shared one. */
  temporalAddress?: string;
}

export class CrashRig {
  private readonly workers: { child: ChildProcess; info: WorkerProcess }[] = [];

  private constructor(
    readonly pg: PgCluster,
    readonly db: string,
    readonly dir: string,
    readonly repository: string,
    readonly configPath: string,
    readonly taskQueue: string,
    readonly client: TemporalClient,
  ) {}

  static async create(pg: PgCluster, db: string, label: string, options: RigOptions = {}): Promise<CrashRig> {
    const dir = mkdtempSync(join(tmpdir(), `pgincr-crash-${label}-`));
    const repository = join(dir, 'repository');
    const taskQueue = `crash-${label}-${randomUUID().slice(0, 8)}`;
    const address = options.temporalAddress ?? temporalAddress();
    const config = {
      repository,
      profiles: { default: pg.profile(db), admin: pg.profile('postgres') },
      temporal: { address, namespace: TEST_NAMESPACE, taskQueue },
      capture: { heartbeatInterval: '1s', sequenceInterval: '2s', segmentMaxAge: '1h', ...options.capture },
    };
    const configPath = join(dir, 'pgincr.json');
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const connection = await Connection.connect({ address });
    const client = new TemporalClient({ connection, namespace: config.temporal.namespace });
    return new CrashRig(pg, db, dir, repository, configPath, taskQueue, client);
  }

  workflowId(label: string): string {
    return `${this.taskQueue}-${label}`;
  }

  /** Spawns a worker (its own process group) and waits until it polls the task queue; `env` adds to its environment. */
  async startWorker(env: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
    const logFile = join(this.dir, `worker-${this.workers.length + 1}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(BIN, ['worker', '--config', this.configPath], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, PGINCR_LOG_LEVEL: process.env.PGINCR_TEST_LOG_LEVEL ?? 'info', PGINCR_LOG_PRETTY: '0', ...env },
    });
    closeSync(fd);
    children.add(child);
    let running = true;
    const exited = new Promise<number | null>((res) =>
      child.on('exit', (code) => {
        running = false;
        children.delete(child);
        res(code);
      }),
    );
    const info: WorkerProcess = { pid: child.pid ?? -1, logFile, exited, alive: () => running };
    this.workers.push({ child, info });
    await waitFor(
      `worker ${info.pid} to start (log ${logFile})`,
      async () => {
        if (!running) throw new Error(`worker ${info.pid} exited while starting:\n${tail(logFile)}`);
        return readFileSync(logFile, 'utf8').includes('"msg":"worker started"');
      },
      WORKER_READY_MS,
      250,
    );
    return info;
  }

  /** SIGKILLs a worker's whole process group and waits for it to be gone. */
  async kill(worker: WorkerProcess): Promise<void> {
    const entry = this.workers.find((w) => w.info === worker);
    if (!entry) throw new Error(`unknown worker ${worker.pid}`);
    killGroup(entry.child);
    if (!(await exitsWithin(worker, 10_000))) throw new Error(`worker ${worker.pid} still running 10 s after SIGKILL`);
  }

  /** The activities pending in a workflow, from describe(). */
  async pendingActivities(handle: WorkflowHandle): Promise<PendingActivity[]> {
    const d = await handle.describe();
    return (d.raw.pendingActivities ?? []).map((a) => ({
      type: a.activityType?.name ?? '?',
      started: Number(a.state) === PENDING_ACTIVITY_STATE_STARTED,
      attempt: a.attempt ?? 0,
      activityId: a.activityId ?? '',
      workerIdentity: a.lastWorkerIdentity ?? '',
    }));
  }

  /**
   * The live worker process running a started `activityType` activity of the workflow, if any
   * (a worker's default identity is `<pid>@<host>`).
   */
  async workerRunning(handle: WorkflowHandle, activityType: string): Promise<{ worker: WorkerProcess; activity: PendingActivity } | null> {
    for (const activity of await this.pendingActivities(handle)) {
      if (activity.type !== activityType || !activity.started) continue;
      const pid = Number(activity.workerIdentity.split('@')[0]);
      const entry = this.workers.find((w) => w.info.pid === pid && w.info.alive());
      if (entry) return { worker: entry.info, activity };
    }
    return null;
  }

  /** The repository's one chain folder (`<system_identifier>-<db>`). */
  chainDir(): string {
    const chains = existsSync(this.repository) ? readdirSync(this.repository).filter((n) => /^\d+-/.test(n)) : [];
    if (chains.length !== 1) throw new Error(`expected one chain in ${this.repository}, found: ${chains.join(', ') || 'none'}`);
    return join(this.repository, chains[0] as string);
  }

  /** Kills every worker, closes the client, removes the temp dir (keeps it when PGINCR_KEEP_CRASH_DIR=1). */
  async close(): Promise<void> {
    for (const { child, info } of this.workers) {
      if (info.alive()) {
        killGroup(child);
        await exitsWithin(info, 5000);
      }
    }
    await this.client.connection.close().catch(() => undefined);
    if (process.env.PGINCR_KEEP_CRASH_DIR !== '1') rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True when the worker exits within `ms` (the timer is cleared either way). */
async function exitsWithin(worker: WorkerProcess, ms: number): Promise<boolean> {
  let timeout: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      worker.exited.then(() => true),
      new Promise<boolean>((res) => {
        timeout = setTimeout(() => res(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timeout);
  }
}

export function tail(file: string, bytes = 4000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

/** Schema for the workload: pgbench tables plus a keyless log table with one row per transaction. */
export const CRASH_LOG_DDL = `CREATE TABLE public.crash_log (k int NOT NULL, client int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
ALTER TABLE public.crash_log REPLICA IDENTITY FULL;`;

/**
 * A pgbench-like (TPC-B) workload on `clients` connections; each transaction also inserts a row
 * with a unique key `k` into `crash_log`. Keys whose COMMIT returned are `committed`; keys whose
 * COMMIT was sent but failed (server gone) are `inDoubt`. Connections that break reconnect
 * until `stop()`.
 */
export class Workload {
  readonly committed = new Set<number>();
  readonly inDoubt = new Set<number>();
  readonly errors: string[] = [];
  private next = 1;
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly pg: PgCluster,
    private readonly db: string,
    private readonly options: { clients?: number; pauseMs?: number } = {},
  ) {}

  start(): this {
    for (let c = 0; c < (this.options.clients ?? 2); c++) this.loops.push(this.loop(c));
    return this;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** Waits until at least `n` more transactions have committed. */
  async advance(n: number, timeoutMs = 60_000): Promise<void> {
    const target = this.committed.size + n;
    await waitFor(`${n} more workload transactions`, async () => this.committed.size >= target, timeoutMs, 50);
  }

  private async loop(id: number): Promise<void> {
    while (!this.stopping) {
      let client: PgClient | undefined;
      try {
        client = await this.pg.connect(this.db);
        client.on('error', () => undefined);
        while (!this.stopping) {
          await this.transaction(client, id);
          if (this.options.pauseMs) await delay(this.options.pauseMs);
        }
      } catch (err) {
        if (this.errors.length < 50) this.errors.push(`client ${id}: ${(err as Error).message}`);
        await delay(100);
      } finally {
        await client?.end().catch(() => undefined);
      }
    }
  }

  private async transaction(client: PgClient, id: number): Promise<void> {
    const k = this.next++;
    const aid = randomBetween(1, 100_001);
    const tid = randomBetween(1, 11);
    const delta = randomBetween(-5000, 5001);
    let committing = false;
    try {
      await client.query('BEGIN');
      await client.query('UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2', [delta, aid]);
      await client.query('UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2', [delta, tid]);
      await client.query('UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = 1', [delta]);
      await client.query('INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, 1, $2, $3, CURRENT_TIMESTAMP)', [tid, aid, delta]);
      await client.query('INSERT INTO crash_log (k, client) VALUES ($1, $2)', [k, id]);
      committing = true;
      await client.query('COMMIT');
      this.committed.add(k);
    } catch (err) {
      if (committing) this.inDoubt.add(k);
      throw err;
    }
  }
}

/** How many times each crash_log key appears in the chain's segment files (sealed and partial). */
export async function segmentKeyCounts(chain: string): Promise<Map<number, number>> {
  const paths = (await listSealedSegments(chain)).map((s) => s.path);
  const partial = await findPartial(chain);
  if (partial) paths.push(partial.path);
  const counts = new Map<number, number>();
  for (const path of paths) {
    const text = (await readSegmentFile(path)).toString('latin1');
    for (const m of text.matchAll(/^INSERT INTO public\.crash_log \(k, client, at\) VALUES \('?(\d+)'?,/gm)) {
      const k = Number(m[1]);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return counts;
}

/** Checks the segments against the workload; returns a list of problems (empty when exact). */
export function exactlyOnceProblems(counts: Map<number, number>, workload: Workload): string[] {
  const problems: string[] = [];
  const missing = [...workload.committed].filter((k) => !counts.has(k));
  if (missing.length) problems.push(`${missing.length} committed transactions missing from the segments, e.g. k=${missing.slice(0, 10).join(',')}`);
  const twice = [...counts].filter(([, n]) => n > 1);
  if (twice.length)
    problems.push(
      `${twice.length} transactions written more than once, e.g. ${twice
        .slice(0, 10)
        .map(([k, n]) => `k=${k}×${n}`)
        .join(', ')}`,
    );
  const unknown = [...counts.keys()].filter((k) => !workload.committed.has(k) && !workload.inDoubt.has(k));
  if (unknown.length) problems.push(`${unknown.length} keys in the segments that were never committed, e.g. k=${unknown.slice(0, 10).join(',')}`);
  return problems;
}

/** The source's current WAL position. */
export async function currentLsn(pg: PgCluster, db: string): Promise<string> {
  const [row] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], db);
  return (row as { lsn: string }).lsn;
}

/** Waits until the capture slot has confirmed `lsn` (everything before it is in the repository). */
export async function waitSlotConfirms(pg: PgCluster, lsn: string, timeoutMs = 120_000, slot = 'pgincr'): Promise<void> {
  await waitFor(
    `slot ${slot} to confirm ${lsn}`,
    async () => {
      const rows = await pg.query<{ ok: boolean }>('SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $2', [
        lsn,
        slot,
      ]);
      return rows[0]?.ok === true;
    },
    timeoutMs,
    250,
  );
}

/** The slot's walsender pid when it is active, else null. */
export async function slotActivePid(pg: PgCluster, slot = 'pgincr'): Promise<number | null> {
  const rows = await pg.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return rows[0]?.pid ?? null;
}

/**
 * The slot's confirmed_flush_lsn as last saved to disk (`pg_replslot/<slot>/state`, PostgreSQL 15
 * layout: a 16-byte header, then name, database, persistency, xmin, catalog_xmin, restart_lsn,
 * invalidated_at, confirmed_flush). The server saves it at checkpoints and when the slot's
 * restart_lsn moves, so a crash rewinds the slot to this position.
 */
export function savedSlotConfirmed(pg: PgCluster, slot = 'pgincr'): bigint {
  return readFileSync(join(pg.dir, 'data', 'pg_replslot', slot, 'state')).readBigUInt64LE(112);
}

/**
 * Waits until a crash now rewinds the slot: the position it confirmed in memory is past the one
 * saved on disk, so after an immediate stop the server resends what the capture already wrote.
 * Makes the exactly-once path run instead of hoping a random crash point lands there. Returns
 * false, saying why, when that did not come within `timeoutMs` (the slot confirmed nothing past
 * its saved position for a minute once in ten decoder_raw runs, at load 14 on 2 cores): the
 * caller crashes anyway and repeats the crash, bounded, asserting at the end that one rewound.
 */
export async function waitSlotRewindable(pg: PgCluster, slot = 'pgincr', timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await pg.query<{ lsn: string | null; active: boolean }>(
      'SELECT confirmed_flush_lsn::text AS lsn, active FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    const lsn = rows[0]?.lsn;
    const saved = savedSlotConfirmed(pg, slot);
    if (lsn != null && parseLsn(lsn) > saved) return true;
    if (Date.now() > deadline) {
      process.stderr.write(
        `slot ${slot} did not confirm past its position saved on disk (${formatLsn(saved)}) within ${timeoutMs} ms: confirmed ${lsn ?? 'none'}, ` +
          `${rows[0]?.active ? 'active' : 'not streamed'}; crashing anyway (this crash will not rewind it)\n`,
      );
      return false;
    }
    await delay(20);
  }
}

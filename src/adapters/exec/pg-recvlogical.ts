/**
 * `pg_recvlogical --start` as a supervised child process (the decoder_raw capture):
 * - writes the slot's output to one file (`--file`), fsyncing every `--fsync-interval` seconds;
 *   it confirms to the server only what it has fsynced, so nothing is acknowledged before it is
 *   durable in that file;
 * - restarted when it exits (with a growing delay), after `beforeStart` has moved its file away,
 *   so each process writes a fresh file;
 * - stopped (SIGTERM, then SIGKILL) when the capture ends or `signal` aborts; it is also killed
 *   when this process exits, and, when this process is killed (SIGKILL runs no exit hook), by a
 *   watchdog: a small sh, in its own process group, that waits for EOF on a pipe from this
 *   process and then SIGTERMs it (it fsyncs and confirms; its file stays for the next run), then
 *   SIGKILLs it after 5 s. A leftover that still holds the slot is terminated through the slot's
 *   active backend (found by its `application_name`) before each start;
 * - every stderr line is logged;
 * - `pause`/`resume` suspend and continue it (SIGSTOP/SIGCONT), to bound the raw backlog;
 * - `rotate` moves the file to a new name and sends SIGHUP: pg_recvlogical fsyncs, closes, and
 *   opens the file name again; the new file appearing means the moved one is complete.
 * Connection settings travel as PG* variables; the session settings that shape the literals
 * (DateStyle, TimeZone, …) are pinned through PGOPTIONS; client_encoding is the server's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rename, stat } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import type { Client } from 'pg';
import type { Profile } from '../../config';
import { replicationSessionOptions } from '../pg/replication-session';
import { dbnameConninfo } from '../../core/commands/argv';
import { childEnv } from '../pg/connect';
import { toolPath } from './pg-tools';

export const RECVLOGICAL_APP_NAME = 'pgincr pg_recvlogical';
const KILL_AFTER_MS = 5000;
const MAX_RESTART_DELAY_MS = 30_000;

export interface RecvlogicalLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RecvlogicalOptions {
  profile: Profile;
  slot: string;
  /** The file pg_recvlogical writes (`--file`). */
  file: string;
  fsyncIntervalS: number;
  /** `--status-interval` in seconds (default 10). */
  statusIntervalS?: number;
  serverEncoding: string;
  log: RecvlogicalLog;
  /** Called before every (re)start, e.g. to move a leftover file away. */
  beforeStart(): Promise<void>;
  env?: NodeJS.ProcessEnv;
}

/**
 * pg_recvlogical's argument vector. It insists on --dbname, which libpq would expand as a
 * connection string: the name goes as the one-keyword conninfo `dbname='…'` (any name names
 * only that database), so the other settings (and any password) stay in PG* variables.
 */
export function recvlogicalArgs(o: Pick<RecvlogicalOptions, 'slot' | 'file' | 'fsyncIntervalS' | 'statusIntervalS'> & { dbname: string }): string[] {
  return [
    '--start',
    `--dbname=${dbnameConninfo(o.dbname)}`,
    `--slot=${o.slot}`,
    '--plugin=decoder_raw',
    '--option=include_transaction=on',
    `--file=${o.file}`,
    `--fsync-interval=${o.fsyncIntervalS}`,
    `--status-interval=${o.statusIntervalS ?? 10}`,
    '--no-loop',
  ];
}

/** Terminates a pg_recvlogical left over by a killed worker that still holds the slot. */
export async function terminateLeftover(client: Client, slot: string): Promise<boolean> {
  const { rows } = await client.query<{ done: boolean }>(
    `SELECT pg_catalog.pg_terminate_backend(s.active_pid, 5000) AS done
     FROM pg_catalog.pg_replication_slots s JOIN pg_catalog.pg_stat_activity a ON a.pid = s.active_pid
     WHERE s.slot_name = $1 AND a.application_name = $2`,
    [slot, RECVLOGICAL_APP_NAME],
  );
  return rows.some((r) => r.done);
}

/**
 * The watchdog script (`$1` = pg_recvlogical's pid). It signals the pid only while that pid is
 * still a pg_recvlogical (where /proc tells), so a reused pid is left alone.
 */
const WATCHDOG = [
  'cat >/dev/null',
  'ours() { [ ! -d /proc/self ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = pg_recvlogical ]; }',
  'ours "$1" && kill -TERM "$1" 2>/dev/null',
  'i=0',
  'while [ "$i" -lt 50 ] && kill -0 "$1" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done',
  'ours "$1" && kill -KILL "$1" 2>/dev/null',
  'exit 0',
].join('\n');

/** Starts the watchdog of `pid`; returns a function that ends it (call when the process exited). */
function startWatchdog(pid: number, log: RecvlogicalLog): () => void {
  let dog: ChildProcess;
  try {
    dog = spawn('/bin/sh', ['-c', WATCHDOG, 'pgincr-recvlogical-watchdog', String(pid)], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
  } catch (err) {
    log.warn({ err, pid }, 'pg_recvlogical watchdog not started');
    return () => undefined;
  }
  dog.on('error', (err) => log.warn({ err, pid }, 'pg_recvlogical watchdog failed'));
  // It must not keep this process alive; our end of its stdin closes when this process dies.
  dog.unref();
  // A pipe's socket has unref() at run time; Writable's type does not declare it.
  (dog.stdin as { unref?: () => void } | null)?.unref?.();
  dog.stdin?.on('error', () => undefined);
  return () => {
    try {
      if (dog.pid) process.kill(-dog.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export class RecvlogicalSupervisor {
  private child: ResultPromise | null = null;
  private stopping = false;
  private restarts = 0;
  private timer: NodeJS.Timeout | null = null;
  private suspended: ResultPromise | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** The last exit that was not asked for (for status and errors). */
  lastFailure: string | null = null;

  constructor(private readonly o: RecvlogicalOptions) {}

  /** Starts the first process; later ones are started on exit until `stop`. */
  async start(): Promise<void> {
    await this.o.beforeStart();
    this.spawn();
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Whether the process is suspended by {@link pause}. */
  get paused(): boolean {
    return this.suspended !== null;
  }

  /**
   * Suspends the process (SIGSTOP): it stops reading, the server stops sending (the slot keeps
   * the WAL). Cheaper than a restart, which re-decodes from the slot's restart_lsn. A pause
   * longer than the server's wal_sender_timeout ends the connection; the process then exits
   * after `resume` and is restarted as after any exit.
   */
  pause(): boolean {
    if (!this.child || this.suspended) return false;
    this.suspended = this.child;
    this.child.kill('SIGSTOP');
    return true;
  }

  /** Continues a process suspended by {@link pause}. */
  resume(): void {
    this.suspended?.kill('SIGCONT');
    this.suspended = null;
  }

  private spawn(): void {
    const env: Record<string, string> = {
      ...childEnv(this.o.profile, this.o.env),
      PGOPTIONS: replicationSessionOptions(),
      PGCLIENTENCODING: this.o.serverEncoding,
      PGAPPNAME: RECVLOGICAL_APP_NAME,
    };
    const dbname = env.PGDATABASE ?? '';
    const child = execa(toolPath('pg_recvlogical', this.o.env), recvlogicalArgs({ ...this.o, dbname }), {
      env,
      extendEnv: false,
      buffer: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      // Our own exit hook instead of execa's `cleanup` (signal-exit), whose global emitter
      // breaks under jest's global cleanup when a child is restarted.
      forceKillAfterDelay: KILL_AFTER_MS,
      cleanup: false,
      reject: false,
    });
    this.child = child;
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    const endWatchdog = child.pid ? startWatchdog(child.pid, this.o.log) : () => undefined;
    let partial = '';
    child.stderr?.on('data', (b: Buffer) => {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.o.log.warn({ slot: this.o.slot, pid: child.pid }, `pg_recvlogical: ${line}`);
    });
    this.exited = child
      .then((r) => {
        process.removeListener('exit', killOnExit);
        if (this.suspended === child) this.suspended = null;
        endWatchdog();
        this.child = null;
        if (this.stopping) return;
        this.lastFailure = `exit code ${r.exitCode ?? '?'}${r.signal ? ` signal ${r.signal}` : ''}`;
        const delay = Math.min(MAX_RESTART_DELAY_MS, 500 * 2 ** Math.min(this.restarts, 6));
        this.restarts += 1;
        this.o.log.warn({ slot: this.o.slot, failure: this.lastFailure, restartInMs: delay }, 'pg_recvlogical exited; restarting');
        this.timer = setTimeout(() => {
          this.timer = null;
          if (this.stopping) return;
          this.o.beforeStart().then(
            () => {
              if (!this.stopping) this.spawn();
            },
            (err) => {
              this.o.log.warn({ err, slot: this.o.slot }, 'pg_recvlogical restart failed');
              this.lastFailure = `restart failed: ${(err as Error).message}`;
            },
          );
        }, delay);
      })
      .then(() => undefined);
  }

  /**
   * Moves the current file to `to` and makes pg_recvlogical reopen its file name; resolves when
   * it has (the moved file is then closed and fsynced), or false when no process is running or
   * nothing was written yet (then nothing is moved).
   */
  async rotate(to: string, timeoutMs = 15_000): Promise<boolean> {
    const child = this.child;
    if (!child || !(await exists(this.o.file))) return false;
    await rename(this.o.file, to);
    child.kill('SIGHUP');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await exists(this.o.file)) return true;
      if (this.child !== child) return true; // it exited: the moved file is closed
      await new Promise((r) => setTimeout(r, 5)); // it reopens within a millisecond or so; it keeps writing meanwhile
    }
    throw new Error(`pg_recvlogical (slot ${this.o.slot}) did not reopen ${this.o.file} within ${timeoutMs} ms after SIGHUP`);
  }

  /** Stops the process (SIGTERM: it fsyncs and confirms before exiting) and any pending restart. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.child?.kill('SIGTERM');
    this.resume(); // a suspended process handles the SIGTERM once continued
    await this.exited;
  }
}

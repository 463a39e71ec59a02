/**
 * The protocol ceiling measured with PostgreSQL's own client: `pg_recvlogical` (C) streams the
 * same pgoutput slot into /dev/null, without fsync (`--fsync-interval=0`). Done when the
 * walsender has sent every workload change (pg_stat_replication.sent_lsn at the workload's end).
 * No client of the streaming protocol drains a slot faster than this on the same machine.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { PgCluster } from '../test/helpers/pg-cluster';
import { toolPath } from '../src/adapters/exec/pg-tools';
import { parseLsn, type Lsn } from '../src/core/lsn';
import { msSince, waitUntil } from './bench-util';

export interface CeilingMeasure {
  ms: number;
  /** CPU time of pg_recvlogical and of its walsender while draining. */
  clientCpuMs: number;
  walsenderCpuMs: number;
}

/** utime + stime of a process in ms (Linux /proc, USER_HZ 100); 0 when gone. */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (!stat) return 0;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

export interface DiscardStream {
  readonly pid: number;
  stop(): Promise<void>;
}

/** pg_recvlogical streaming `slot` (pgoutput, publication `pub`) into /dev/null until stopped. */
export function startRecvlogicalDiscard(o: { pg: PgCluster; db: string; slot: string }): DiscardStream {
  const child = spawn(
    toolPath('pg_recvlogical', process.env),
    [
      '--start',
      `--dbname=${o.db}`,
      `--slot=${o.slot}`,
      '--file=/dev/null',
      '--fsync-interval=0',
      '--status-interval=1',
      '--no-loop',
      '--option=proto_version=1',
      '--option=publication_names=pub',
    ],
    { env: { ...process.env, ...o.pg.env(o.db) }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stopping = false;
  // Its complaint about the stream ending is expected once we stop it; anything before is not.
  child.stderr.on('data', (d: Buffer) => {
    if (!stopping) process.stderr.write(d);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    stop: async () => {
      stopping = true;
      child.kill('SIGINT');
      await exited;
    },
  };
}

export async function measureRecvlogicalCeiling(o: { pg: PgCluster; db: string; slot: string; target: Lsn }): Promise<CeilingMeasure> {
  const child = startRecvlogicalDiscard(o);
  try {
    const t = process.hrtime.bigint();
    let walsender: number | null = null;
    await waitUntil(
      'pg_recvlogical to receive every workload change',
      async () => {
        const [r] = await o.pg.query<{ pid: number | null; sent: string | null }>(
          `SELECT s.active_pid AS pid, r.sent_lsn::text AS sent FROM pg_replication_slots s
           LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1`,
          [o.slot],
          o.db,
        );
        walsender ??= r?.pid ?? null;
        return r?.sent != null && parseLsn(r.sent) >= o.target;
      },
      10 * 60_000,
      20,
    );
    const ms = msSince(t);
    const clientCpuMs = await cpuMsOf(child.pid);
    const walsenderCpuMs = walsender === null ? 0 : await cpuMsOf(walsender);
    return { ms, clientCpuMs, walsenderCpuMs };
  } finally {
    await child.stop();
  }
}

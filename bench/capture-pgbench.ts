/**
 * pgbench with and without pgincr capture streaming, alternating off, on, off, on, … on the
 * same database and slot. Before an "on" round the capture first drains what the previous
 * "off" round left in the slot (untimed), so each "on" round decodes only its own changes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { migrate } from '../src/adapters/pg/migrations';
import type { PgCluster } from '../test/helpers/pg-cluster';
import { log, msSince, run, waitUntil } from './bench-util';
import { confirmedFlush, createSlot, currentLsn, startCaptureRun } from './capture-run';

export interface PgbenchOptions {
  rounds: number;
  seconds: number;
  scale: number;
  clients: number;
  compress: 'gzip' | 'none';
}

export interface PgbenchRound {
  capture: boolean;
  tps: number;
}

export interface PgbenchSummary {
  off: PgbenchRound[];
  on: PgbenchRound[];
  offMean: number;
  onMean: number;
  capturedChanges: number;
  /** Longest time the capture needed, after pgbench ended, to confirm everything. */
  maxCatchUpMs: number;
}

const DB = 'pgb';

function tpsOf(output: string): number {
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(output) ?? /tps = ([\d.]+)/.exec(output);
  if (!m) throw new Error(`no tps in pgbench output:\n${output}`);
  return Number(m[1]);
}

async function caughtUp(pg: PgCluster, slot: string): Promise<() => Promise<boolean>> {
  const target = await currentLsn(pg, DB);
  return async () => (await confirmedFlush(pg, DB, slot)) >= target;
}

export async function pgbenchRounds(pg: PgCluster, o: PgbenchOptions): Promise<PgbenchSummary> {
  await pg.createDatabase(DB);
  const env = pg.env(DB);
  log(`pgbench -i -s ${o.scale}`);
  await run('pgbench', ['-i', '-q', '-s', String(o.scale)], env);
  const c = await pg.connect(DB);
  try {
    await migrate(c);
    await c.query('CREATE PUBLICATION pub FOR ALL TABLES');
  } finally {
    await c.end();
  }
  const baseLsn = await createSlot(pg, DB, 'pgincr');
  const chainDir = mkdtempSync(join(tmpdir(), 'pgincr-bench-pgb-'));
  const rounds: PgbenchRound[] = [];
  let capturedChanges = 0;
  let maxCatchUpMs = 0;
  try {
    for (let i = 0; i < o.rounds * 2; i++) {
      const capture = i % 2 === 1;
      const handle = capture
        ? await startCaptureRun({ pg, db: DB, slot: 'pgincr', publication: 'pub', chainDir, baseLsn, compress: o.compress, seal: false })
        : null;
      let failed: unknown;
      handle?.done.catch((e: unknown) => (failed = e));
      const check = () => {
        if (failed) throw failed;
      };
      if (handle) {
        const drained = await caughtUp(pg, 'pgincr');
        await waitUntil('capture to drain the previous round', async () => (check(), drained()), 10 * 60_000, 100);
      }
      log(`pgbench round ${i + 1}/${o.rounds * 2}: capture ${capture ? 'on' : 'off'}, ${o.seconds} s`);
      const out = await run('pgbench', ['-c', String(o.clients), '-j', String(Math.min(o.clients, 2)), '-T', String(o.seconds)], env);
      const tps = tpsOf(out);
      rounds.push({ capture, tps });
      log(`  tps ${tps.toFixed(1)}`);
      if (handle) {
        const t = process.hrtime.bigint();
        const done = await caughtUp(pg, 'pgincr');
        await waitUntil('capture to catch up after pgbench', async () => (check(), done()), 10 * 60_000, 20);
        maxCatchUpMs = Math.max(maxCatchUpMs, msSince(t));
        const result = await handle.stop();
        capturedChanges += result.changes;
      }
    }
  } finally {
    rmSync(chainDir, { recursive: true, force: true });
  }
  const off = rounds.filter((r) => !r.capture);
  const on = rounds.filter((r) => r.capture);
  const mean = (xs: PgbenchRound[]) => xs.reduce((n, r) => n + r.tps, 0) / xs.length;
  return { off, on, offMean: mean(off), onMean: mean(on), capturedChanges, maxCatchUpMs };
}

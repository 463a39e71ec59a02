/**
 * pgbench with and without pgincr capture streaming, alternating off, on, ceiling, ceiling, on,
 * off, … on the same database. Before an "on" round the capture first drains what the previous rounds
 * left in the slot (untimed), so each "on" round decodes only its own changes. A "ceiling" round
 * streams a twin slot with pg_recvlogical into /dev/null instead: what any client of the
 * walsender costs the source, the floor for pgincr's overhead.
 * With decoder_raw: its own database (`pgb_raw`) with the pgincr triggers on the pgbench tables
 * (they run in the "off" rounds too: that is decoder_raw's cost on the source), a decoder_raw
 * slot and the raw capture. "Caught up" there means confirmed by pg_recvlogical (fsynced in the
 * raw file); the rest reaches the segments when the round's capture stops.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { migrate } from '../src/adapters/pg/migrations';
import { ensureRawCaptureObjects } from '../src/adapters/pg/raw-capture-objects';
import type { PgCluster } from '../test/helpers/pg-cluster';
import { log, msSince, run, waitUntil } from './bench-util';
import { confirmedFlush, createSlot, currentLsn, startCaptureRun } from './capture-run';
import { startRecvlogicalDiscard } from './capture-ceiling';

export interface PgbenchOptions {
  rounds: number;
  seconds: number;
  scale: number;
  clients: number;
  compress: 'gzip' | 'none';
  decoder: 'pgoutput' | 'decoder_raw';
}

export interface PgbenchRound {
  capture: boolean;
  /** pg_recvlogical streaming into /dev/null instead (pgoutput only): the protocol's own cost. */
  ceiling?: boolean;
  tps: number;
}

export interface PgbenchSummary {
  off: PgbenchRound[];
  on: PgbenchRound[];
  offMean: number;
  onMean: number;
  /** pgoutput: rounds with pg_recvlogical streaming the slot into /dev/null (no pgincr). */
  ceiling: PgbenchRound[];
  ceilingMean: number;
  capturedChanges: number;
  /** Longest time the capture needed, after pgbench ended, to confirm everything. */
  maxCatchUpMs: number;
}

function tpsOf(output: string): number {
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(output) ?? /tps = ([\d.]+)/.exec(output);
  if (!m) throw new Error(`no tps in pgbench output:\n${output}`);
  return Number(m[1]);
}

async function caughtUp(pg: PgCluster, db: string, slot: string): Promise<() => Promise<boolean>> {
  const target = await currentLsn(pg, db);
  return async () => (await confirmedFlush(pg, db, slot)) >= target;
}

export async function pgbenchRounds(pg: PgCluster, o: PgbenchOptions): Promise<PgbenchSummary> {
  const raw = o.decoder === 'decoder_raw';
  const DB = raw ? 'pgb_raw' : 'pgb';
  const SLOT = raw ? 'pgincr_pgb_raw' : 'pgincr';
  await pg.createDatabase(DB);
  const env = pg.env(DB);
  log(`pgbench -i -s ${o.scale}`);
  await run('pgbench', ['-i', '-q', '-s', String(o.scale)], env);
  const c = await pg.connect(DB);
  try {
    await migrate(c);
    if (raw) {
      await c.query('ALTER TABLE pgbench_history REPLICA IDENTITY FULL'); // no key: what setup does
      await ensureRawCaptureObjects(c);
    } else {
      await c.query('CREATE PUBLICATION pub FOR ALL TABLES');
    }
  } finally {
    await c.end();
  }
  const baseLsn = await createSlot(pg, DB, SLOT, raw ? 'decoder_raw' : 'pgoutput');
  const CEILING_SLOT = 'recvlogical_pgb';
  if (!raw) await createSlot(pg, DB, CEILING_SLOT);
  // pgoutput: off, pgincr on, pg_recvlogical → /dev/null; decoder_raw: off, on.
  const kinds: Array<'off' | 'on' | 'ceiling'> = raw ? ['off', 'on'] : ['off', 'on', 'ceiling'];
  const chainDir = mkdtempSync(join(tmpdir(), 'pgincr-bench-pgb-'));
  const rounds: PgbenchRound[] = [];
  let capturedChanges = 0;
  let maxCatchUpMs = 0;
  try {
    // Rounds in ABC CBA order: a drift over the run (caches warming, tables growing) cancels out.
    const order = Array.from({ length: o.rounds }, (_, r) => (r % 2 === 0 ? kinds : [...kinds].reverse())).flat();
    for (let i = 0; i < order.length; i++) {
      const kind = order[i]!;
      const capture = kind === 'on';
      if (kind === 'ceiling') {
        const stream = startRecvlogicalDiscard({ pg, db: DB, slot: CEILING_SLOT });
        try {
          const drained = await caughtUp(pg, DB, CEILING_SLOT);
          await waitUntil('pg_recvlogical to drain the previous rounds', drained, 10 * 60_000, 100);
          log(`pgbench round ${i + 1}/${o.rounds * kinds.length}: pg_recvlogical → /dev/null, ${o.seconds} s`);
          const tps = tpsOf(await run('pgbench', ['-c', String(o.clients), '-j', String(Math.min(o.clients, 2)), '-T', String(o.seconds)], env));
          rounds.push({ capture: false, ceiling: true, tps });
          log(`  tps ${tps.toFixed(1)}`);
        } finally {
          await stream.stop();
        }
        continue;
      }
      const handle = capture
        ? await startCaptureRun({ pg, db: DB, slot: SLOT, publication: 'pub', chainDir, baseLsn, compress: o.compress, seal: false, decoder: o.decoder })
        : null;
      let failed: unknown;
      handle?.done.catch((e: unknown) => (failed = e));
      const check = () => {
        if (failed) throw failed;
      };
      if (handle) {
        const drained = await caughtUp(pg, DB, SLOT);
        await waitUntil('capture to drain the previous round', async () => (check(), drained()), 10 * 60_000, 100);
      }
      log(`pgbench round ${i + 1}/${o.rounds * kinds.length}: ${o.decoder} capture ${capture ? 'on' : 'off'}, ${o.seconds} s`);
      const out = await run('pgbench', ['-c', String(o.clients), '-j', String(Math.min(o.clients, 2)), '-T', String(o.seconds)], env);
      const tps = tpsOf(out);
      rounds.push({ capture, tps });
      log(`  tps ${tps.toFixed(1)}`);
      if (handle) {
        const t = process.hrtime.bigint();
        const done = await caughtUp(pg, DB, SLOT);
        await waitUntil('capture to catch up after pgbench', async () => (check(), done()), 10 * 60_000, 20);
        maxCatchUpMs = Math.max(maxCatchUpMs, msSince(t));
        const result = await handle.stop();
        capturedChanges += result.changes;
        log(
          `  capture: ${result.transactions} transactions, ${result.changes} changes, CPU ${(handle.cpuMs / 1000).toFixed(1)} s (${((handle.cpuMs * 1000) / Math.max(1, result.transactions)).toFixed(0)} µs per transaction, start-up included)`,
        );
      }
    }
  } finally {
    rmSync(chainDir, { recursive: true, force: true });
    for (const slot of [SLOT, CEILING_SLOT])
      await pg.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot], DB).catch(() => undefined);
  }
  const off = rounds.filter((r) => !r.capture && !r.ceiling);
  const on = rounds.filter((r) => r.capture);
  const ceiling = rounds.filter((r) => r.ceiling);
  const mean = (xs: PgbenchRound[]) => (xs.length === 0 ? 0 : xs.reduce((n, r) => n + r.tps, 0) / xs.length);
  return { off, on, offMean: mean(off), onMean: mean(on), ceiling, ceilingMean: mean(ceiling), capturedChanges, maxCatchUpMs };
}

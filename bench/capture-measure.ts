/**
 * One measured capture of the bench workload: drains a slot into a fresh chain folder until
 * every workload transaction is in a segment, seals, and reports time, memory, CPU and size.
 * Used for pgoutput (runCapture) and decoder_raw (runRawCapture) on twin slots.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgCluster } from '../test/helpers/pg-cluster';
import { loadCatalog } from '../src/adapters/fs/catalog-store';
import type { Lsn } from '../src/core/lsn';
import { fmtInt, log, msSince, waitUntil } from './bench-util';
import { startCaptureRun, type RecvlogicalUsage } from './capture-run';

export interface CaptureMeasure {
  decoder: 'pgoutput' | 'decoder_raw';
  captureMs: number;
  /** When the last workload transaction was durable in a segment. */
  drainMs: number;
  changes: number;
  transactions: number;
  peakRss: number;
  rssBefore: number;
  /** CPU time of this process. */
  cpuMs: number;
  recvlogical: RecvlogicalUsage;
  plainBytes: number;
  gzipBytes: number | null;
  segments: number;
}

export interface MeasureOptions {
  pg: PgCluster;
  db: string;
  slot: string;
  decoder: 'pgoutput' | 'decoder_raw';
  baseLsn: Lsn;
  compress: 'gzip' | 'none';
  /** The workload's transactions (the capture is done when it has written them all). */
  commits: number;
  /** pgoutput only: the WAL position after the workload (an alternative end condition). */
  target?: Lsn;
}

export async function measureCapture(o: MeasureOptions): Promise<CaptureMeasure> {
  const chainDir = mkdtempSync(join(tmpdir(), `pgincr-bench-chain-${o.decoder}-`));
  try {
    const rssBefore = process.memoryUsage().rss;
    const cpu = process.cpuUsage();
    const t = process.hrtime.bigint();
    const handle = await startCaptureRun({
      pg: o.pg, db: o.db, slot: o.slot, publication: 'pub', chainDir, baseLsn: o.baseLsn, compress: o.compress, seal: true, decoder: o.decoder,
    });
    let failed: unknown;
    handle.done.catch((e: unknown) => (failed = e));
    // decoder_raw positions are first-write LSNs, not WAL end positions: only the count tells.
    await waitUntil(`${o.decoder} capture to write every workload transaction`, () => {
      if (failed) throw failed;
      return handle.last.txns >= o.commits || (o.decoder === 'pgoutput' && o.target !== undefined && handle.last.lsn >= o.target);
    }, 30 * 60_000, 20);
    const drainMs = msSince(t);
    const result = await handle.stop();
    const captureMs = msSince(t);
    const used = process.cpuUsage(cpu);
    log(`${o.decoder} capture: ${fmtInt(result.changes)} changes in ${captureMs.toFixed(0)} ms (last transaction durable at ${drainMs.toFixed(0)} ms)`);
    const segments = (await loadCatalog(chainDir))?.segments ?? [];
    // The plain size of what was written: the sealed files, uncompressed.
    const plainBytes = segments.reduce((n, seg) => {
      const bytes = readFileSync(join(chainDir, seg.file));
      return n + (seg.compressed ? gunzipSync(bytes).length : bytes.length);
    }, 0);
    return {
      decoder: o.decoder, captureMs, drainMs, changes: result.changes, transactions: result.transactions,
      peakRss: handle.peakRss, rssBefore, cpuMs: (used.user + used.system) / 1000, recvlogical: { ...handle.recvlogical },
      plainBytes, gzipBytes: o.compress === 'gzip' ? segments.reduce((n, s) => n + s.bytes, 0) : null, segments: segments.length,
    };
  } finally {
    rmSync(chainDir, { recursive: true, force: true });
  }
}

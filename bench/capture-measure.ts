/**
 * One measured capture of the bench workload: drains a slot into a fresh chain folder until
 * every workload transaction is in a segment, seals, and reports time, memory, CPU and size.
 * Used for pgoutput (runCapture) and decoder_raw (runRawCapture) on twin slots.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgCluster } from '../test/helpers/pg-cluster';
import { loadCatalog } from '../src/adapters/fs/catalog-store';
import type { Lsn } from '../src/core/lsn';
import type { ObjectStoreLocation } from '../src/core/repository/object-store';
import { fmtInt, log, msSince, waitUntil } from './bench-util';
import { startCaptureRun, type RecvlogicalUsage } from './capture-run';

export interface CaptureMeasure {
  decoder: 'pgoutput' | 'decoder_raw' | 'discard';
  captureMs: number;
  /** When the last workload transaction was durable in a segment. */
  drainMs: number;
  changes: number;
  transactions: number;
  /** Peak RSS (ru_maxrss) of the capture's child process. */
  peakRss: number;
  /** CPU time of the capture's child process (all threads, gzip included). */
  cpuMs: number;
  recvlogical: RecvlogicalUsage;
  /** CPU time of the walsender serving the capture's slot until the drain (Linux /proc). */
  walsenderCpuMs: number;
  plainBytes: number;
  gzipBytes: number | null;
  segments: number;
}

export interface MeasureOptions {
  pg: PgCluster;
  db: string;
  slot: string;
  decoder: 'pgoutput' | 'decoder_raw' | 'discard';
  baseLsn: Lsn;
  compress: 'gzip' | 'none';
  /** The workload's transactions (the capture is done when it has written them all). */
  commits: number;
  /** pgoutput only: the WAL position after the workload (an alternative end condition). */
  target?: Lsn;
  /** An S3 repository for the capture (bench:s3); and its segment limits. */
  objectStore?: ObjectStoreLocation;
  segmentMaxBytes?: number;
  segmentMaxAgeMs?: number;
}

/** CPU time (ms) of the process streaming `slot`, sampled while it runs; 0 where unknown. */
function walsenderCpu(o: MeasureOptions): { readonly ms: number; stop(): void } {
  let pid: number | null = null;
  let first: number | null = null;
  let last = 0;
  const tick = async () => {
    pid ??= (await o.pg.query<{ p: number | null }>('SELECT active_pid AS p FROM pg_replication_slots WHERE slot_name = $1', [o.slot], o.db))[0]?.p ?? null;
    if (pid === null) return;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (!stat) return;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, USER_HZ 100
    first ??= ms;
    last = ms;
  };
  const timer = setInterval(() => void tick().catch(() => undefined), 100);
  return {
    get ms() {
      return first === null ? 0 : last - first;
    },
    stop: () => clearInterval(timer),
  };
}

export async function measureCapture(o: MeasureOptions): Promise<CaptureMeasure> {
  const chainDir = mkdtempSync(join(tmpdir(), `pgincr-bench-chain-${o.decoder}-`));
  try {
    const handle = await startCaptureRun({
      pg: o.pg,
      db: o.db,
      slot: o.slot,
      publication: 'pub',
      chainDir,
      baseLsn: o.baseLsn,
      compress: o.compress,
      seal: true,
      decoder: o.decoder,
      ...(o.objectStore ? { objectStore: o.objectStore } : {}),
      ...(o.segmentMaxBytes ? { segmentMaxBytes: o.segmentMaxBytes } : {}),
      ...(o.segmentMaxAgeMs ? { segmentMaxAgeMs: o.segmentMaxAgeMs } : {}),
    });
    // Timed from the child's start of streaming (its process start and module loading excluded).
    const t = process.hrtime.bigint();
    const walsender = walsenderCpu(o);
    let failed: unknown;
    handle.done.catch((e: unknown) => (failed = e));
    // decoder_raw positions are first-write LSNs, not WAL end positions: only the count tells.
    await waitUntil(
      `${o.decoder} capture to write every workload transaction`,
      () => {
        if (failed) throw failed;
        return handle.last.txns >= o.commits || (o.decoder === 'pgoutput' && o.target !== undefined && handle.last.lsn >= o.target);
      },
      30 * 60_000,
      20,
    );
    const drainMs = msSince(t);
    walsender.stop();
    const result = await handle.stop();
    const captureMs = msSince(t);
    log(`${o.decoder} capture: ${fmtInt(result.changes)} changes in ${captureMs.toFixed(0)} ms (last transaction durable at ${drainMs.toFixed(0)} ms)`);
    const segments = (await loadCatalog(chainDir))?.segments ?? [];
    // The plain size of what was written: the sealed files, uncompressed.
    const plainBytes = segments.reduce((n, seg) => {
      const bytes = readFileSync(join(chainDir, seg.file));
      return n + (seg.compressed ? gunzipSync(bytes).length : bytes.length);
    }, 0);
    return {
      decoder: o.decoder,
      captureMs,
      drainMs,
      changes: result.changes,
      transactions: result.transactions,
      peakRss: handle.peakRss,
      cpuMs: handle.cpuMs,
      recvlogical: { ...handle.recvlogical },
      walsenderCpuMs: walsender.ms,
      plainBytes,
      gzipBytes: o.compress === 'gzip' ? segments.reduce((n, s) => n + s.bytes, 0) : null,
      segments: segments.length,
    };
  } finally {
    rmSync(chainDir, { recursive: true, force: true });
  }
}

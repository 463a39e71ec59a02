/**
 * The bound on raw bytes on disk. pg_recvlogical receives as fast as the server decodes (measured
 * here: some 15 MB in 50 ms when a backlog is waiting), faster than post-processing (some
 * 35 MB/s), and post-processing blocks the event loop window by window, so a timer cannot stop
 * it in time. So pg_recvlogical runs only while nothing is being processed:
 * - `current.raw` is rotated (SIGHUP) every few seconds, and as soon as it passes an eighth of
 *   the bound (looked at every {@link RawBacklog.pollMs} ms);
 * - while the closed files are processed, pg_recvlogical is suspended (SIGSTOP), then continued
 *   (SIGCONT). The server keeps the WAL meanwhile (the slot), as for a slow pgoutput capture;
 *   a suspension is not a restart, which would re-decode from the slot's restart_lsn.
 * On disk there is then about a quarter of the bound (the file being processed, the one kept
 * for its open tail), plus what pg_recvlogical receives before the capture's next look (20 ms
 * on an idle machine, more on a loaded one), plus the rest of a transaction not yet whole (one
 * larger than the bound is let through whole): a soft bound. A pass takes well under a second,
 * far within the server's wal_sender_timeout.
 */
import { stat } from 'node:fs/promises';
import type { RecvlogicalSupervisor } from '../../adapters/exec/pg-recvlogical';
import { currentRawPath } from './raw-files';

/** Default bound on raw bytes waiting to become segments. */
export const RAW_BACKLOG_MAX_BYTES = 64 * 1024 * 1024;

export class RawBacklog {
  /** How often the capture loop looks at the size of `current.raw`. */
  static readonly pollMs = 20;
  /** Passes run with pg_recvlogical suspended. */
  suspensions = 0;

  constructor(
    private readonly chain: string,
    readonly maxBytes: number,
    private readonly recv: RecvlogicalSupervisor,
  ) {}

  /** `current.raw` has grown enough to be rotated now. */
  async currentIsLarge(): Promise<boolean> {
    const size = await stat(currentRawPath(this.chain)).then(
      (s) => s.size,
      () => 0,
    );
    return size >= this.maxBytes / 8;
  }

  /** Runs a processing pass with pg_recvlogical suspended (when it runs). */
  async suspended<T>(pass: () => Promise<T>): Promise<T> {
    const paused = this.recv.pause();
    if (paused) this.suspensions += 1;
    try {
      return await pass();
    } finally {
      if (paused) this.recv.resume();
    }
  }
}

/**
 * The real dependencies of the capture engine: the source connections of a profile, the
 * replication stream, the chain folder's segment writer and its catalog, the system clock.
 */
import { basename } from 'node:path';
import type { Profile } from '../config';
import { parseChainDirName } from '../core/repository/paths';
import { addSegment, emptyCatalog } from '../core/catalog/catalog';
import { compressSealedSegment, findResumePoint, SegmentWriter } from '../adapters/fs/segment-writer';
import { recordUnlistedSegments, updateCatalog } from '../adapters/fs/catalog-store';
import { startReplication } from '../adapters/pg/replication-stream';
import { openSourceSession } from './source-session';
import { DEFAULT_RECEIVE_TIMEOUT_MS } from './stream-watchdog';
import type { CaptureClock, CaptureDeps, CaptureLog } from './capture-types';
import type { SegmentEntry } from '../core/catalog/schema';

/** Wall-clock time and Node timers. */
export const systemClock: CaptureClock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export interface CaptureDepsOptions {
  profile: Profile;
  /** `<repository>/<system_identifier>-<dbname>` */
  chainDir: string;
  env?: NodeJS.ProcessEnv;
  log?: CaptureLog;
  /** Writer buffer size before a write to the file (tests use small values). */
  flushBytes?: number;
  /** An object-store repository: uploads a recorded segment (and the catalog); the slot is acknowledged only past what it uploaded. */
  upload?: (sealed: SegmentEntry) => Promise<void>;
}

export function createCaptureDeps(options: CaptureDepsOptions): CaptureDeps {
  const { chainDir } = options;
  // Leftovers are removed at the capture's first open only: later opens come at a rotation,
  // while the sealed segment may still be compressing (a rotation's scan removed that `.sql`
  // under the compression, and the capture failed with ENOENT: CI failure).
  let opened = false;
  return {
    openSource: (input) => openSourceSession(options.profile, input.slot, input.receiveTimeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS, options.env),
    openStream: startReplication,
    clock: systemClock,
    resumePoint: async () => {
      // First the catalog catches up with the files: a crash after a seal's rename, before its
      // catalog entry, left a sealed segment the catalog does not list.
      const added = await recordUnlistedSegments(chainDir, () => emptyCatalogFor(chainDir));
      if (added.length > 0) options.log?.warn({ files: added }, 'sealed segments missing from the catalog were recorded');
      return (await findResumePoint(chainDir))?.lsn ?? null;
    },
    openWriter: (header, startLsn) => {
      const removeLeftovers = !opened;
      opened = true;
      return SegmentWriter.open(chainDir, header, startLsn, { flushBytes: options.flushBytes, nowMs: systemClock.now, removeLeftovers });
    },
    recordSegment: async (header, sealed) => {
      await updateCatalog(chainDir, (catalog) => addSegment(catalog ?? emptyCatalog(header.systemIdentifier, header.database), sealed));
      await options.upload?.(sealed);
    },
    offsite: options.upload !== undefined,
    compressSegment: (sealed) => compressSealedSegment(chainDir, sealed),
    log: options.log,
  };
}

/** An empty catalog named after the chain folder (`<system_identifier>-<dbname>`). */
function emptyCatalogFor(chainDir: string) {
  const names = parseChainDirName(basename(chainDir));
  if (!names) throw new Error(`${chainDir}: not a chain folder (<system_identifier>-<dbname>)`);
  return emptyCatalog(names.systemIdentifier, names.database);
}

/**
 * The real dependencies of the capture engine: the source connections of a profile, the
 * chain folder's segment writer and its catalog.
 */
import type { Profile } from '../config';
import { addSegment, emptyCatalog } from '../core/catalog/catalog';
import { findResumePoint, SegmentWriter } from '../adapters/fs/segment-writer';
import { updateCatalog } from '../adapters/fs/catalog-store';
import { openSourceSession } from './source-session';
import type { CaptureDeps, CaptureLog } from './capture-types';

export interface CaptureDepsOptions {
  profile: Profile;
  /** `<repository>/<system_identifier>-<dbname>` */
  chainDir: string;
  env?: NodeJS.ProcessEnv;
  log?: CaptureLog;
  /** Writer buffer size before a write to the file (tests use small values). */
  flushBytes?: number;
}

export function createCaptureDeps(options: CaptureDepsOptions): CaptureDeps {
  const { chainDir } = options;
  return {
    openSource: (input) => openSourceSession(options.profile, input.slot, options.env),
    resumePoint: async () => (await findResumePoint(chainDir))?.lsn ?? null,
    openWriter: (header, startLsn) => SegmentWriter.open(chainDir, header, startLsn, { flushBytes: options.flushBytes }),
    recordSegment: async (header, sealed) => {
      await updateCatalog(chainDir, (catalog) => addSegment(catalog ?? emptyCatalog(header.systemIdentifier, header.database), sealed));
    },
    log: options.log,
  };
}

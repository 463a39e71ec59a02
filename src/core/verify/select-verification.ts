/**
 * Which recorded point a verification run restores to: the newest point with checksums (a
 * checkpoint, or the newest base), restored from the newest base strictly before it.
 */
import type { Catalog } from '../catalog/schema';
import { parseLsn } from '../lsn';

export interface VerificationChoice {
  fromBase: string;
  toLsn: string;
  /** The checksum file of that point, relative to the chain folder. */
  checksumsFile: string;
}

/** Null when the chain has no point with an earlier base to restore it from. */
export function selectVerification(catalog: Catalog, options: { checkpoint?: boolean } = {}): VerificationChoice | null {
  const points = [
    ...catalog.bases.map((b) => ({ lsn: b.lsn, file: b.checksumsFile })),
    ...(options.checkpoint || catalog.checkpoints.length ? catalog.checkpoints.map((c) => ({ lsn: c.lsn, file: c.file })) : []),
  ].sort((a, b) => (parseLsn(a.lsn) < parseLsn(b.lsn) ? -1 : 1));
  const to = points.at(-1);
  if (!to) return null;
  const from = [...catalog.bases].reverse().find((b) => parseLsn(b.lsn) < parseLsn(to.lsn));
  if (!from) return null;
  return { fromBase: from.id, toLsn: to.lsn, checksumsFile: to.file };
}

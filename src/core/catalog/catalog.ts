/**
 * Pure operations on the catalog (see `schema.ts`). Every `add*` is idempotent, so an activity
 * that records a file twice (a retry) leaves one entry. Lists stay sorted: bases and
 * checkpoints by LSN, segments by start LSN, verifications by time of addition.
 *
 * Chain rule (docs/design.md invariant 1): a segment starts where the previous one ended, and the first
 * segment a base needs (the first one ending after the base LSN) starts at or before it.
 */
import { formatLsn, parseLsn, type Lsn } from '../lsn';
import { BASE_DIR, SEGMENTS_DIR } from '../repository/paths';
import { isDateFolder, parseSegmentName } from '../segment/naming';
import type { BaseEntry, Catalog, CheckpointEntry, Expired, SegmentEntry, VerificationEntry } from './schema';

/** A new, empty catalog for one chain. */
export function emptyCatalog(systemIdentifier: string, database: string): Catalog {
  return { version: 1, chain: { systemIdentifier, database }, bases: [], segments: [], checkpoints: [], verifications: [] };
}

const byLsn = (a: { lsn: string }, b: { lsn: string }) => cmp(parseLsn(a.lsn), parseLsn(b.lsn)) || a.lsn.localeCompare(b.lsn);
const byStart = (a: SegmentEntry, b: SegmentEntry) => cmp(parseLsn(a.startLsn), parseLsn(b.startLsn)) || cmp(parseLsn(a.endLsn), parseLsn(b.endLsn));

function cmp(a: Lsn, b: Lsn): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The segment file without `.gz`: the same segment before and after compression. */
function segmentStem(file: string): string {
  return file.replace(/\.gz$/, '');
}

/** Adds (or replaces, by id) a base backup. */
export function addBase(catalog: Catalog, base: BaseEntry): Catalog {
  const bases = [...catalog.bases.filter((b) => b.id !== base.id), base].sort(byLsn);
  return { ...catalog, bases };
}

/** Adds (or replaces, by file; a `.gz` replaces its `.sql`) a sealed segment. */
export function addSegment(catalog: Catalog, segment: SegmentEntry): Catalog {
  const stem = segmentStem(segment.file);
  const segments = [...catalog.segments.filter((s) => segmentStem(s.file) !== stem), segment].sort(byStart);
  return { ...catalog, segments };
}

/** Adds (or replaces, by file) a checkpoint. */
export function addCheckpoint(catalog: Catalog, checkpoint: CheckpointEntry): Catalog {
  const checkpoints = [...catalog.checkpoints.filter((c) => c.file !== checkpoint.file), checkpoint].sort(byLsn);
  return { ...catalog, checkpoints };
}

/** Records a verification (replaces one with the same time, base and LSN). */
export function addVerification(catalog: Catalog, v: VerificationEntry): Catalog {
  const same = (x: VerificationEntry) => x.at === v.at && x.fromBase === v.fromBase && x.toLsn === v.toLsn;
  return { ...catalog, verifications: [...catalog.verifications.filter((x) => !same(x)), v] };
}

/**
 * Every entry of `from` added to `into` (an entry of `from` replaces the same one of `into`):
 * how a worker's catalog joins the one in an object store, where several workers write
 * (docs/s3-repository.md). Entries are never dropped by a merge, except those retention
 * expired in either catalog (`expired`): an older copy must not bring back a deleted file.
 */
export function mergeCatalogs(into: Catalog, from: Catalog): Catalog {
  let merged = into;
  for (const base of from.bases) merged = addBase(merged, base);
  for (const segment of from.segments) merged = addSegment(merged, segment);
  for (const checkpoint of from.checkpoints) merged = addCheckpoint(merged, checkpoint);
  for (const verification of from.verifications) merged = addVerification(merged, verification);
  const expired = mergeExpired(into.expired, from.expired);
  return expired ? dropExpired({ ...merged, expired }) : merged;
}

function mergeExpired(a: Expired | undefined, b: Expired | undefined): Expired | undefined {
  if (!a || !b) return a ?? b;
  const through = [a.segmentsThrough, b.segmentsThrough].filter((l): l is string => l !== undefined).sort((x, y) => cmp(parseLsn(x), parseLsn(y)));
  const last = through.at(-1);
  return { ...(last ? { segmentsThrough: last } : {}), bases: [...new Set([...a.bases, ...b.bases])].sort() };
}

/** `catalog` with `expired` added to what it records as expired, and those entries removed (a rebuilt catalog keeps the bucket's record). */
export function withExpired(catalog: Catalog, expired: Expired | undefined): Catalog {
  const all = mergeExpired(catalog.expired, expired);
  return all ? dropExpired({ ...catalog, expired: all }) : catalog;
}

/** The entries `catalog.expired` names, removed. */
function dropExpired(catalog: Catalog): Catalog {
  const { expired } = catalog;
  if (!expired) return catalog;
  const through = expired.segmentsThrough !== undefined ? parseLsn(expired.segmentsThrough) : -1n;
  const bases = new Set(expired.bases);
  return {
    ...catalog,
    bases: catalog.bases.filter((b) => !bases.has(b.id)),
    segments: catalog.segments.filter((s) => parseLsn(s.endLsn) > through),
  };
}

/**
 * Removes bases (by id) and segments (by file) after retention deleted them, and records them
 * in `expired` so a merge never brings them back. The segments must be a prefix of the chain
 * (every segment ending at or before the last one removed is removed too): retention's rule.
 */
export function removeEntries(catalog: Catalog, remove: { bases?: readonly string[]; segments?: readonly string[] }): Catalog {
  const bases = new Set(remove.bases ?? []);
  const segments = new Set(remove.segments ?? []);
  const removed = catalog.segments.filter((s) => segments.has(s.file));
  const through = removed.reduce<Lsn | undefined>((max, s) => (max === undefined || parseLsn(s.endLsn) > max ? parseLsn(s.endLsn) : max), undefined);
  const stray = through === undefined ? [] : catalog.segments.filter((s) => parseLsn(s.endLsn) <= through && !segments.has(s.file));
  if (stray.length)
    throw new Error(`retention would leave ${stray[0]!.file} before removed segments ending at ${formatLsn(through!)}: not a prefix of the chain`);
  const expired = mergeExpired(catalog.expired, {
    ...(through !== undefined ? { segmentsThrough: formatLsn(through) } : {}),
    bases: [...bases],
  });
  return {
    ...catalog,
    bases: catalog.bases.filter((b) => !bases.has(b.id)),
    segments: catalog.segments.filter((s) => !segments.has(s.file)),
    ...(expired && (expired.segmentsThrough !== undefined || expired.bases.length) ? { expired } : {}),
  };
}

/** Whether a repository file (relative to the chain folder) belongs to something retention expired. */
export function isExpiredFile(catalog: Catalog | null, rel: string): boolean {
  const expired = catalog?.expired;
  if (!expired) return false;
  const [top, second, name, ...rest] = rel.split('/');
  if (top === BASE_DIR) return second !== undefined && name !== undefined && expired.bases.includes(second);
  if (top !== SEGMENTS_DIR || second === undefined || !isDateFolder(second) || name === undefined || rest.length) return false;
  const segment = parseSegmentName(name);
  return segment?.kind === 'sealed' && expired.segmentsThrough !== undefined && segment.endLsn <= parseLsn(expired.segmentsThrough);
}

/** A break in the chain: missing LSN range (`gap`) or two segments covering the same range (`overlap`). */
export interface ChainBreak {
  kind: 'gap' | 'overlap';
  fromLsn: string;
  toLsn: string;
  /** What ends at `fromLsn`: a segment file, or `base <id>`. */
  after: string;
  /** The segment that starts at `toLsn`. */
  before: string;
  /** A base taken inside the segment after the gap, from which restores do not need the missing range. */
  bridgedBy?: string;
}

/** Every break in the chain: between consecutive segments, and between a base and its first segment. */
export function findGaps(catalog: Catalog): ChainBreak[] {
  const segments = [...catalog.segments].sort(byStart);
  const breaks: ChainBreak[] = [];
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1] as SegmentEntry;
    const next = segments[i] as SegmentEntry;
    const end = parseLsn(prev.endLsn);
    const start = parseLsn(next.startLsn);
    if (start === end) continue;
    const kind = start > end ? 'gap' : 'overlap';
    const [fromLsn, toLsn] = kind === 'gap' ? [prev.endLsn, next.startLsn] : [next.startLsn, prev.endLsn];
    const bridge = kind === 'gap' ? catalog.bases.find((b) => parseLsn(b.lsn) >= start && parseLsn(b.lsn) < parseLsn(next.endLsn)) : undefined;
    breaks.push({ kind, fromLsn, toLsn, after: prev.file, before: next.file, ...(bridge ? { bridgedBy: bridge.id } : {}) });
  }
  for (const base of catalog.bases) {
    const s = parseLsn(base.lsn);
    const first = segments.find((seg) => parseLsn(seg.endLsn) > s);
    if (first && parseLsn(first.startLsn) > s) {
      breaks.push({ kind: 'gap', fromLsn: base.lsn, toLsn: first.startLsn, after: `base ${base.id}`, before: first.file });
    }
  }
  return breaks;
}

/** The segments a restore from `baseLsn` replays, in order, up to the first break. */
export interface ChainRun {
  segments: SegmentEntry[];
  /** LSN reached: the last segment's end, or the base LSN when there is none. */
  endLsn: Lsn;
  /** The break that stops the run, when there are segments after it. */
  broken?: ChainBreak;
}

/** Follows the chain from a base LSN: the segment that holds it, then each one that starts where the last ended. */
export function chainFrom(catalog: Catalog, baseLsn: Lsn, baseLabel = `base at ${formatLsn(baseLsn)}`): ChainRun {
  const segments = [...catalog.segments].sort(byStart);
  let i = segments.findIndex((seg) => parseLsn(seg.endLsn) > baseLsn);
  if (i === -1) return { segments: [], endLsn: baseLsn };
  const run: SegmentEntry[] = [];
  let end = baseLsn;
  let after = baseLabel;
  for (; i < segments.length; i++) {
    const seg = segments[i] as SegmentEntry;
    const start = parseLsn(seg.startLsn);
    const ok = run.length === 0 ? start <= baseLsn : start === end;
    if (!ok) {
      const kind = start > end ? 'gap' : 'overlap';
      const [fromLsn, toLsn] = kind === 'gap' ? [formatLsn(end), seg.startLsn] : [seg.startLsn, formatLsn(end)];
      return { segments: run, endLsn: end, broken: { kind, fromLsn, toLsn, after, before: seg.file } };
    }
    run.push(seg);
    end = parseLsn(seg.endLsn);
    after = seg.file;
  }
  return { segments: run, endLsn: end };
}

/** What one base can restore to: from its snapshot up to the end of its unbroken chain. */
export interface RestorableRange {
  baseId: string;
  fromLsn: string;
  fromTime: string;
  toLsn: string;
  /** Last commit time reachable (the base time when no segment follows it). */
  toTime: string;
  broken?: ChainBreak;
}

export interface RestorableWindow {
  ranges: RestorableRange[];
  earliest: { lsn: string; time: string } | null;
  latest: { lsn: string; time: string } | null;
}

/** The restorable window: one range per base, and the overall earliest and latest points. */
export function restorableWindow(catalog: Catalog): RestorableWindow {
  const ranges = [...catalog.bases].sort(byLsn).map((base): RestorableRange => {
    const run = chainFrom(catalog, parseLsn(base.lsn), `base ${base.id}`);
    const last = run.segments.at(-1);
    return {
      baseId: base.id,
      fromLsn: base.lsn,
      fromTime: base.takenAt,
      toLsn: formatLsn(run.endLsn),
      toTime: last ? last.lastCommitTime : base.takenAt,
      ...(run.broken ? { broken: run.broken } : {}),
    };
  });
  const first = ranges[0];
  const latest = ranges.reduce<RestorableRange | undefined>((best, r) => (!best || parseLsn(r.toLsn) > parseLsn(best.toLsn) ? r : best), undefined);
  return {
    ranges,
    earliest: first ? { lsn: first.fromLsn, time: first.fromTime } : null,
    latest: latest ? { lsn: latest.toLsn, time: latest.toTime } : null,
  };
}

/** A stretch no base reaches: between one chain's end and the next base (a lost slot, a new chain). */
export interface UnrestorableSpan {
  fromLsn: string;
  fromTime: string;
  toLsn: string;
  toTime: string;
  /** The base that starts again at `toLsn`. */
  nextBase: string;
}

/** The spans between the window's ranges that no restore can reach (sorted by LSN). */
export function unrestorableSpans(window: RestorableWindow): UnrestorableSpan[] {
  const spans: UnrestorableSpan[] = [];
  let reach: { lsn: Lsn; text: string; time: string } | null = null;
  for (const r of [...window.ranges].sort((a, b) => (parseLsn(a.fromLsn) < parseLsn(b.fromLsn) ? -1 : 1))) {
    const from = parseLsn(r.fromLsn);
    if (reach && from > reach.lsn) spans.push({ fromLsn: reach.text, fromTime: reach.time, toLsn: r.fromLsn, toTime: r.fromTime, nextBase: r.baseId });
    const to = parseLsn(r.toLsn);
    if (!reach || to > reach.lsn) reach = { lsn: to, text: r.toLsn, time: r.toTime };
  }
  return spans;
}

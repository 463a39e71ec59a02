/**
 * Restore planning: which base, which segments in which order, where to stop. Pure: it reads
 * the catalog only, so it plans from what was recorded (sealed segments), not from the open
 * `.partial`. The applier replays every transaction with commit LSN > base LSN (docs/design.md invariant 1)
 * and stops at `stopAt`; for a time or xid target the planner knows only each segment's commit
 * time range, so it includes enough segments and the applier finds the exact stop.
 */
import { PlanError } from '../../errors';
import { chainFrom, type ChainBreak } from '../catalog/catalog';
import type { BaseEntry, Catalog, SegmentEntry } from '../catalog/schema';
import { formatLsn, parseLsn, type Lsn } from '../lsn';
import { normalizeTime, timeToMicros } from '../segment/commit-time';

export type RestoreTarget =
  | { kind: 'latest' }
  | { kind: 'lsn'; lsn: string; inclusive: boolean }
  | { kind: 'time'; time: string; inclusive: boolean }
  | { kind: 'xid'; xid: number; inclusive: boolean };

export interface RestorePlan {
  base: BaseEntry;
  /** Segments to replay, in LSN order. */
  segments: SegmentEntry[];
  /** The base LSN: replay transactions with commit LSN greater than this. */
  startLsn: string;
  /** Where the applier stops (time targets normalized to canonical UTC). */
  stopAt: RestoreTarget;
  /** The LSN the restore reaches when the target is `latest` or an LSN. */
  expectedLastLsn?: string;
  /** Facts worth showing to the person restoring. */
  notes: string[];
}

export interface PlanOptions {
  fromBaseId?: string;
}

function fail(message: string, hints: string[]): never {
  throw new PlanError(message, { hint: hints.join('\nhint: ') });
}

function describeBreak(b: ChainBreak): string {
  return b.kind === 'gap'
    ? `gap in the chain between ${b.fromLsn} and ${b.toLsn} (after ${b.after}, before ${b.before})`
    : `segments overlap between ${b.fromLsn} and ${b.toLsn} (${b.after} and ${b.before})`;
}

/** True when the base cannot serve the target because it was taken after it. */
function baseAfterTarget(base: BaseEntry, target: RestoreTarget): boolean {
  if (target.kind === 'lsn') return parseLsn(base.lsn) > parseLsn(target.lsn);
  if (target.kind === 'time') return timeToMicros(base.takenAt) > timeToMicros(target.time);
  return false;
}

function chooseBase(catalog: Catalog, target: RestoreTarget, options: PlanOptions): BaseEntry {
  const bases = [...catalog.bases].sort((a, b) => (parseLsn(a.lsn) < parseLsn(b.lsn) ? -1 : 1));
  if (bases.length === 0) {
    fail(`no base backup in the catalog of ${catalog.chain.systemIdentifier}-${catalog.chain.database}`, [
      'take one with: pgincr backup full',
      'if base folders exist on disk, rebuild the catalog from the files',
    ]);
  }
  if (options.fromBaseId !== undefined) {
    const base = bases.find((b) => b.id === options.fromBaseId);
    if (!base) fail(`no base backup with id ${options.fromBaseId}`, [`known bases: ${bases.map((b) => b.id).join(', ')}`]);
    if (baseAfterTarget(base, target)) {
      fail(`base ${base.id} (lsn ${base.lsn}, taken ${base.takenAt}) is after the target ${describeTarget(target)}`, [
        'choose an older base with --from-base, or leave it out to pick one',
      ]);
    }
    return base;
  }
  if (target.kind === 'xid') {
    // Xids are not in the catalog: start from the oldest base whose chain is unbroken, so the
    // transaction is found if the repository holds it at all.
    const unbroken = bases.find((b) => !chainFrom(catalog, parseLsn(b.lsn)).broken);
    return unbroken ?? (bases[0] as BaseEntry);
  }
  const candidates = bases.filter((b) => !baseAfterTarget(b, target));
  const base = candidates.at(-1);
  if (!base) {
    const oldest = bases[0] as BaseEntry;
    fail(`target ${describeTarget(target)} is before the oldest base backup ${oldest.id} (lsn ${oldest.lsn}, taken ${oldest.takenAt})`, [
      `the earliest restorable point is ${oldest.takenAt} (lsn ${oldest.lsn})`,
    ]);
  }
  return base;
}

function describeTarget(target: RestoreTarget): string {
  switch (target.kind) {
    case 'latest':
      return 'latest';
    case 'lsn':
      return `lsn ${target.lsn}`;
    case 'time':
      return `time ${target.time}`;
    case 'xid':
      return `xid ${target.xid}`;
  }
}

/** Keeps the segments up to and including the first one for which `reached` holds; null if none does. */
function upTo(segments: SegmentEntry[], reached: (s: SegmentEntry) => boolean): SegmentEntry[] | null {
  const i = segments.findIndex(reached);
  return i === -1 ? null : segments.slice(0, i + 1);
}

function normalizeTarget(target: RestoreTarget): RestoreTarget {
  if (target.kind === 'time') return { ...target, time: normalizeTime(target.time) };
  if (target.kind === 'lsn') return { ...target, lsn: formatLsn(parseLsn(target.lsn)) };
  return target;
}

/**
 * Plans a restore. Throws {@link PlanError} with hint lines when there is no base at or before
 * the target, the target is before the oldest base, a gap or overlap stands between the base
 * and the target (named by LSN), or the target lies beyond the last sealed segment.
 */
export function planRestore(catalog: Catalog, target: RestoreTarget, options: PlanOptions = {}): RestorePlan {
  const stopAt = normalizeTarget(target);
  const base = chooseBase(catalog, stopAt, options);
  const baseLsn = parseLsn(base.lsn);
  const run = chainFrom(catalog, baseLsn, `base ${base.id}`);
  const reachable = formatLsn(run.endLsn);
  const lastTime = run.segments.at(-1)?.lastCommitTime ?? base.takenAt;
  const brokenHint = run.broken
    ? [
        describeBreak(run.broken),
        `from base ${base.id} the chain reaches ${reachable}; restore --to-lsn ${reachable} at most, or from a base after ${run.broken.toLsn}`,
      ]
    : [
        `the last sealed segment ends at ${reachable} (last commit ${lastTime})`,
        'rotate the capture (pgincr capture rotate) to seal the open segment, then plan again; or restore to latest',
      ];
  const beyond = (what: string): never => fail(`${what} is beyond what the repository holds from base ${base.id}`, brokenHint);
  const notes: string[] = [];
  let segments: SegmentEntry[];
  let expectedLastLsn: Lsn | undefined;

  switch (stopAt.kind) {
    case 'latest':
      if (run.broken) fail(`cannot restore to latest from base ${base.id}: ${describeBreak(run.broken)}`, brokenHint.slice(1));
      segments = run.segments;
      expectedLastLsn = run.endLsn;
      break;
    case 'lsn': {
      const lsn = parseLsn(stopAt.lsn);
      segments = lsn <= baseLsn ? [] : (upTo(run.segments, (s) => parseLsn(s.endLsn) >= lsn) ?? beyond(`target lsn ${stopAt.lsn}`));
      expectedLastLsn = lsn;
      break;
    }
    case 'time': {
      const t = timeToMicros(stopAt.time);
      segments = upTo(run.segments, (s) => timeToMicros(s.lastCommitTime) >= t) ?? beyond(`target time ${stopAt.time}`);
      break;
    }
    case 'xid':
      segments = run.segments;
      if (run.broken) notes.push(`${describeBreak(run.broken)}: xid ${stopAt.xid} is searched up to ${reachable} only`);
      notes.push(`the applier replays until it commits xid ${stopAt.xid}; it fails if the xid is not found`);
      break;
  }
  return {
    base,
    segments,
    startLsn: base.lsn,
    stopAt,
    ...(expectedLastLsn !== undefined ? { expectedLastLsn: formatLsn(expectedLastLsn) } : {}),
    notes,
  };
}

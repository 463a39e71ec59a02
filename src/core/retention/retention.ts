/**
 * Retention: which bases and segments may be deleted. Pure; `nowMs` is a parameter.
 *
 * Bases kept:
 * - every base younger than `fullDays`;
 * - the first base of each calendar month (UTC) among the last `monthlyForMonths` months,
 *   the current month counting as the first;
 * - always the newest base, whatever its age (a chain never loses its last base).
 * Segments kept:
 * - every segment whose last commit is younger than `segmentsDays`;
 * - every segment a retained base needs to reach the next base or the latest point: every
 *   segment with `endLsn` > the oldest retained base's LSN (as pgBackRest keeps the WAL of
 *   every retained backup by default). Only segments wholly before that base can go;
 * - every segment after a kept one: what goes is a prefix of the chain.
 */
import type { Catalog } from '../catalog/schema';
import { parseLsn } from '../lsn';
import { timeToMs } from '../segment/commit-time';

export interface RetentionPolicy {
  segmentsDays: number;
  fullDays: number;
  monthlyForMonths: number;
}

export interface Expirable {
  bases: { id: string; reason: string }[];
  segments: { file: string; reason: string }[];
}

const DAY_MS = 86_400_000;

/** Months since year 0 of a UTC time, for "same month" and "months ago". */
function monthIndex(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

function keptBaseIds(catalog: Catalog, policy: RetentionPolicy, nowMs: number): Set<string> {
  const bases = [...catalog.bases].sort((a, b) => timeToMs(a.takenAt) - timeToMs(b.takenAt));
  const kept = new Set<string>();
  const currentMonth = monthIndex(nowMs);
  const monthsSeen = new Set<number>();
  for (const base of bases) {
    const taken = timeToMs(base.takenAt);
    if (nowMs - taken < policy.fullDays * DAY_MS) kept.add(base.id);
    const month = monthIndex(taken);
    if (!monthsSeen.has(month)) {
      monthsSeen.add(month);
      if (currentMonth - month < policy.monthlyForMonths) kept.add(base.id);
    }
  }
  const newest = bases.at(-1);
  if (newest) kept.add(newest.id);
  return kept;
}

/** Lists what the policy allows to delete, each with the reason. Never empties a chain of bases. */
export function expirable(catalog: Catalog, policy: RetentionPolicy, nowMs: number): Expirable {
  const kept = keptBaseIds(catalog, policy, nowMs);
  const bases = catalog.bases
    .filter((b) => !kept.has(b.id))
    .map((b) => ({
      id: b.id,
      reason: `taken ${b.takenAt}: older than ${policy.fullDays} days and not the first base of a month in the last ${policy.monthlyForMonths} months`,
    }));
  const retained = catalog.bases.filter((b) => kept.has(b.id));
  const oldest = retained.reduce<(typeof retained)[number] | undefined>((best, b) => (!best || parseLsn(b.lsn) < parseLsn(best.lsn) ? b : best), undefined);
  if (!oldest) return { bases, segments: [] };
  const floor = parseLsn(oldest.lsn);
  // A prefix of the chain only (in end LSN order, up to the first segment kept): deleting never
  // opens a hole, and the catalog records the deletion as one LSN (core/catalog, `expired`).
  const byEnd = [...catalog.segments].sort((a, b) => (parseLsn(a.endLsn) < parseLsn(b.endLsn) ? -1 : parseLsn(a.endLsn) > parseLsn(b.endLsn) ? 1 : 0));
  const firstKept = byEnd.findIndex((s) => !(parseLsn(s.endLsn) <= floor && nowMs - timeToMs(s.lastCommitTime) >= policy.segmentsDays * DAY_MS));
  const segments = (firstKept < 0 ? byEnd : byEnd.slice(0, firstKept)).map((s) => ({
    file: s.file,
    reason: `ends at ${s.endLsn}, at or before the oldest retained base ${oldest.id} (lsn ${oldest.lsn}), last commit ${s.lastCommitTime} older than ${policy.segmentsDays} days`,
  }));
  return { bases, segments };
}

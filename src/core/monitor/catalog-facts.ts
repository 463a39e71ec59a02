/**
 * The few catalog facts the health check needs, read from the catalog's shape structurally so
 * this module does not depend on the catalog schema's details. Pure.
 */

/** The parts of the catalog the health check reads (a subset of the catalog file). */
export interface CatalogLike {
  bases?: readonly { takenAt: string }[];
  segments?: readonly { lastCommitTime?: string | null; sealedAt?: string | null }[];
  verifications?: readonly {
    at?: string;
    finishedAt?: string;
    ok?: boolean;
    passed?: boolean;
    mismatches?: readonly string[];
    detail?: string;
    error?: string;
    tables?: readonly string[];
  }[];
}

export interface CatalogFacts {
  lastSegmentAtMs: number | null;
  lastBaseAtMs: number | null;
  lastVerify: { atMs: number; ok: boolean; detail?: string } | null;
}

function latest(times: (string | null | undefined)[]): number | null {
  const ms = times.map((t) => (t ? Date.parse(t) : NaN)).filter((n) => Number.isFinite(n));
  return ms.length ? Math.max(...ms) : null;
}

/**
 * Newest sealed segment (its last commit time, else its sealing time), newest base, and the
 * newest verification with its outcome (`ok`, or `passed`) and what differed (`mismatches`).
 */
export function catalogFacts(catalog: CatalogLike): CatalogFacts {
  const lastSegmentAtMs = latest((catalog.segments ?? []).map((s) => s.lastCommitTime ?? s.sealedAt));
  const lastBaseAtMs = latest((catalog.bases ?? []).map((b) => b.takenAt));
  let lastVerify: CatalogFacts['lastVerify'] = null;
  for (const v of catalog.verifications ?? []) {
    // A partial verification (some tables only) that passed does not prove the chain restores; one that failed shows a problem.
    if (v.tables?.length && (v.ok ?? v.passed) === true) continue;
    const atMs = Date.parse(v.finishedAt ?? v.at ?? '');
    if (!Number.isFinite(atMs) || (lastVerify && lastVerify.atMs >= atMs)) continue;
    const detail = v.detail ?? v.error ?? (v.mismatches?.length ? `${v.mismatches.length} mismatches: ${v.mismatches.slice(0, 3).join(', ')}` : undefined);
    lastVerify = { atMs, ok: (v.ok ?? v.passed) === true, ...(detail ? { detail } : {}) };
  }
  return { lastSegmentAtMs, lastBaseAtMs, lastVerify };
}

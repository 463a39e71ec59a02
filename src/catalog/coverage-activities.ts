/**
 * Making an LSN restorable: a full backup or a checkpoint fixes an LSN after which there may be
 * no transaction yet, and the restore planner only trusts sealed segments. `writeMarker` puts a
 * sentinel transaction into the stream (a `pgincr.markers` row, rendered as a comment line),
 * the capture is asked to rotate, and `waitForSegmentCoverage` polls the catalog until a sealed
 * segment ends at or after the LSN.
 */
import type { PgincrActivities, SegmentCoverage } from '../activities/types';
import { cancellationSignal, chainDirFor, heartbeat, profileByName, type ActivityDeps } from '../activities/context';
import { withProfileClient } from '../activities/profiles';
import { repositoryCatalog, requestRotation } from '../activities/object-store';
import { slotInfo } from '../adapters/pg/slot';
import { formatLsn, parseLsn } from '../core/lsn';
import type { Catalog } from '../core/catalog/schema';

type CoverageActivities = Pick<PgincrActivities, 'writeMarker' | 'waitForSegmentCoverage'>;

/** How often the catalog is read while waiting. */
const POLL_MS = 500;
/** A capture slot inactive this long means no capture is running: stop waiting. */
const INACTIVE_GRACE_MS = 15_000;
/** Rotation is requested again this often while the LSN is not covered (a request may race the marker). */
const REROTATE_MS = 10_000;

/** The sealed segment that reaches `lsn` (endLsn >= lsn), and how far the sealed segments go. */
export function coverageOf(catalog: Catalog | null, lsn: string): SegmentCoverage {
  const target = parseLsn(lsn);
  const segments = catalog?.segments ?? [];
  const hit = segments.find((s) => parseLsn(s.endLsn) >= target);
  const sealedEnd = segments.reduce<bigint | null>((max, s) => (max === null || parseLsn(s.endLsn) > max ? parseLsn(s.endLsn) : max), null);
  return {
    lsn,
    covered: hit !== undefined,
    sealedEndLsn: sealedEnd === null ? null : formatLsn(sealedEnd),
    ...(hit ? { segment: hit.file } : {}),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function coverageActivities(deps: ActivityDeps): CoverageActivities {
  const slot = deps.config.capture.slot;

  async function slotActive(profile: string): Promise<boolean> {
    return withProfileClient(deps, profile, async (client) => (await slotInfo(client, slot))?.active === true);
  }

  return {
    async writeMarker({ profile, kind, lsn, note }) {
      return withProfileClient(deps, profile, async (client) => {
        const { rows } = await client.query<{ ok: boolean }>("SELECT pg_catalog.to_regclass('pgincr.markers') IS NOT NULL AS ok");
        if (!rows[0]?.ok) {
          deps.logger.warn({ profile, kind, lsn }, 'no pgincr.markers table (capture schema older than version 3): no marker written');
          return { written: false, lsn: null };
        }
        await client.query('BEGIN');
        try {
          await client.query('SELECT pgincr.write_marker($1, $2::pg_lsn, $3)', [kind, lsn, note]);
          const r = await client.query<{ lsn: string }>('SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn');
          await client.query('COMMIT');
          deps.logger.info({ profile, kind, lsn, note, markerLsn: r.rows[0]?.lsn }, 'marker written');
          return { written: true, lsn: r.rows[0]?.lsn ?? null };
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      });
    },

    async waitForSegmentCoverage({ profile, lsn, timeoutMs }) {
      profileByName(deps.config, profile);
      const chain = await chainDirFor(deps, profile);
      const started = Date.now();
      let inactiveSince: number | null = null;
      let lastRotation = started;
      for (;;) {
        const coverage = coverageOf(await repositoryCatalog(deps.config, chain), lsn); // the bucket's, with an object store
        heartbeat({ waitingFor: lsn, sealedEndLsn: coverage.sealedEndLsn });
        if (coverage.covered || timeoutMs <= 0) return coverage;
        const now = Date.now();
        if (now - started >= timeoutMs) {
          return { ...coverage, reason: `timed out after ${timeoutMs} ms: the sealed segments end at ${coverage.sealedEndLsn ?? '(none)'}` };
        }
        if (await slotActive(profile)) inactiveSince = null;
        else if (inactiveSince === null) inactiveSince = now;
        else if (now - inactiveSince >= INACTIVE_GRACE_MS) {
          return {
            ...coverage,
            reason: `no capture is running (slot ${slot} inactive for ${INACTIVE_GRACE_MS / 1000} s): the sealed segments end at ${coverage.sealedEndLsn ?? '(none)'}`,
          };
        }
        if (now - lastRotation >= REROTATE_MS) {
          lastRotation = now;
          await requestRotation(deps.config, chain);
        }
        cancellationSignal()?.throwIfAborted();
        await sleep(POLL_MS);
      }
    },
  };
}

/**
 * The verify activities: checksums of a restored database against a recorded point, checkpoints
 * (checksums at an LSN without a dump), and which point a verification run restores to.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PgincrActivities } from '../activities/types';
import { chainDirFor, profileByName, withTimerHeartbeat, type ActivityDeps } from '../activities/context';
import type { Profile } from '../config';
import { addCheckpoint, addVerification, emptyCatalog } from '../core/catalog/catalog';
import { selectVerification } from '../core/verify/select-verification';
import { loadOrRebuildCatalog, rebuildCatalog, updateCatalog } from '../adapters/fs/catalog-store';
import { databaseChecksums } from '../adapters/pg/checksums';
import { checkpointRelPath } from '../core/repository/paths';
import { parseLsn } from '../core/lsn';
import { recordVerification } from '../monitor/activity-metrics';
import { takeCheckpoint, verifyTarget } from './verify-target';
import type { ChecksumFile } from '../core/verify/compare';
import { checksumKey } from '../core/restore/table-selection';

type VerifyActivities = Pick<PgincrActivities, 'verifyTarget' | 'takeCheckpoint' | 'planVerification' | 'recordVerification'>;

const onDb = (profile: Profile, dbname: string): Profile => ({ ...profile, dbname });

/** A partial restore's tables: those named, and every expected table of the chosen schemas (created after the base too). */
function onlyTables(expected: ChecksumFile, tables: readonly string[], schemas: readonly string[]): string[] {
  const prefixes = schemas.map((s) => checksumKey({ schema: s, name: '' }).slice(0, -2));
  return [...new Set([...tables, ...Object.keys(expected.tables).filter((k) => prefixes.some((p) => k.startsWith(p)))])];
}

export function verifyActivities(deps: ActivityDeps): VerifyActivities {
  const profileOf = (name: string) => profileByName(deps.config, name);

  return {
    async verifyTarget({ targetProfile, targetDb, checksumsFile, tables, schemas, sequences }) {
      const target = onDb(profileOf(targetProfile), targetDb);
      if (!checksumsFile) {
        const sums = await withTimerHeartbeat(
          () => ({ step: 'checksums' }),
          () => databaseChecksums(target),
        );
        const rowCounts = Object.fromEntries(Object.entries(sums.tables).map(([t, v]) => [t, String((v as { rows: unknown }).rows)]));
        return { ok: true, compared: false, tables: Object.keys(rowCounts).length, mismatches: [], rowCounts };
      }
      const expected = JSON.parse(await readFile(checksumsFile, 'utf8')) as ChecksumFile;
      const r = await withTimerHeartbeat(
        () => ({ step: 'verify' }),
        () =>
          verifyTarget(
            target,
            expected,
            tables ? { onlyTables: onlyTables(expected, tables, schemas ?? []), ...(sequences ? { onlySequences: sequences } : {}) } : {},
          ),
      );
      return {
        ok: r.ok,
        compared: true,
        tables: r.tablesChecked,
        ...(sequences ? { sequences: r.sequencesChecked } : {}),
        mismatches: r.mismatches.map((m) => ({ table: m.name, expected: String(m.expected), actual: String(m.actual) })),
        rowCounts: {},
      };
    },

    async takeCheckpoint({ profile }) {
      const chain = await chainDirFor(deps, profile);
      const r = await withTimerHeartbeat(
        () => ({ step: 'checkpoint' }),
        () => takeCheckpoint(profileOf(profile), chain),
      );
      const takenAt = new Date().toISOString();
      await updateCatalog(chain, async (catalog) =>
        addCheckpoint(catalog ?? (await rebuildCatalog(chain)), { lsn: r.lsn, takenAt, file: checkpointRelPath(parseLsn(r.lsn)) }),
      );
      return { lsn: r.lsn, file: r.path };
    },

    async planVerification({ profile, checkpoint }) {
      const chain = await chainDirFor(deps, profile);
      const selected = selectVerification(await loadOrRebuildCatalog(chain), { checkpoint });
      return selected ? { fromBase: selected.fromBase, toLsn: selected.toLsn, checksumsFile: join(chain, selected.checksumsFile) } : null;
    },

    async recordVerification({ profile, fromBase, toLsn, ok, mismatches, tables }) {
      const chain = await chainDirFor(deps, profile);
      await updateCatalog(chain, (catalog) =>
        addVerification(catalog ?? emptyCatalog('0', 'unknown'), {
          at: new Date().toISOString(),
          fromBase,
          toLsn,
          ok,
          ...(mismatches.length ? { mismatches } : {}),
          ...(tables?.length ? { tables } : {}),
        }),
      );
      if (!ok) deps.logger.error({ chain, fromBase, toLsn, mismatches, ...(tables?.length ? { tables } : {}) }, 'verification failed');
      // The metric says whether the chain restores: a partial verification that passed does not prove it.
      if (!tables?.length || !ok) recordVerification(deps.metrics, deps.config.capture.slot, ok);
    },
  };
}

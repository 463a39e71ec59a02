/** The retention activity: expires bases and segments by policy, never what a retained restore point needs. */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PgincrActivities } from '../activities/types';
import { chainDirFor, type ActivityDeps } from '../activities/context';
import { expirable } from '../core/retention/retention';
import { removeEntries } from '../core/catalog/catalog';
import { baseDir } from '../core/repository/paths';
import { loadOrRebuildCatalog, rebuildCatalog, updateCatalog } from '../adapters/fs/catalog-store';

type RetentionActivities = Pick<PgincrActivities, 'applyRetention'>;

export function retentionActivities(deps: ActivityDeps): RetentionActivities {
  const { config } = deps;
  return {
    async applyRetention({ profile, dryRun }) {
      const chain = await chainDirFor(deps, profile);
      let catalog = await loadOrRebuildCatalog(chain);
      let plan = expirable(catalog, config.retention, Date.now());
      if (!dryRun) {
        // Catalog first: a crash after it leaves unreferenced files (harmless), never dangling entries.
        // Planned and removed under the catalog lock, so a segment recorded meanwhile is kept.
        await updateCatalog(chain, async (current) => {
          catalog = current ?? (await rebuildCatalog(chain));
          plan = expirable(catalog, config.retention, Date.now());
          return removeEntries(catalog, { bases: plan.bases.map((b) => b.id), segments: plan.segments.map((s) => s.file) });
        });
      }
      const removed = [...plan.bases.map((b) => `base ${b.id}: ${b.reason}`), ...plan.segments.map((s) => `segment ${s.file}: ${s.reason}`)];
      if (!dryRun) {
        for (const b of plan.bases) await rm(baseDir(chain, b.id), { recursive: true, force: true });
        for (const s of plan.segments) await rm(join(chain, s.file), { force: true });
      }
      deps.logger.info({ chain, dryRun, removed: removed.length }, 'retention applied');
      return { removed, kept: catalog.bases.length + catalog.segments.length - removed.length };
    },
  };
}

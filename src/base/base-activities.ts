/** The base-backup activities (a full backup's steps), adapted to the workflow-facing signatures. */
import { join } from 'node:path';
import type { PgincrActivities } from '../activities/types';
import { activityContext, cancellationSignal, chainDirFor, heartbeat, withTimerHeartbeat, type ActivityDeps } from '../activities/context';
import { takeBase, writeMetadata } from './take-base';
import { dumpGlobals } from './dump-globals';
import { recordFullBackup } from '../monitor/activity-metrics';
import { baseDir } from '../core/repository/paths';
import { loadCatalog } from '../adapters/fs/catalog-store';

type BaseActivities = Pick<PgincrActivities, 'takeBase' | 'dumpGlobals' | 'writeMetadata'>;

/** The base folder of `baseId` ('latest' = the newest base in the catalog). */
async function resolveBaseDir(deps: ActivityDeps, profile: string, baseId: string): Promise<string> {
  const chain = await chainDirFor(deps, profile);
  if (baseId !== 'latest') return baseDir(chain, baseId);
  const catalog = await loadCatalog(chain);
  const newest = catalog?.bases.at(-1);
  if (!newest) throw new Error(`no base in ${chain} yet: run pgincr setup first`);
  return join(chain, newest.dir);
}

export function baseActivities(deps: ActivityDeps): BaseActivities {
  return {
    async takeBase({ profile, temporarySlot }) {
      const ctx = activityContext();
      const beat = setInterval(() => heartbeat({ phase: 'dump' }), 10_000);
      try {
        const r = await takeBase(deps, {
          profile,
          temporary: temporarySlot,
          signal: ctx?.cancellationSignal,
          onProgress: (p) => heartbeat(p),
        });
        recordFullBackup(deps.metrics, deps.config.capture.slot);
        return { baseId: r.baseId, lsn: r.lsn, dir: r.dir, bytes: r.bytes, tables: r.tables };
      } finally {
        clearInterval(beat);
      }
    },
    async dumpGlobals({ profile, baseId }) {
      const dir = await resolveBaseDir(deps, profile, baseId);
      return withTimerHeartbeat(
        () => ({ step: 'globals' }),
        () => dumpGlobals(deps, { profile, baseDir: dir, signal: cancellationSignal() }),
      );
    },
    async writeMetadata({ profile, baseId }) {
      return writeMetadata(deps, { profile, baseDir: await resolveBaseDir(deps, profile, baseId) });
    },
  };
}

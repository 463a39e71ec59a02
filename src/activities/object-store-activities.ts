/**
 * Stateless workers with an object-store repository (docs/s3-repository.md): each activity that
 * reads the repository first pulls what this worker's folder lacks from the bucket; each one that
 * writes to it pushes what the bucket lacks when it is done. Paths that came from another worker
 * (a restore plan's chain folder and checksums file) are mapped into this worker's folder. The
 * capture does its own uploads (segment by segment, before acknowledging: capture-activities.ts).
 * Without an object store the activities are returned as they are.
 */
import { basename } from 'node:path';
import type { CliOnlyActivities, PgincrActivities, RestorePlanResult } from './types';
import type { ActivityDeps } from './context';
import { chainDirFor } from './chain-dir';
import { checkRepositoryKey, localChainPath, objectStoreOf, pullFromObjectStore, pushToObjectStore } from './object-store';
import { loadCatalog } from '../adapters/fs/catalog-store';
import { deleteExpiredObjects, loadStoredCatalog, storeCatalog } from '../adapters/s3/chain-mirror';
import { withExpired } from '../core/catalog/catalog';

type Activities = PgincrActivities & CliOnlyActivities;
type Name = keyof Activities;

/** Read the chain: pulled first, base dumps left in the bucket. */
const READS_WITHOUT_DUMPS: Name[] = ['inspectSetup', 'takeBase', 'planVerification', 'takeCheckpoint', 'recordVerification', 'applyRetention'];
/** Read the chain with its base dumps (a restore plan checks every file it needs; a rebuild sizes the bases). */
const READS_ALL: Name[] = ['planRestore', 'rebuildCatalog'];
/** Restore and verify start here: with an encrypted repository they refuse a wrong or missing key before anything else. */
const CHECKS_KEY: Name[] = ['planRestore', 'planVerification'];
/** Write to the chain: what the bucket lacks is pushed after. */
const WRITES: Name[] = ['takeBase', 'dumpGlobals', 'writeMetadata', 'takeCheckpoint', 'recordVerification'];
/** Take a restore plan made on any worker: its paths are mapped into this worker's folder, the files pulled. */
const TAKES_PLAN: Name[] = ['restoreGlobals', 'restoreBase', 'applySegments'];

type AnyActivity = (input: Record<string, unknown>) => Promise<unknown>;

export function withObjectStore(deps: ActivityDeps, activities: Activities): Activities {
  const { config } = deps;
  const store = objectStoreOf(config);
  if (!store) return activities;
  const wrapped: Record<string, AnyActivity> = { ...(activities as unknown as Record<string, AnyActivity>) };
  const wrap = (name: Name, around: (input: Record<string, unknown>, run: (input: Record<string, unknown>) => Promise<unknown>) => Promise<unknown>) => {
    const inner = wrapped[name]!;
    wrapped[name] = (input) => around(input, inner);
  };
  const chainOf = (input: Record<string, unknown>) => chainDirFor(deps, input.profile as string);

  for (const name of new Set([...READS_WITHOUT_DUMPS, ...READS_ALL, ...WRITES])) {
    wrap(name, async (input, run) => {
      const chain = await chainOf(input);
      if (CHECKS_KEY.includes(name)) await checkRepositoryKey(config, chain);
      if (READS_ALL.includes(name)) await pullFromObjectStore(config, chain, { log: deps.logger });
      else if (READS_WITHOUT_DUMPS.includes(name)) await pullFromObjectStore(config, chain, { withoutDumps: true, log: deps.logger });
      const result = await run(input);
      if (WRITES.includes(name)) await pushToObjectStore(config, chain);
      return result;
    });
  }
  // A rebuilt catalog replaces the bucket's (a merge would keep entries of files that are gone);
  // it keeps the bucket's record of what retention expired, so stale copies stay out.
  wrap('rebuildCatalog', async (input, run) => {
    const result = await run(input);
    const chain = await chainOf(input);
    await pushToObjectStore(config, chain);
    const rebuilt = await loadCatalog(chain);
    const stored = await loadStoredCatalog(store, basename(chain)).catch(() => null); // a damaged one is what a rebuild replaces
    if (rebuilt) await storeCatalog(store, basename(chain), withExpired(rebuilt, stored?.expired), { replace: true });
    return result;
  });
  // Retention (pulled first, above) removed the entries from the local catalog and recorded them as
  // expired: merged into the bucket's catalog (conditional writes: a segment another worker
  // uploads meanwhile stays), then the expired objects are deleted, catalog first as on disk.
  wrap('applyRetention', async (input, run) => {
    const result = await run(input);
    if (input.dryRun) return result;
    const chain = await chainOf(input);
    const local = await loadCatalog(chain);
    if (local) await storeCatalog(store, basename(chain), local);
    const deleted = await deleteExpiredObjects(store, basename(chain));
    deps.logger.info({ chain, deleted: deleted.length }, 'retention applied to the bucket');
    return result;
  });
  for (const name of TAKES_PLAN) {
    wrap(name, async (input, run) => {
      const plan = input.plan as RestorePlanResult;
      const local: RestorePlanResult = {
        ...plan,
        chainDir: localChainPath(config, plan.chainDir),
        ...(plan.expectedChecksumsFile ? { expectedChecksumsFile: localChainPath(config, plan.expectedChecksumsFile) } : {}),
      };
      await pullFromObjectStore(config, local.chainDir, { withoutDumps: name !== 'restoreBase', log: deps.logger });
      return run({ ...input, plan: local });
    });
  }
  wrap('verifyTarget', async (input, run) => {
    const file = input.checksumsFile as string | undefined;
    if (!file) return run(input);
    const local = localChainPath(config, file);
    await pullFromObjectStore(config, local.replace(/\/(base|checkpoints)\/.*$/, ''), { withoutDumps: true, log: deps.logger }); // its chain folder
    return run({ ...input, checksumsFile: local });
  });
  return wrapped as unknown as Activities;
}

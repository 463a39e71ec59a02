/** The setup and base-backup activities, adapted to the workflow-facing signatures. */
import { join } from 'node:path';
import type { PgincrActivities } from '../activities/types';
import { activityContext, cancellationSignal, chainDirFor, heartbeat, profileByName, withTimerHeartbeat, type ActivityDeps } from '../activities/context';
import * as setup from './setup';
import { runPreflight } from './preflight';
import { recordFullBackup } from '../monitor/activity-metrics';
import { baseDir } from '../core/repository/paths';
import { loadCatalog } from '../adapters/fs/catalog-store';

type SetupActivities = Pick<PgincrActivities,
  'preflight' | 'inspectSetup' | 'installCaptureSchema' | 'fixReplicaIdentity' | 'ensurePublication' | 'dropChainSlot' |
  'takeBase' | 'dumpGlobals' | 'writeMetadata'>;

/** The base folder of `baseId` ('latest' = the newest base in the catalog). */
async function resolveBaseDir(deps: ActivityDeps, profile: string, baseId: string): Promise<string> {
  const chain = await chainDirFor(deps, profile);
  if (baseId !== 'latest') return baseDir(chain, baseId);
  const catalog = await loadCatalog(chain);
  const newest = catalog?.bases.at(-1);
  if (!newest) throw new Error(`no base in ${chain} yet: run pgincr setup first`);
  return join(chain, newest.dir);
}

export function setupActivities(deps: ActivityDeps): SetupActivities {
  return {
    async preflight({ profile }) {
      const report = await runPreflight(profileByName(deps.config, profile), { decoder: deps.config.capture.decoder, slot: deps.config.capture.slot },
        { repository: deps.config.repository, pgDump: true });
      return { profile, ready: report.ready, exitCode: report.exitCode, findings: report.findings, server: report.server };
    },
    async inspectSetup({ profile }) {
      const s = await setup.inspectSetup(deps, { profile });
      return { systemIdentifier: s.systemIdentifier, database: s.database, chainDir: s.chainDir, alreadySetUp: s.alreadySetUp, slot: s.slot, publication: s.publication };
    },
    async installCaptureSchema({ profile }) {
      const r = await setup.installCaptureSchema(deps, { profile });
      return { version: r.version };
    },
    async fixReplicaIdentity({ profile }) {
      const rows = await setup.fixReplicaIdentity(deps, { profile, apply: deps.config.setup.fixReplicaIdentity });
      return rows.map((r) => ({ table: r.table, action: r.error ? `${r.action} (error: ${r.error})` : r.action }));
    },
    async ensurePublication({ profile }) {
      await setup.ensurePublication(deps, { profile });
    },
    dropChainSlot: ({ profile }) => setup.dropChainSlot(deps, { profile }),
    async takeBase({ profile, temporarySlot }) {
      const ctx = activityContext();
      const beat = setInterval(() => heartbeat({ phase: 'dump' }), 10_000);
      try {
        const r = await setup.takeBase(deps, {
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
      return withTimerHeartbeat(() => ({ step: 'globals' }), () => setup.dumpGlobals(deps, { profile, baseDir: dir, signal: cancellationSignal() }));
    },
    async writeMetadata({ profile, baseId }) {
      return setup.writeMetadata(deps, { profile, baseDir: await resolveBaseDir(deps, profile, baseId) });
    },
  };
}

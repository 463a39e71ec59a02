/** The setup activities, adapted to the workflow-facing signatures (the base's are in src/base/). */
import type { CliOnlyActivities, PgincrActivities } from '../activities/types';
import { profileByName, type ActivityDeps } from '../activities/context';
import * as setup from './setup';
import { runPreflight } from './preflight';

type SetupCliActivities = Pick<CliOnlyActivities, 'uninstall'>;
type SetupActivities = Pick<
  PgincrActivities,
  'preflight' | 'inspectSetup' | 'installCaptureSchema' | 'fixReplicaIdentity' | 'ensurePublication' | 'dropChainSlot'
>;

export function setupActivities(deps: ActivityDeps): SetupActivities & SetupCliActivities {
  return {
    async preflight({ profile }) {
      const report = await runPreflight(
        profileByName(deps.config, profile),
        { decoder: deps.config.capture.decoder, slot: deps.config.capture.slot },
        { repository: deps.config.repository, pgDump: true },
      );
      return { profile, ready: report.ready, exitCode: report.exitCode, findings: report.findings, server: report.server };
    },
    async inspectSetup({ profile }) {
      const s = await setup.inspectSetup(deps, { profile });
      return {
        systemIdentifier: s.systemIdentifier,
        database: s.database,
        chainDir: s.chainDir,
        alreadySetUp: s.alreadySetUp,
        slotLost: s.slotLost,
        slot: s.slot,
        publication: s.publication,
      };
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
    async uninstall({ profile, confirm }) {
      const dbname = profileByName(deps.config, profile).dbname ?? process.env.PGDATABASE;
      if (confirm !== dbname) throw new Error(`refusing to uninstall: --confirm ${confirm} does not match the profile's database ${dbname ?? '(unknown)'}`);
      const r = await setup.uninstall(deps, { profile });
      return {
        removed: [
          r.slot ? `slot ${deps.config.capture.slot}` : '',
          r.publication ? `publication ${deps.config.capture.publication}` : '',
          'event triggers',
          'schema pgincr',
        ].filter(Boolean),
      };
    },
  };
}

/**
 * Issue 7: the retention workflow on a repository with several bases (taken by the full backup
 * workflow while the capture runs), through a real Temporal server. Ages are made old by
 * backdating the catalog entries (the policy reads `takenAt` / `lastCommitTime` from there).
 * A dry run lists and deletes nothing; a real run deletes exactly what
 * src/core/retention/retention.ts says; the catalog and the files agree; the newest base still
 * restores to exactly the source.
 */
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, type PgincrTestEnv } from '../../helpers/pgincr-env';
import { BASE_DATA, MIXED_SCHEMA, runStatements, tableSums } from '../../helpers/workload';
import { LOAD_TABLE, baseFolders, chainOf, readCatalog, startLoad, waitSlotCaughtUp } from '../../helpers/backup-fixture';
import { expirable } from '../../../src/core/retention/retention';
import { parseLsn } from '../../../src/core/lsn';
import type { Catalog } from '../../../src/core/catalog/schema';
import type { SetupResult } from '../../../src/workflows/setup';
import type { FullBackupResult } from '../../../src/workflows/full-backup';
import type { RestoreReport } from '../../../src/workflows/restore';
import { stopSignal } from '../../../src/workflows/signals';

jest.setTimeout(300_000);

const POLICY = { segmentsDays: 7, fullDays: 30, monthlyForMonths: 0 };
const DAY_MS = 86_400_000;

/** Every sealed segment file under segments/, relative to the chain folder. */
function segmentFiles(chain: string): string[] {
  const root = join(chain, 'segments');
  const out: string[] = [];
  for (const day of readdirSync(root)) {
    if (day === 'partial' || !statSync(join(root, day)).isDirectory()) continue;
    for (const f of readdirSync(join(root, day))) if (!f.startsWith('.')) out.push(relative(chain, join(root, day, f)));
  }
  return out.sort();
}

describe('retention workflow', () => {
  let pg: PgCluster;
  let env: PgincrTestEnv;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    await runStatements(pg, 'app', [MIXED_SCHEMA, BASE_DATA, LOAD_TABLE]);
    env = pgincrTestEnv(pg, 'app', { retention: POLICY });
  });
  afterAll(async () => {
    env?.cleanup();
    await pg?.stop();
  });

  it('dry run deletes nothing; a real run deletes what the policy says', async () => {
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        const run = <T>(type: string, label: string, args: unknown) =>
          client.workflow.execute(type, { taskQueue, workflowId: temporal.workflowId(label), args: [args] }) as Promise<T>;
        const setup = await run<SetupResult>('setupWorkflow', 'setup', { profile: 'default', startCapture: false });
        const chain = chainOf(env.repository);
        const capture = await client.workflow.start('captureWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('capture'),
          args: [{ profile: 'default', runForMs: 4000 }],
        });
        const load = await startLoad(pg, 'app');
        await load.waitMore(20);
        const second = await run<FullBackupResult>('fullBackupWorkflow', 'full-1', { profile: 'default' });
        await load.waitMore(20);
        const third = await run<FullBackupResult>('fullBackupWorkflow', 'full-2', { profile: 'default' });
        expect([second.coverage.covered, third.coverage.covered]).toEqual([true, true]);
        await load.waitMore(20);
        await load.stop();
        await waitSlotCaughtUp(pg, 'app');
        await capture.signal(stopSignal);
        await capture.result();
        const source = await tableSums(pg, 'app');

        // Backdate: the first base 100 days, the second 60 days; segments before the newest base 60 days.
        const real = readCatalog(chain);
        const ago = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();
        const aged: Catalog = {
          ...real,
          bases: real.bases.map((b) => (b.id === setup.base!.baseId ? { ...b, takenAt: ago(100) } : b.id === second.baseId ? { ...b, takenAt: ago(60) } : b)),
          segments: real.segments.map((s) => (parseLsn(s.endLsn) <= parseLsn(third.lsn) ? { ...s, firstCommitTime: ago(61), lastCommitTime: ago(60) } : s)),
        };
        writeFileSync(join(chain, 'catalog', 'catalog.json'), JSON.stringify(aged, null, 2));
        const expected = expirable(aged, POLICY, Date.now());
        expect(expected.bases.map((b) => b.id)).toEqual([setup.base!.baseId, second.baseId]);
        expect(expected.segments.length).toBeGreaterThan(0);
        expect(expected.segments.length).toBeLessThan(aged.segments.length);
        const described = [...expected.bases.map((b) => `base ${b.id}: ${b.reason}`), ...expected.segments.map((s) => `segment ${s.file}: ${s.reason}`)];

        const filesBefore = segmentFiles(chain);
        const dry = await run<{ removed: string[]; kept: number }>('retentionWorkflow', 'dry', { profile: 'default', dryRun: true });
        expect(dry.removed).toEqual(described);
        expect(readCatalog(chain)).toEqual(aged);
        expect(baseFolders(chain).complete).toEqual(aged.bases.map((b) => b.id));
        expect(segmentFiles(chain)).toEqual(filesBefore);

        const done = await run<{ removed: string[]; kept: number }>('retentionWorkflow', 'real', { profile: 'default', dryRun: false });
        expect(done.removed).toEqual(described);
        const after = readCatalog(chain);
        expect(after.bases.map((b) => b.id)).toEqual([third.baseId]);
        expect(after.segments.map((s) => s.file)).toEqual(aged.segments.map((s) => s.file).filter((f) => !expected.segments.some((e) => e.file === f)));
        expect(done.kept).toBe(after.bases.length + after.segments.length);
        // The catalog and the files agree.
        expect(baseFolders(chain)).toEqual({ complete: [third.baseId], temporary: [] });
        expect(segmentFiles(chain)).toEqual(after.segments.map((s) => s.file).sort());
        for (const s of expected.segments) expect(existsSync(join(chain, s.file))).toBe(false);

        // A second run finds nothing more; the newest base still restores to exactly the source.
        expect((await run<{ removed: string[] }>('retentionWorkflow', 'again', { profile: 'default', dryRun: false })).removed).toEqual([]);
        const restored = await run<RestoreReport>('restoreWorkflow', 'restore', { profile: 'default', targetProfile: 'admin', targetDb: 'after_retention' });
        expect(restored.plan.baseId).toBe(third.baseId);
        expect(await tableSums(pg, 'after_retention')).toEqual(source);
      },
      { activities: env.activities },
    );
  });
});

/**
 * Issue 6: the verify workflow through a real Temporal server, with the capture running under
 * load: checkpoint mode and base-to-base mode verify and are recorded; a tampered checkpoint
 * is reported (naming the table) and recorded as failed; `pgincr verify` exits non-zero then.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal, temporalAddress } from '../../helpers/temporal';
import { pgincrTestEnv, type PgincrTestEnv, runSetupWorkflow } from '../../helpers/pgincr-env';
import { BASE_DATA, MIXED_SCHEMA, runStatements } from '../../helpers/workload';
import { LOAD_TABLE, chainOf, readCatalog, startLoad, waitSlotCaughtUp, type Load } from '../../helpers/backup-fixture';
import type { VerifyReport } from '../../../src/workflows/verify';
import type { FullBackupResult } from '../../../src/workflows/full-backup';
import { stopSignal, type CaptureStatus } from '../../../src/workflows/signals';

jest.setTimeout(300_000);

const ROOT = resolve(__dirname, '../../..');

/** Runs bin/pgincr (asynchronously: the worker runs in this process). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      join(ROOT, 'bin/pgincr'),
      args,
      { cwd: ROOT, env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress() }, timeout: 240_000 },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('verify workflow', () => {
  let pg: PgCluster;
  let env: PgincrTestEnv;
  let configFile: string;
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    await runStatements(pg, 'app', [MIXED_SCHEMA, BASE_DATA, LOAD_TABLE]);
    env = pgincrTestEnv(pg, 'app', { temporal: { taskQueue: temporal.taskQueue } });
    configFile = join(env.repository, 'pgincr.json');
    writeFileSync(configFile, JSON.stringify({ ...env.config, temporal: { ...env.config.temporal, address: temporalAddress() } }));
  });
  afterAll(async () => {
    env?.cleanup();
    await pg?.stop();
  });

  it('verifies checkpoints and bases, reports and records a tampered checkpoint', async () => {
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        const verify = (label: string, checkpoint: boolean) =>
          client.workflow.execute('verifyWorkflow', {
            taskQueue,
            workflowId: temporal.workflowId(label),
            args: [{ profile: 'default', checkpoint, targetProfile: 'admin' }],
          }) as Promise<VerifyReport>;
        const setup = await runSetupWorkflow(temporal);
        const first = setup.base!;
        const chain = chainOf(env.repository);
        const capture = await client.workflow.start('captureWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('capture'),
          args: [{ profile: 'default', runForMs: 4000 }],
        });
        let load: Load | undefined = await startLoad(pg, 'app');
        try {
          await load.waitMore(20);

          // Checkpoint mode: base → a fresh checkpoint, made reachable by the marker + rotation.
          const viaCheckpoint = await verify('verify-checkpoint', true);
          expect(viaCheckpoint).toMatchObject({ ok: true, fromBase: first.baseId, mismatches: [] });
          let catalog = readCatalog(chain);
          expect(catalog.checkpoints.map((c) => c.lsn)).toEqual([viaCheckpoint.toLsn]);
          expect(catalog.verifications.at(-1)).toMatchObject({ ok: true, fromBase: first.baseId, toLsn: viaCheckpoint.toLsn });
          const checkpointSegment = readFileSync(join(chain, catalog.checkpoints[0]!.file), 'utf8');
          expect(JSON.parse(checkpointSegment).lsn).toBe(viaCheckpoint.toLsn);

          // Base-to-base mode: the first base → the new one.
          await load.waitMore(20);
          const second = (await client.workflow.execute('fullBackupWorkflow', {
            taskQueue,
            workflowId: temporal.workflowId('full'),
            args: [{ profile: 'default' }],
          })) as FullBackupResult;
          const baseToBase = await verify('verify-bases', false);
          expect(baseToBase).toMatchObject({ ok: true, fromBase: first.baseId, toLsn: second.lsn });
          expect(readCatalog(chain).verifications.at(-1)).toMatchObject({ ok: true, fromBase: first.baseId, toLsn: second.lsn });

          // The CLI, OK case: a new checkpoint after the second base, exit 0.
          await load.waitMore(20);
          const ok = await cli(['verify', '--checkpoint', '--config', configFile, '--target-profile', 'admin']);
          expect({ code: ok.code, stdout: ok.stdout }).toMatchObject({ code: 0, stdout: expect.stringContaining(`OK: verified (base ${second.baseId}`) });
          catalog = readCatalog(chain);
          const newest = catalog.checkpoints.at(-1)!;
          expect(catalog.verifications.at(-1)).toMatchObject({ ok: true, fromBase: second.baseId, toLsn: newest.lsn });

          // Failure: the expected checksums of that checkpoint say users had one row more.
          await load.stop();
          load = undefined;
          const file = join(chain, newest.file);
          const sums = JSON.parse(readFileSync(file, 'utf8')) as { tables: Record<string, { rows: string }> };
          const users = sums.tables['"public"."users"']!;
          users.rows = String(Number(users.rows) + 1);
          writeFileSync(file, JSON.stringify(sums));
          const failed = await verify('verify-tampered', false);
          expect(failed).toMatchObject({ ok: false, fromBase: second.baseId, toLsn: newest.lsn, mismatches: ['"public"."users"'] });
          expect(failed.message).toContain('"public"."users"');
          expect(readCatalog(chain).verifications.at(-1)).toMatchObject({
            ok: false,
            fromBase: second.baseId,
            toLsn: newest.lsn,
            mismatches: ['"public"."users"'],
          });

          const bad = await cli(['verify', '--config', configFile, '--target-profile', 'admin']);
          expect({ code: bad.code, stdout: bad.stdout }).toMatchObject({ code: 1, stdout: expect.stringContaining('FAILED') });
          expect(bad.stdout).toContain('"public"."users"');
          // Successful runs dropped their scratch database; the two failed ones kept theirs, named in the message.
          const scratch = await pg.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'pgincr_verify_%' ORDER BY 1`);
          expect(scratch).toHaveLength(2);
          expect(scratch.map((r) => r.datname)).toContainEqual(/scratch database (pgincr_verify_\w+)/.exec(failed.message)?.[1]);
        } finally {
          await load?.stop();
        }
        await waitSlotCaughtUp(pg, 'app');
        await capture.signal(stopSignal);
        expect(((await capture.result()) as CaptureStatus).state).toBe('stopped');
      },
      { activities: env.activities },
    );
  });
});

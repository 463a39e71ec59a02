/**
 * The Temporal UI tells an operator what they look at: workflows started through `bin/pgincr`
 * carry search attributes (database, chain, kind) and a summary line, so the list filters by
 * database and reads without opening each run; the capture shows its durable LSN (memo). A
 * server without pgincr's search attributes (an existing deployment: here a namespace registered
 * at run time, which the dev server's `--search-attribute` flags do not cover) still runs the
 * job, and the CLI's warning names the attribute and the commands that register it.
 * Activities are stubs (test/fixtures/workflows/stub-activities.ts): only the labels matter here.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type Long from 'long';
import { Client, Connection } from '@temporalio/client';
import { setupTemporal, temporalAddress, TEST_NAMESPACE } from '../../helpers/temporal';
import { waitFor } from '../../helpers/pgincr-env';
import { waitForValue } from '../../helpers/wait';
import { stubActivities } from '../../fixtures/workflows/stub-activities';
import { DURABLE_LSN_MEMO, searchAttributes } from '../../../src/workflows/boundary';
import { workflowIds } from '../../../src/workflows/ids';

jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '../../..');

function cli(configFile: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.TEMPORAL_ADDRESS; // the config names the server, as for a user
  return new Promise((done) => {
    execFile(join(ROOT, 'bin/pgincr'), ['--config', configFile, ...args], { cwd: ROOT, env, timeout: 180_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('UI labels on workflows started through bin/pgincr', () => {
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });
  const suffix = Math.random().toString(36).slice(2, 8);
  const database = `labels_${suffix}`;
  const chain = `7312000000000000042-${database}`;
  // Its own profile name: the capture's workflow id is per profile and slot, and the integration
  // tests share one Temporal server (another file's capture of profile `app` may still run).
  const profile = `app_${suffix}`;
  let dir: string;

  const writeConfig = (name: string, namespace: string, taskQueue: string): string => {
    const file = join(dir, name);
    writeFileSync(
      file,
      JSON.stringify({
        repository: join(dir, 'repository'),
        profiles: { [profile]: { host: '/nonexistent', dbname: database } },
        defaultProfile: profile,
        temporal: { address: temporalAddress(), namespace, taskQueue },
      }),
    );
    return file;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgincr-labels-'));
    mkdirSync(join(dir, 'repository', chain), { recursive: true }); // the chain folder setup would have made
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('list filters by database, target database and chain; summaries name the target and point, the slot; the memo the durable LSN', async () => {
    const configFile = writeConfig('pgincr.json', TEST_NAMESPACE, temporal.taskQueue);
    const stubs = stubActivities({}, { captureRunMs: 300 });
    const { client } = temporal;
    await temporal.run(
      async () => {
        const restore = await cli(configFile, ['--no-wait', 'restore', '--target-db', `copy_${suffix}`, '--to-time', '2026-12-06 10:00:00.25+00']);
        expect(restore.code).toBe(0);
        expect(restore.stderr).not.toContain('warning'); // the dev server registered the attributes
        const capture = await cli(configFile, ['capture', 'start']);
        expect(capture.code).toBe(0);
        expect(capture.stderr).not.toContain('warning');
        const captureId = workflowIds.capture(profile, 'pgincr');
        await waitFor('a capture run to end', async () => stubs.of('captureChanges').some((c) => c.outcome === 'ok'), 60_000, 200);

        /** Summaries of the workflows a visibility query lists (visibility lags a little behind). */
        const listed = async (query: string, expected: number): Promise<Map<string, string | undefined>> => {
          const found = new Map<string, string | undefined>();
          await waitFor(
            `${expected} workflows for ${query}`,
            async () => {
              found.clear();
              for await (const w of client.workflow.list({ query })) {
                found.set(w.type, await (await client.workflow.getHandle(w.workflowId, w.runId).describe()).staticSummary());
              }
              return found.size >= expected;
            },
            30_000,
            250,
          );
          return found;
        };
        const bySource = await listed(`PgincrDatabase = '${database}'`, 2);
        expect(bySource.get('restoreWorkflow')).toBe(`restore ${database} · into copy_${suffix} · to commit time <= 2026-12-06T10:00:00.250000Z (UTC)`);
        expect(bySource.get('captureWorkflow')).toBe(`capture ${database} · slot pgincr · profile ${profile}`);
        expect([...(await listed(`PgincrDatabase = 'copy_${suffix}'`, 1)).keys()]).toEqual(['restoreWorkflow']);
        expect([...(await listed(`PgincrChain = '${chain}' AND PgincrKind = 'capture'`, 1)).keys()]).toEqual(['captureWorkflow']);

        const described = await client.workflow.getHandle(captureId).describe();
        expect(described.typedSearchAttributes.get(searchAttributes.kind)).toBe('capture');
        // The memo is upserted by the workflow task that follows the run's completion: waited for, not raced.
        const memoLsn = await waitForValue(
          'the durable LSN memo',
          async () => (await client.workflow.getHandle(captureId).describe()).memo?.[DURABLE_LSN_MEMO] as string | undefined,
          30_000,
          200,
        );
        expect(memoLsn).toMatch(/^0\/[0-9A-F]+$/);
        // What the UI's workflow page shows as "current details" (the SDK's metadata query).
        const metadata = await client.workflow.getHandle(captureId).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
        // The summary line first (a continued run has no static summary), then the state.
        expect(metadata.currentDetails?.startsWith(`capture ${database} · slot pgincr · profile ${profile}\n\n`)).toBe(true);
        expect(metadata.currentDetails?.split('\n\n')[1]).toMatch(
          /^\*\*running\*\* · durable LSN 0\/[0-9A-F]+ · run \d+ · \d+ transactions, \d+ segments sealed since this execution began/,
        );

        expect((await cli(configFile, ['capture', 'stop'])).code).toBe(0);
        await client.workflow.getHandle(captureId).result();
      },
      { activities: stubs.activities },
    );
  });

  it('a server without the search attributes: the job starts unlabelled, and the warning names the attribute and the fix', async () => {
    const namespace = `pgincr-bare-${suffix}`;
    const connection = await Connection.connect({ address: temporalAddress() });
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: 86_400 as unknown as Long } });
      await waitFor(
        `namespace ${namespace}`,
        async () =>
          connection.workflowService.describeNamespace({ namespace }).then(
            () => true,
            () => false,
          ),
        30_000,
        250,
      );
    } finally {
      await connection.close();
    }
    const configFile = writeConfig('bare.json', namespace, `bare-${suffix}`);
    const started = await cli(configFile, ['--no-wait', 'restore', '--target-db', `bare_copy_${suffix}`]);
    expect(started.code).toBe(0);
    expect(started.stderr).toContain(`warning: the Temporal server has no pgincr search attributes in namespace ${namespace}`);
    expect(started.stderr).toMatch(/no mapping defined for search attribute Pgincr(Kind|Database|Chain)/);
    expect(started.stderr).toContain(`temporal operator search-attribute create --namespace ${namespace} --name PgincrDatabase --type KeywordList`);
    expect(started.stdout).toContain(`workflow id ${workflowIds.restore(`bare_copy_${suffix}`)}`);

    const bare = await Connection.connect({ address: temporalAddress() });
    try {
      const handle = new Client({ connection: bare, namespace }).workflow.getHandle(workflowIds.restore(`bare_copy_${suffix}`));
      const d = await handle.describe();
      expect(d.status.name).toBe('RUNNING');
      expect(await d.staticSummary()).toBe(`restore ${database} · into bare_copy_${suffix} · to latest`);
      expect(d.typedSearchAttributes.get(searchAttributes.kind)).toBeUndefined();
      await handle.terminate('test over');
    } finally {
      await bare.close();
    }
  });
});

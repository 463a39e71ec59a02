/**
 * The workflow bundle made at build time (src/workflow-bundle.ts, scripts/build): a worker runs
 * it only while every file it was made from is unchanged. A small workflow module of its own
 * (a folder in tmp, its answer in a second module) bundled with the real writer, run by a real
 * worker; then the second module edited, as an edit outside scripts/build would: the bundle is
 * refused, naming the file, and the worker bundling at start runs the new code.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { testEnv, uniqueTaskQueue } from '../helpers/temporal';
import { prebuiltWorkflowBundle, selectWorkflowCode, writeWorkflowBundle, WORKFLOW_BUNDLE_FILE } from '../../src/workflow-bundle';

jest.setTimeout(180_000);

describe('prebuilt workflow bundle', () => {
  let env: TestWorkflowEnvironment;
  let dir: string;
  let workflows: string;
  let out: string;
  const taskQueue = uniqueTaskQueue();

  beforeAll(async () => {
    env = await testEnv();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-workflow-bundle-'));
    // The bundler resolves the SDK from the workflows' folder up, as from dist/ in the repository.
    symlinkSync(resolve(__dirname, '../../node_modules'), join(dir, 'node_modules'));
    workflows = join(dir, 'workflows');
    out = join(dir, 'out');
    mkdirSync(workflows);
    mkdirSync(out);
    writeFileSync(join(workflows, 'index.js'), "const { answer } = require('./answer');\nexports.whichCode = async () => answer;\n");
    writeFileSync(join(workflows, 'answer.js'), "exports.answer = 'v1';\n");
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function runs(code: ReturnType<typeof selectWorkflowCode>, label: string): Promise<string> {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace,
      taskQueue,
      ...(code.used === 'prebuilt' ? { workflowBundle: code.workflowBundle } : { workflowsPath: code.workflowsPath }),
    });
    return worker.runUntil(env.client.workflow.execute('whichCode', { taskQueue, workflowId: `${taskQueue}-${label}`, args: [] }) as Promise<string>);
  }

  it('is used while its inputs are unchanged, and never once one changed', async () => {
    const written = await writeWorkflowBundle(workflows, out);
    expect(written.bytes).toBeGreaterThan(0);
    const manifest = JSON.parse(readFileSync(join(out, 'workflows-bundle.json'), 'utf8')) as { inputs: Record<string, string> };
    // The workflow modules and the SDK's, by path relative to the bundle.
    expect(Object.keys(manifest.inputs)).toEqual(expect.arrayContaining(['../workflows/index.js', '../workflows/answer.js']));
    expect(Object.keys(manifest.inputs).some((f) => f.includes('@temporalio/workflow/lib/worker-interface.js'))).toBe(true);

    const current = selectWorkflowCode(out, workflows);
    expect(current).toMatchObject({ used: 'prebuilt', workflowBundle: { codePath: join(out, WORKFLOW_BUNDLE_FILE) } });
    expect(await runs(current, 'prebuilt')).toBe('v1');

    // An edit after the build: the bundle still says v1, the code says v2.
    writeFileSync(join(workflows, 'answer.js'), "exports.answer = 'v2';\n");
    const stale = selectWorkflowCode(out, workflows);
    expect(stale).toEqual({
      used: 'bundled at start',
      workflowsPath: workflows,
      reason: `${join(workflows, 'answer.js')} changed since the workflow bundle was built (run scripts/build)`,
    });
    expect(await runs(stale, 'stale')).toBe('v2');

    // Rebuilt: current again, with the new code.
    await writeWorkflowBundle(workflows, out);
    const rebuilt = selectWorkflowCode(out, workflows);
    expect(rebuilt.used).toBe('prebuilt');
    expect(await runs(rebuilt, 'rebuilt')).toBe('v2');
  });

  it('is refused when an input is gone, the bundle is not the one built, or there is none', async () => {
    await writeWorkflowBundle(workflows, out);
    expect(prebuiltWorkflowBundle(out)).toHaveProperty('codePath');

    writeFileSync(join(out, WORKFLOW_BUNDLE_FILE), `${readFileSync(join(out, WORKFLOW_BUNDLE_FILE), 'utf8')}\n// edited\n`);
    expect(prebuiltWorkflowBundle(out)).toEqual({ reason: `${join(out, WORKFLOW_BUNDLE_FILE)} is not the bundle its manifest describes` });

    await writeWorkflowBundle(workflows, out);
    unlinkSync(join(workflows, 'answer.js'));
    expect(prebuiltWorkflowBundle(out)).toEqual({
      reason: `${join(workflows, 'answer.js')}, an input of the prebuilt workflow bundle, is gone (run scripts/build)`,
    });

    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(prebuiltWorkflowBundle(empty)).toEqual({ reason: `no prebuilt workflow bundle (${join(empty, 'workflows-bundle.json')}; scripts/build writes it)` });
  });
});

/**
 * Temporal for integration tests: the dev server started by global-setup.ts, a
 * TestWorkflowEnvironment on it, and in-process workers on a task queue unique to the test file.
 *
 *   const t = setupTemporal({ workflowsPath: require.resolve('../../src/workflows'), activities });
 *   it('runs', () => t.run(() => t.client.workflow.execute(myWorkflow, { taskQueue: t.taskQueue, workflowId: t.workflowId('a'), args: [] })));
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { workerSinks } from '../../src/worker-sinks';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

export { TEST_NAMESPACE } from './test-namespace';
import { TEST_NAMESPACE } from './test-namespace';
const HOOK_TIMEOUT_MS = 120_000;

/** Fallback hand-off file from globalSetup (keyed by the jest parent pid). */
export function temporalStateFile(pid: number): string {
  return join(tmpdir(), `pgincr-jest-temporal-${pid}.json`);
}

/** host:port of the test server: $TEMPORAL_ADDRESS, else globalSetup's state file. */
export function temporalAddress(): string {
  if (process.env.TEMPORAL_ADDRESS) return process.env.TEMPORAL_ADDRESS;
  for (const pid of [process.pid, process.ppid]) {
    const file = temporalStateFile(pid);
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { address: string }).address;
  }
  throw new Error(
    'no temporal server for tests: TEMPORAL_ADDRESS is unset and globalSetup left no state file\n' +
      'hint: run integration tests with `npx jest --selectProjects integration`, or export TEMPORAL_ADDRESS',
  );
}

let runtimeInstalled = false;
/** Quiet SDK logs (WARN unless PGINCR_TEST_TEMPORAL_LOG says otherwise); once per process. */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const level = (process.env.PGINCR_TEST_TEMPORAL_LOG ?? 'WARN') as 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    /* a Runtime already exists in this process: keep it */
  }
}

/** A TestWorkflowEnvironment on the shared server; call `teardown()` in afterAll. */
export async function testEnv(): Promise<TestWorkflowEnvironment> {
  installQuietRuntime();
  return TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress(), namespace: TEST_NAMESPACE });
}

/** A task queue name unique to this test file and run. */
export function uniqueTaskQueue(label = basename(expect.getState().testPath ?? 'test', '.test.ts')): string {
  return `test-${label}-${randomUUID().slice(0, 8)}`;
}

/** Bundles workflow code once (call in beforeAll: ~1-3 s). */
export function bundleWorkflows(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
}

export interface RunWorkerOptions {
  taskQueue: string;
  workflowBundle: WorkflowBundleWithSourceMap;
  activities?: object;
  workerOptions?: Partial<WorkerOptions>;
}

/** Runs an in-process worker while `fn` runs; the worker is shut down when it settles. */
export async function runWorker<T>(env: TestWorkflowEnvironment, options: RunWorkerOptions, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? TEST_NAMESPACE,
    taskQueue: options.taskQueue,
    workflowBundle: options.workflowBundle,
    ...(options.activities ? { activities: options.activities } : {}),
    maxHeartbeatThrottleInterval: '5s', // as src/worker.ts: cancellation arrives within seconds
    sinks: workerSinks, // as src/worker.ts
    ...options.workerOptions,
  });
  return worker.runUntil(fn);
}

export interface TemporalTestContext {
  readonly env: TestWorkflowEnvironment;
  readonly client: Client;
  readonly taskQueue: string;
  readonly bundle: WorkflowBundleWithSourceMap;
  /** A workflow id unique to this run. */
  workflowId(label: string): string;
  /** Runs `fn` with a worker polling `taskQueue` (activities default to the ones given to setupTemporal). */
  run<T>(fn: () => Promise<T>, overrides?: { activities?: object; workerOptions?: Partial<WorkerOptions> }): Promise<T>;
}

/** Registers beforeAll/afterAll: env on the shared server, one bundle, one task queue for the file. */
export function setupTemporal(options: { workflowsPath: string; activities?: object; workerOptions?: Partial<WorkerOptions> }): TemporalTestContext {
  let env: TestWorkflowEnvironment | undefined;
  let bundle: WorkflowBundleWithSourceMap | undefined;
  const taskQueue = uniqueTaskQueue();
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`temporal test context: ${what} used before beforeAll ran`);
    return value;
  };
  // Explicit hook timeouts: bundling takes seconds on a loaded 2-core machine.
  beforeAll(async () => {
    [env, bundle] = await Promise.all([testEnv(), bundleWorkflows(options.workflowsPath)]);
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await env?.teardown();
  }, HOOK_TIMEOUT_MS);
  return {
    get env() {
      return ready(env, 'env');
    },
    get client() {
      return ready(env, 'client').client;
    },
    get bundle() {
      return ready(bundle, 'bundle');
    },
    taskQueue,
    workflowId: (label) => `${taskQueue}-${label}-${randomUUID().slice(0, 8)}`,
    run: (fn, overrides = {}) => {
      const activities = overrides.activities ?? options.activities;
      return runWorker(
        ready(env, 'env'),
        {
          taskQueue,
          workflowBundle: ready(bundle, 'bundle'),
          ...(activities ? { activities } : {}),
          workerOptions: { ...options.workerOptions, ...overrides.workerOptions },
        },
        fn,
      );
    },
  };
}

/**
 * Terminates a workflow on the shared test server if one with this id is running. The integration
 * files share one Temporal server: a capture that a file's setup started (workflow id per profile
 * and slot) outlives that file's worker, and another file with the same profile name would find
 * its id taken.
 */
export async function terminateIfRunning(workflowId: string, reason = 'left running by an earlier test file'): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress() });
  try {
    const client = new Client({ connection, namespace: TEST_NAMESPACE });
    // Not found, or already closed: nothing to do.
    await client.workflow
      .getHandle(workflowId)
      .terminate(reason)
      .catch(() => undefined);
  } finally {
    await connection.close();
  }
}

/**
 * The S3 repository tests' rig. `s3TestBed` is each file's set-up and teardown: an S3 test
 * server, a cluster with an `app` database, a folder, and worker environments in it. A worker
 * environment has its own spool folder and config file (docs/s3-repository.md's example with the
 * test's bucket, cluster and Temporal server filled in), credentials only in the AWS variables,
 * `bin/pgincr` commands and a `bin/pgincr worker` process.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { Client, Connection } from '@temporalio/client';
import { TEST_NAMESPACE, temporalAddress, terminateIfRunning } from '../../helpers/temporal';
import { waitFor } from '../../helpers/wait';
import { startS3Server, type S3TestServer } from '../../helpers/s3-server';
import { teardown, teardownTimeout, type TeardownStep } from '../../helpers/teardown';
import { workflowIds } from '../../../src/workflows/ids';
import { ObjectStore } from '../../../src/adapters/s3/object-store';
import { loadStoredCatalog } from '../../../src/adapters/s3/chain-mirror';
import { parseLsn } from '../../../src/core/lsn';

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');
export const PREFIX = 'prod/pgincr';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The n-th ```json block of docs/s3-repository.md (the first: the configuration example users copy). */
export function docConfig(index = 0): Record<string, unknown> {
  const doc = readFileSync(join(ROOT, 'docs/s3-repository.md'), 'utf8');
  const block = [...doc.matchAll(/```json\n([^]*?)```/g)][index];
  if (!block) throw new Error(`docs/s3-repository.md has no ${index + 1}. \`\`\`json block`);
  return JSON.parse(block[1] as string) as Record<string, unknown>;
}

export interface WorkerEnvironment {
  spool: string;
  cli(args: string[]): Promise<Run>;
  /** `extraEnv`: variables for this worker process only (an identity file in PGINCR_AGE_IDENTITY_FILE…). */
  startWorker(extraEnv?: Record<string, string>): Promise<ChildProcess>;
}

/** How a worker environment's config differs from the docs' example. */
export interface EnvironmentOptions {
  taskQueue: string;
  /** Top-level config sections added to the example (retention, alerts…). */
  extra?: Record<string, unknown>;
  /** The config to start from (default: the docs' first example); its repository keeps its other keys. */
  config?: Record<string, unknown>;
  /** Replaces the repository section (given this worker's folder) instead of filling in the example's. */
  repositoryFor?: (folder: string) => Record<string, unknown>;
}

export function workerEnvironment(
  options: EnvironmentOptions & {
    dir: string;
    name: string;
    pg: PgCluster;
    s3: S3TestServer;
    profile: string;
  },
): WorkerEnvironment {
  const { dir, name, pg, s3, profile, taskQueue, extra = {} } = options;
  const home = join(dir, name);
  const spool = join(home, 'spool');
  const config = options.config ?? docConfig();
  const { host, port, user } = pg.profile('app');
  const file = join(home, 'pgincr.json');
  mkdirSync(home, { recursive: true });
  writeFileSync(
    file,
    JSON.stringify(
      {
        ...config,
        repository: options.repositoryFor?.(spool) ?? {
          ...(config.repository as object),
          url: `s3://${s3.bucket}/${PREFIX}`,
          endpoint: s3.endpoint,
          region: s3.env.AWS_REGION,
          spool,
        },
        profiles: { [profile]: { host, port, dbname: 'app', user } },
        defaultProfile: profile,
        capture: { ...(config.capture as object), segmentMaxAge: '5s', heartbeatInterval: '1s', sequenceInterval: '2s' },
        temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue },
        ...extra,
      },
      null,
      2,
    ),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, ...s3.env, PGINCR_LOG_PRETTY: '0' };
  delete env.TEMPORAL_ADDRESS;
  const log = join(home, 'worker.log');
  return {
    spool,
    cli: (args) =>
      new Promise((done) =>
        execFile(BIN, [...args, '--config', file], { cwd: dir, env, timeout: 300_000 }, (err, stdout, stderr) =>
          done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
        ),
      ),
    async startWorker(extraEnv = {}) {
      mkdirSync(home, { recursive: true });
      const from = existsSync(log) ? readFileSync(log, 'utf8').length : 0; // a restarted worker appends to the same log
      const fd = openSync(log, 'a');
      const worker = spawn(BIN, ['worker', '--config', file], { stdio: ['ignore', fd, fd], env: { ...env, ...extraEnv } });
      closeSync(fd);
      try {
        await waitFor(
          `worker ${name} to start`,
          async () => {
            if (worker.exitCode !== null) throw new Error(`worker ${name} exited ${worker.exitCode}:\n${readFileSync(log, 'utf8').slice(-3000)}`);
            return readFileSync(log, 'utf8').slice(from).includes('worker started');
          },
          240_000,
          250,
        );
      } catch (error) {
        worker.kill('SIGKILL'); // not started in time: no caller holds it to stop it
        throw error;
      }
      return worker;
    },
  };
}

export async function stopWorker(worker: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return;
  const exited = new Promise((r) => worker.once('exit', r));
  worker.kill(signal);
  await exited;
}

/** The test bucket's repository (the rig's prefix) through the test client. */
export function bucketStore(s3: S3TestServer): ObjectStore {
  return new ObjectStore({ bucket: s3.bucket, prefix: PREFIX, endpoint: s3.endpoint, forcePathStyle: true }, s3.client);
}

/** Every object of the chain in the bucket, path relative to the chain folder, sorted. */
export async function bucketFiles(s3: S3TestServer, chain: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of bucketStore(s3).list(chain)) out.push(o.path.slice(chain.length + 1));
  return out.sort();
}

/** Runs a workflow as a user starts one from the Web UI or `temporal workflow start`: its type and JSON input. */
export async function runWorkflowJson<T>(taskQueue: string, type: string, workflowId: string, json: string): Promise<T> {
  const connection = await Connection.connect({ address: temporalAddress() });
  try {
    const client = new Client({ connection, namespace: TEST_NAMESPACE });
    return (await client.workflow.execute(type, { taskQueue, workflowId, args: [JSON.parse(json)] })) as T;
  } finally {
    await connection.close();
  }
}

/** The end LSN of the last segment the bucket's catalog of `chain` names (0 when none). */
export async function bucketEnd(s3: S3TestServer, chain: string): Promise<bigint> {
  const catalog = await loadStoredCatalog(bucketStore(s3), chain);
  return catalog?.segments.reduce((max, s) => (parseLsn(s.endLsn) > max ? parseLsn(s.endLsn) : max), 0n) ?? 0n;
}

/** The slot's confirmed_flush_lsn. */
export async function confirmedFlush(pg: PgCluster): Promise<bigint> {
  const [slot] = await pg.query<{ lsn: string }>("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'pgincr'");
  return parseLsn(slot!.lsn);
}

/** Waits until no one streams the capture slot (after `capture stop`). */
export async function waitSlotReleased(pg: PgCluster): Promise<void> {
  await waitFor(
    'the capture slot to be released',
    async () => (await pg.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgincr' AND active")).length === 0,
    90_000,
  );
}

/** Waits for `profile`'s capture workflow to end (after `capture stop`: once its last segment is uploaded). */
export async function captureEnded(profile: string): Promise<void> {
  const connection = await Connection.connect({ address: temporalAddress() });
  try {
    await new Client({ connection, namespace: TEST_NAMESPACE }).workflow.getHandle(workflowIds.capture(profile, 'pgincr')).result();
  } finally {
    await connection.close();
  }
}

/** Expects a `bin/pgincr` command to have exited 0 (its stderr in the failure). */
export function expectOk(run: Run): void {
  expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
}

/** One S3 test file's cluster, bucket, folder and workers (`s3TestBed`). */
export interface S3TestBed {
  readonly pg: PgCluster;
  readonly s3: S3TestServer;
  /** The file's folder: worker homes, keys, downloads. Removed at teardown if the test passed, else kept and named. */
  readonly dir: string;
  /** A task queue of this run (environments use it unless given another). */
  readonly taskQueue: string;
  /** A worker environment in the folder, for the bed's cluster, bucket and profile; teardown stops the workers it starts. */
  environment(name: string, options?: Partial<EnvironmentOptions>): WorkerEnvironment;
  /** Marks the test passed: teardown removes the folder. */
  passed(): void;
  /** A step teardown runs first (closing a client of the cluster…). */
  onTeardown(name: string, step: () => unknown): void;
}

/**
 * Registers a describe block's beforeAll and afterAll: an S3 test server (`bucket` or its
 * default), a cluster with an `app` database, a folder `pgincr-<name>-*`, and no capture of
 * `profile` left running before or after. Teardown runs every step even when one fails or
 * hangs (helpers/teardown.ts): the capture, each worker (SIGTERM, then SIGKILL), the cluster,
 * the server, the folder.
 */
export function s3TestBed(options: { name: string; profile: string; bucket?: string }): S3TestBed {
  const { name, profile } = options;
  const captureId = workflowIds.capture(profile, 'pgincr');
  const workers: ChildProcess[] = [];
  const firstSteps: TeardownStep[] = [];
  let pg: PgCluster | undefined;
  let s3: S3TestServer | undefined;
  let dir: string | undefined;
  let passed = false;
  const taskQueue = `${name}-${process.pid}-${Date.now()}`;
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`s3TestBed ${name}: ${what} is not ready (used outside a test, or its beforeAll failed)`);
    return value;
  };

  beforeAll(async () => {
    await terminateIfRunning(captureId);
    s3 = await startS3Server(options.bucket ? { bucket: options.bucket } : {});
    pg = await startCluster();
    await pg.createDatabase('app');
    dir = mkdtempSync(join(tmpdir(), `pgincr-${name}-`));
  });

  afterAll(
    () =>
      teardown([
        ...firstSteps,
        ['terminate the capture', () => terminateIfRunning(captureId)],
        ['stop the workers', async () => Promise.all(workers.map((w) => stopWorker(w)))],
        ['kill workers still running', () => workers.forEach((w) => w.exitCode === null && w.signalCode === null && w.kill('SIGKILL'))],
        ['stop the cluster', () => pg?.stop()],
        ['stop the S3 server', () => s3?.stop()],
        [
          'remove the folder',
          () => {
            if (dir && passed) rmSync(dir, { recursive: true, force: true });
            else if (dir) process.stderr.write(`${name} test: kept ${dir} (worker logs, spools) for inspection\n`);
          },
        ],
      ]),
    teardownTimeout(8),
  );

  return {
    get pg() {
      return ready(pg, 'the cluster');
    },
    get s3() {
      return ready(s3, 'the S3 server');
    },
    get dir() {
      return ready(dir, 'the folder');
    },
    taskQueue,
    environment(worker, environmentOptions = {}) {
      const env = workerEnvironment({
        taskQueue,
        ...environmentOptions,
        dir: ready(dir, 'the folder'),
        name: worker,
        pg: ready(pg, 'the cluster'),
        s3: ready(s3, 'the S3 server'),
        profile,
      });
      return {
        ...env,
        async startWorker(extraEnv) {
          const child = await env.startWorker(extraEnv);
          workers.push(child);
          return child;
        },
      };
    },
    passed() {
      passed = true;
    },
    onTeardown(step, run) {
      firstSteps.push([step, run]);
    },
  };
}

/**
 * Issue 6, bad input: restoreWorkflow through a real Temporal server on a damaged repository
 * or a bad request. One chain (a base and several small segments) is built once; each case
 * works on its own copy of the repository. Each case fails fast (non-retryable) with a message
 * naming the file, LSN or database to fix, and the planner's checks run before the target
 * database is created, so no database is left behind.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, type PgincrTestEnv, runSetupWorkflow } from '../../helpers/pgincr-env';
import { runStatements, tableSums } from '../../helpers/workload';
import { chainOf, readCatalog, waitSlotCaughtUp } from '../../helpers/backup-fixture';
import type { RestoreReport } from '../../../src/workflows/restore';
import { stopSignal, type CaptureStatus } from '../../../src/workflows/signals';
import type { SegmentEntry } from '../../../src/core/catalog/schema';

jest.setTimeout(180_000);

const FAST_MS = 30_000;
const CAPTURE = { segmentMaxBytes: 8192, compress: 'none', sequenceInterval: '1s' };
const ROUNDS = 6;

describe('restoreWorkflow refuses a damaged repository or a bad target, before touching the target', () => {
  let pg: PgCluster;
  let source: PgincrTestEnv;
  let segments: SegmentEntry[];
  const envs: PgincrTestEnv[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'pgincr-bad-restore-'));
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  /** setup → capture (segments of ~8 KB) → stop: a chain with several sealed segments. */
  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('app');
    await runStatements(pg, 'app', ['CREATE TABLE items (id serial PRIMARY KEY, batch int, v text)', `INSERT INTO items (batch, v) VALUES (0, 'base')`]);
    source = pgincrTestEnv(pg, 'app', { capture: CAPTURE });
    await temporal.run(
      async () => {
        const { client, taskQueue } = temporal;
        const setup = await runSetupWorkflow(temporal);
        expect(setup.status).toBe('set up');
        const capture = await client.workflow.start('captureWorkflow', {
          taskQueue,
          workflowId: temporal.workflowId('capture'),
          args: [{ profile: 'default', runForMs: 4000 }],
        });
        // Rounds of ~10 KB, each confirmed by the slot before the next: a size rotation waits for
        // the sequence positions to come through the stream, so a single burst would be one segment.
        for (let round = 0; round < ROUNDS; round++) {
          await runStatements(
            pg,
            'app',
            Array.from(
              { length: 4 },
              (_, i) => `INSERT INTO items (batch, v) SELECT ${round * 4 + i + 1}, repeat(md5(g::text), 3) FROM generate_series(1, 20) g`,
            ),
          );
          await waitSlotCaughtUp(pg, 'app');
        }
        await capture.signal(stopSignal);
        expect(((await capture.result()) as CaptureStatus).state).toBe('stopped');
      },
      { activities: source.activities },
    );
    segments = readCatalog(chainOf(source.repository)).segments;
    expect(segments.length).toBeGreaterThanOrEqual(4);
  }, 150_000);
  afterAll(async () => {
    source?.cleanup();
    for (const e of envs) e.cleanup();
    rmSync(scratch, { recursive: true, force: true });
    await pg?.stop();
  });

  /** A copy of the source repository, changed by `damage(chainFolder)`, and activities over it. */
  function repositoryCopy(label: string, damage: (chain: string) => void = () => undefined): { env: PgincrTestEnv; chain: string } {
    const repository = join(scratch, label);
    cpSync(source.repository, repository, { recursive: true });
    const chain = chainOf(repository);
    damage(chain);
    const env = pgincrTestEnv(pg, 'app', { repository, capture: CAPTURE });
    envs.push(env);
    return { env, chain };
  }

  const restore = (env: PgincrTestEnv, targetDb: string, target?: object) =>
    temporal.run(
      () =>
        temporal.client.workflow.execute('restoreWorkflow', {
          taskQueue: temporal.taskQueue,
          workflowId: temporal.workflowId(`restore-${targetDb}`),
          args: [{ profile: 'default', targetProfile: 'admin', targetDb, ...(target ? { target } : {}) }],
        }) as Promise<RestoreReport>,
      { activities: env.activities },
    );

  /** The activity error under a failed workflow, asserting it was not retried (a non-retryable type). */
  function failureOf(error: unknown): ApplicationFailure {
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const activity = (error as WorkflowFailedError).cause;
    expect(activity).toBeInstanceOf(ActivityFailure);
    expect((activity as ActivityFailure).retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    expect(activity?.cause).toBeInstanceOf(ApplicationFailure);
    return activity?.cause as ApplicationFailure;
  }

  /** Runs the restore, expects a fast failure of `type` that was not retried, and no database left. */
  async function restoreFailure(env: PgincrTestEnv, targetDb: string, type: string, target?: object): Promise<string> {
    const started = Date.now();
    const error = await restore(env, targetDb, target).then(
      () => null,
      (err: unknown) => err,
    );
    expect(Date.now() - started).toBeLessThan(FAST_MS);
    const failure = failureOf(error);
    expect(failure.type).toBe(type);
    const left = await pg.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE 'pgincr\\_tmp\\_%'`, [targetDb]);
    expect(left).toEqual([]);
    return failure.message;
  }

  const middle = () => segments[Math.floor(segments.length / 2)] as SegmentEntry;

  it('a flipped byte in a sealed segment: names the file and the offset', async () => {
    const seg = middle();
    let at = -1;
    const { env, chain } = repositoryCopy('corrupt', (c) => {
      const path = join(c, seg.file);
      const bytes = readFileSync(path);
      // INSERT → iNSERT: still valid SQL, only the checksum can tell.
      at = bytes.indexOf('INSERT INTO', Math.floor(bytes.length / 2));
      expect(at).toBeGreaterThan(0);
      bytes[at] = 'i'.charCodeAt(0);
      writeFileSync(path, bytes);
    });
    const message = await restoreFailure(env, 'r_corrupt', 'SegmentCorruptError');
    expect(message).toContain(`segment ${seg.startLsn} to ${seg.endLsn} is damaged: ${join(chain, seg.file)}: body_sha256 mismatch`);
    const range =
      /: a byte between offset 0 and offset (\d+) \(the footer\) was changed\nhint: nothing was restored; restore the file from a copy; or the chain is whole up to /.exec(
        message,
      );
    expect(range).not.toBeNull();
    expect(at).toBeLessThan(Number(range![1]));
  });

  it('a missing segment: names the gap by LSN', async () => {
    const seg = middle();
    const { env, chain } = repositoryCopy('missing', (c) => unlinkSync(join(c, seg.file)));
    const message = await restoreFailure(env, 'r_missing', 'PlanError');
    expect(message).toContain(`segment ${join(chain, seg.file)} is missing: the chain has a gap from ${seg.startLsn} to ${seg.endLsn}`);
    expect(message).toContain(`restore with --to-lsn ${seg.startLsn} to stop before it`);
  });

  it('a truncated last segment is refused; restoring up to its start works', async () => {
    const last = segments.at(-1) as SegmentEntry;
    const { env, chain } = repositoryCopy('truncated', (c) => truncateSync(join(c, last.file), last.bytes - 200));
    const message = await restoreFailure(env, 'r_truncated', 'SegmentCorruptError');
    expect(message).toContain(`segment ${last.startLsn} to ${last.endLsn} is damaged: ${join(chain, last.file)}: missing footer, the segment is truncated`);
    expect(message).toMatch(/at offset \d+\n/);
    expect(message).toContain(`restore with --to-lsn ${last.startLsn} to stop before it`);

    // The way out the hint gives: everything before the damaged segment, verified.
    const report = await restore(env, 'r_before_truncated', { kind: 'lsn', lsn: last.startLsn, inclusive: true });
    expect(report.plan.segments.map((s) => relative(chain, s))).toEqual(segments.slice(0, -1).map((s) => s.file));
    const rows = await pg.query<{ n: number }>('SELECT count(*)::int AS n FROM items', [], 'r_before_truncated');
    expect(rows[0]!.n).toBeGreaterThan(1);
    expect(rows[0]!.n).toBeLessThanOrEqual(1 + ROUNDS * 4 * 20);
  });

  it('the target database exists: named, and left as it was', async () => {
    await pg.createDatabase('taken');
    await pg.query('CREATE TABLE mine (x int)', [], 'taken');
    const { env } = repositoryCopy('exists');
    const started = Date.now();
    const error = await restore(env, 'taken').then(
      () => null,
      (err: unknown) => err,
    );
    expect(Date.now() - started).toBeLessThan(FAST_MS);
    const failure = failureOf(error);
    expect(failure.type).toBe('TargetExistsError');
    expect(failure.message).toMatch(/^database "taken" already exists\nhint: choose another --target-db/);
    expect(await tableSums(pg, 'taken')).toEqual({ '"public"."mine"': expect.anything() });
  });

  it('a target time before the oldest base', async () => {
    const { env } = repositoryCopy('too-early');
    const message = await restoreFailure(env, 'r_early', 'PlanError', { kind: 'time', time: '2000-01-01T00:00:00Z', inclusive: true });
    expect(message).toMatch(
      /^target time 2000-01-01T00:00:00\.000000Z is before the oldest base backup \S+ \(lsn [0-9A-F]+\/[0-9A-F]+, taken .*\)\nhint: the earliest restorable point is /,
    );
  });

  it('the repository is missing', async () => {
    const missing = join(scratch, 'not-mounted');
    const env = pgincrTestEnv(pg, 'app', { repository: missing, capture: CAPTURE });
    envs.push(env);
    const message = await restoreFailure(env, 'r_norepo', 'ConfigError');
    expect(message).toBe(
      `repository ${missing} does not exist\nhint: check repository in the configuration (or PGINCR_REPOSITORY), and that the backup volume is mounted`,
    );
  });
});

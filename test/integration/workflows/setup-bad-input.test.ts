/**
 * Issue 3, bad input: setupWorkflow through a real Temporal server against misconfigured
 * servers and workers. Each case fails fast (non-retryable), with a message naming the thing
 * to fix, and leaves nothing behind: no slot, no capture schema, no publication, no chain
 * folder in the repository.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { freePort, startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { setupTemporal } from '../../helpers/temporal';
import { pgincrTestEnv, type PgincrTestEnv } from '../../helpers/pgincr-env';

jest.setTimeout(180_000);

/** Non-retryable failures surface at once; retries would take minutes. */
const FAST_MS = 30_000;

describe('setupWorkflow refuses bad input, naming the fix, leaving nothing behind', () => {
  let main: PgCluster;
  let replica: PgCluster;
  let small: PgCluster;
  const envs: PgincrTestEnv[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'pgincr-bad-setup-'));
  const temporal = setupTemporal({ workflowsPath: require.resolve('../../../src/workflows') });

  beforeAll(async () => {
    [main, replica, small] = await Promise.all([
      startCluster(),
      startCluster({ settings: { wal_level: 'replica' } }),
      startCluster({ settings: { max_replication_slots: 1 } }),
    ]);
    await Promise.all([main, replica, small].map((c) => c.createDatabase('app')));
    await main.query('CREATE ROLE app LOGIN');
    await main.query('CREATE ROLE repl LOGIN REPLICATION');
    await small.query("SELECT pg_create_physical_replication_slot('standby_1')");
  }, 120_000);
  afterAll(async () => {
    for (const e of envs) e.cleanup();
    rmSync(scratch, { recursive: true, force: true });
    await Promise.all([main, replica, small].map((c) => c?.stop()));
  });

  function envFor(pg: PgCluster, overrides: Record<string, unknown> = {}): PgincrTestEnv {
    const env = pgincrTestEnv(pg, 'app', overrides);
    envs.push(env);
    return env;
  }

  /** Runs setupWorkflow and returns its failure (type, message, nonRetryable), asserting it was fast. */
  async function setupFailure(env: PgincrTestEnv): Promise<ApplicationFailure> {
    const started = Date.now();
    const error = await temporal.run(
      () =>
        temporal.client.workflow
          .execute('setupWorkflow', {
            taskQueue: temporal.taskQueue,
            workflowId: temporal.workflowId('setup'),
            args: [{ profile: 'default', startCapture: false }],
          })
          .then(
            () => null,
            (err: unknown) => err,
          ),
      { activities: env.activities },
    );
    expect(Date.now() - started).toBeLessThan(FAST_MS);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    const failure = cause as ApplicationFailure;
    expect(failure.type).toBe('NotReadyError');
    expect(failure.nonRetryable).toBe(true);
    return failure;
  }

  /** Nothing pgincr makes exists in `db` on `pg`, nor in the repository. */
  async function expectNothingMade(pg: PgCluster, env: PgincrTestEnv, keepSlots: string[] = []): Promise<void> {
    const slots = await pg.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots ORDER BY 1');
    expect(slots.map((s) => s.slot_name)).toEqual(keepSlots);
    const made = await pg.query<{ schema: boolean; publication: boolean; triggers: number }>(
      `SELECT
        EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pgincr') AS schema,
        EXISTS (SELECT 1 FROM pg_publication) AS publication,
        (SELECT count(*) FROM pg_event_trigger)::int AS triggers`,
      [],
      'app',
    );
    expect(made).toEqual([{ schema: false, publication: false, triggers: 0 }]);
    expect(readdirSync(env.repository)).toEqual([]);
  }

  it('wal_level is not logical', async () => {
    const env = envFor(replica);
    const failure = await setupFailure(env);
    expect(failure.message).toMatch(/wal_level is 'replica'; set wal_level = logical in postgresql\.conf and restart/);
    await expectNothingMade(replica, env);
  });

  it('the role has neither REPLICATION nor SUPERUSER, or only REPLICATION', async () => {
    const app = envFor(main, { profiles: { default: { ...main.profile('app'), user: 'app' } } });
    const failure = await setupFailure(app);
    expect(failure.message).toMatch(/role app has neither REPLICATION nor SUPERUSER \(hint: ALTER ROLE app REPLICATION;\)/);
    expect(failure.message).toMatch(/role app is not a superuser/);
    await expectNothingMade(main, app);

    const repl = envFor(main, { profiles: { default: { ...main.profile('app'), user: 'repl' } } });
    const onlyReplication = await setupFailure(repl);
    expect(onlyReplication.message).not.toMatch(/neither REPLICATION/);
    expect(onlyReplication.message).toMatch(/role repl is not a superuser; the DDL event triggers of the capture schema need one/);
    await expectNothingMade(main, repl);
  });

  it('no replication slot is free', async () => {
    const env = envFor(small);
    const failure = await setupFailure(env);
    expect(failure.message).toMatch(/max_replication_slots: 0 free of 1 \(hint: raise max_replication_slots in postgresql\.conf/);
    await expectNothingMade(small, env, ['standby_1']);
  });

  it('the slot name is taken by a physical slot or by a slot of another plugin', async () => {
    const env = envFor(main);
    for (const [create, kind] of [
      ["SELECT pg_create_physical_replication_slot('pgincr')", /slot pgincr exists for physical decoding with plugin \(none\)/],
      [
        "SELECT pg_create_logical_replication_slot('pgincr', 'test_decoding')",
        /slot pgincr exists for logical decoding with plugin test_decoding on database app, not pgoutput on app/,
      ],
    ] as const) {
      await main.query(create, [], 'app');
      try {
        const failure = await setupFailure(env);
        expect(failure.message).toMatch(kind);
        expect(failure.message).toMatch(/hint: choose another capture\.slot name, or drop that slot/);
        await expectNothingMade(main, env, ['pgincr']);
      } finally {
        await main.query("SELECT pg_drop_replication_slot('pgincr')");
      }
    }
  });

  it('pg_dump is older than the server', async () => {
    const bin = join(scratch, 'old-bin');
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    writeFileSync(join(bin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 12.0"\n');
    chmodSync(join(bin, 'pg_dump'), 0o755);
    const env = envFor(main);
    const path = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${path ?? ''}`;
    try {
      const failure = await setupFailure(env);
      expect(failure.message).toMatch(/pg_dump is version 12 but the server is PostgreSQL 15: it cannot dump a newer server/);
      expect(failure.message).toMatch(/install the PostgreSQL 15 client programs .* or point PGINCR_PG_BIN at their folder/);
    } finally {
      process.env.PATH = path;
    }
    await expectNothingMade(main, env);
  });

  it('a base that fails after its slot was created drops the slot (the activity, as a retry would see it)', async () => {
    const bin = join(scratch, 'failing-bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'pg_dump'),
      '#!/bin/sh\n[ "$1" = --version ] && exec echo "pg_dump (PostgreSQL) 15.20"\necho "pg_dump: error: simulated failure" >&2\nexit 1\n',
    );
    chmodSync(join(bin, 'pg_dump'), 0o755);
    const env = envFor(main);
    const path = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${path ?? ''}`;
    try {
      await expect(env.activities.takeBase({ profile: 'default', temporarySlot: false })).rejects.toThrow(
        /pg_dump failed with exit code 1: pg_dump: error: simulated failure/,
      );
    } finally {
      process.env.PATH = path;
    }
    expect(await main.query('SELECT slot_name FROM pg_replication_slots')).toEqual([]);
    const chains = readdirSync(env.repository);
    expect(chains).toHaveLength(1);
    expect(readdirSync(join(env.repository, chains[0]!, 'base'))).toEqual([]);
  });

  it('the repository path cannot be created (a file stands in its way)', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a folder\n');
    const env = envFor(main, { repository: join(file, 'repo') });
    const failure = await setupFailure(env);
    expect(failure.message).toContain(`repository ${join(file, 'repo')} cannot be created: ${file} is a file, not a folder`);
    expect(failure.message).toMatch(/set repository in the configuration \(or PGINCR_REPOSITORY\)/);
    await expectNothingMade(main, env);
  });

  it('the database does not exist', async () => {
    const env = envFor(main, { profiles: { default: main.profile('nope'), admin: main.profile('postgres') } });
    const failure = await setupFailure(env);
    expect(failure.message).toMatch(
      /cannot connect to .*dbname=nope.*database "nope" does not exist \(3D000\) \(hint: create the database or fix dbname in the profile\)/,
    );
    expect(readdirSync(env.repository)).toEqual([]);
    expect(await main.query("SELECT 1 FROM pg_database WHERE datname = 'nope'")).toEqual([]);
  });

  it('the connection is refused', async () => {
    const port = await freePort();
    const env = envFor(main, { profiles: { default: { host: '127.0.0.1', port, user: main.user, dbname: 'app' } } });
    const failure = await setupFailure(env);
    expect(failure.message).toMatch(
      new RegExp(`cannot connect to host=127\\.0\\.0\\.1 port=${port} .*ECONNREFUSED.*hint: is the server running and listening there\\? check host and port`),
    );
    expect(readdirSync(env.repository)).toEqual([]);
  });
});

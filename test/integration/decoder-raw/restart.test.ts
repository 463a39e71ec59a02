/**
 * The pg_recvlogical supervisor under faults: its walsender is terminated mid-capture (the slot
 * resends everything after its last confirmation), and the capture activity ends while
 * pg_recvlogical runs. Nothing is lost, nothing is written twice, no process is left behind.
 * Also: the plugin probe says why decoder_raw is unusable when it is not allow-listed.
 */
import { execFileSync } from 'node:child_process';
import type { PgCluster } from '../../helpers/pg-cluster';
import { pgincrTestEnv, waitFor, type PgincrTestEnv } from '../../helpers/pgincr-env';
import { sealedSegmentText, stateOf } from '../../helpers/direct-pipeline';
import { decoderRawAvailable } from '../../../src/adapters/pg/raw-capture-objects';
import { RECVLOGICAL_APP_NAME } from '../../../src/adapters/exec/pg-recvlogical';
import { describeRaw, startRawCluster } from './raw-cluster';

jest.setTimeout(300_000);

/** One transaction writing both tables. */
const INSERT_BOTH = 'WITH x AS (INSERT INTO t VALUES ($1, $2)) INSERT INTO log VALUES ($1)';

const walsenderPid = async (pg: PgCluster) =>
  (await pg.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [RECVLOGICAL_APP_NAME]))[0]?.pid;

function recvlogicalProcesses(): string[] {
  try {
    return execFileSync('pgrep', ['-f', '-a', 'pg_recvlogical --start'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('pgincr_restart'));
  } catch {
    return [];
  }
}

describeRaw('decoder_raw capture: pg_recvlogical restarts', () => {
  let pg: PgCluster;
  let env: PgincrTestEnv;

  beforeAll(async () => {
    pg = await startRawCluster();
    await pg.createDatabase('app');
    await pg.query('CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE log (n int)', [], 'app');
    env = pgincrTestEnv(pg, 'app', { capture: { slot: 'pgincr_restart', decoder: 'decoder_raw' } });
    await env.activities.installCaptureSchema({ profile: 'default' });
    await env.activities.fixReplicaIdentity({ profile: 'default' });
    await env.activities.ensurePublication({ profile: 'default' }); // decoder_raw: its triggers
    const base = await env.activities.takeBase({ profile: 'default', temporarySlot: false });
    await env.activities.writeMetadata({ profile: 'default', baseId: base.baseId });
  });
  afterAll(async () => {
    env?.cleanup();
    await pg?.stop();
  });

  it('a terminated walsender: pg_recvlogical is restarted, the resent transactions are written once', async () => {
    const capture = env.activities.captureChanges({ profile: 'default', runForMs: 20_000 });
    await waitFor('pg_recvlogical to stream', async () => (await walsenderPid(pg)) !== undefined, 30_000);
    const c = await pg.connect('app');
    try {
      capture.catch(() => undefined); // awaited below; never left running after a failure
      for (let i = 1; i <= 20; i++) await c.query(INSERT_BOTH, [i, `v${i}`]);
      const first = await walsenderPid(pg);
      await c.query('SELECT pg_terminate_backend($1)', [first]);
      await waitFor(
        'a new pg_recvlogical',
        async () => {
          const pid = await walsenderPid(pg);
          return pid !== undefined && pid !== first;
        },
        30_000,
      );
      for (let i = 21; i <= 40; i++) await c.query(INSERT_BOTH, [i, `v${i}`]);
      await c.query("UPDATE t SET v = v || '!' WHERE id % 2 = 0");
    } finally {
      await c.end();
      await capture.catch(() => undefined);
    }
    const result = (await capture) as unknown as { skipped?: number };
    if (process.env.PGINCR_TEST_VERBOSE) console.log('resent transactions skipped:', result.skipped);
    await env.activities.captureChanges({ profile: 'default', runForMs: 3000, stopping: true });
    // The activity stopped its pg_recvlogical.
    expect(await walsenderPid(pg)).toBeUndefined();
    expect(recvlogicalProcesses()).toEqual([]);

    const { chainDir } = await env.activities.inspectSetup({ profile: 'default' });
    const text = sealedSegmentText({ chainDir } as Parameters<typeof sealedSegmentText>[0]);
    const xids = [...text.matchAll(/^BEGIN; -- xid (\d+) /gm)].map((m) => m[1]);
    expect(xids.length).toBeGreaterThanOrEqual(41);
    expect(new Set(xids).size).toBe(xids.length);
    // `log` has no key: a transaction written twice would show as a duplicate row.
    for (let i = 1; i <= 40; i++) expect(text.match(new RegExp(`^INSERT INTO public\\.log \\(n\\) VALUES \\('${i}'\\);$`, 'gm'))).toHaveLength(1);

    const plan = await env.activities.planRestore({ profile: 'default', target: { kind: 'latest' } });
    await env.activities.createTargetDatabase({
      profile: 'default',
      targetProfile: 'admin',
      targetDb: 'app_restored',
      restoreId: 'r1',
      encoding: plan.encoding,
    });
    await env.activities.restoreBase({ targetProfile: 'admin', targetDb: 'app_restored', restoreId: 'r1', plan });
    await env.activities.applySegments({ targetProfile: 'admin', targetDb: 'app_restored', restoreId: 'r1', plan, target: { kind: 'latest' } });
    const [a, b] = await Promise.all([stateOf(pg, 'app'), stateOf(pg, 'app_restored')]);
    expect(b.tables).toEqual(a.tables);
  });

  it('the probe names output_plugin_libraries when decoder_raw is not in it', async () => {
    const [has] = await pg.query(`SELECT 1 AS x FROM pg_settings WHERE name = 'output_plugin_libraries'`);
    if (!has) return; // a server without the setting has nothing to refuse
    await pg.query('ALTER SYSTEM RESET output_plugin_libraries');
    await pg.query('SELECT pg_reload_conf()');
    await waitFor(
      'the reset to take effect',
      async () => !(await pg.query<{ s: string }>(`SELECT setting AS s FROM pg_settings WHERE name = 'output_plugin_libraries'`))[0]?.s.includes('decoder_raw'),
      10_000,
      50,
    );
    const probe = await decoderRawAvailable(pg.profile('app'));
    expect(probe.available).toBe(false);
    expect(probe.reason).toMatch(/output_plugin_libraries .* without decoder_raw/);
  });
});

/**
 * The pieces behind issue 15's CLI promises that need no server: how far an open (growing)
 * segment's whole transactions reach, the bounded wait for the capture to seal it, the report
 * lines about it, the restore-id ↔ Temporal run mapping leftovers rely on, and dev.json's
 * precedence and staleness.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastCommitEnd, waitForSealed } from '../../src/restore/open-segment';
import { describeReach, type ChainReach } from '../../src/core/monitor/capture-failure';
import { restoreRunOf, workflowIdTail } from '../../src/restore/leftovers';
import { readDevState, resolveCliConfig, writeDevState } from '../../src/cli/dev-state';
import { parseConfig } from '../../src/config';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgincr-unit-latest-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const header = '-- pgincr segment v1\n-- system_identifier: 1  database: app  server: PostgreSQL 15  encoding: UTF8\n';
const txn = (xid: number, end: string) =>
  `BEGIN; -- xid ${xid} commit_lsn 0/1 committed 2026-12-06 10:00:00+00\nINSERT INTO public.t (id) VALUES ('${xid}');\nCOMMIT; -- xid ${xid} end_lsn ${end} changes 1\n`;

describe('lastCommitEnd', () => {
  it('is the last whole COMMIT line; a torn last line (being written) is ignored', async () => {
    const path = join(dir, 'a.sql.partial');
    writeFileSync(
      path,
      `${header}${txn(1, '0/10')}${txn(2, '0/20')}BEGIN; -- xid 3 commit_lsn 0/21 committed 2026-12-06 10:00:01+00\nCOMMIT; -- xid 3 end_lsn 0/3`,
    );
    expect(await lastCommitEnd(path)).toBe('0/20');
  });

  it('is null for an open segment without transactions', async () => {
    const path = join(dir, 'b.sql.partial');
    writeFileSync(path, header);
    expect(await lastCommitEnd(path)).toBeNull();
  });

  it('finds a COMMIT line that lies before a long transaction spanning several read chunks', async () => {
    const path = join(dir, 'c.sql.partial');
    const big = `BEGIN; -- xid 9 commit_lsn 0/31 committed 2026-12-06 10:00:02+00\n${`INSERT INTO public.t (id) VALUES ('${'x'.repeat(1000)}');\n`.repeat(3000)}`;
    writeFileSync(path, `${header}${txn(1, '0/30')}${big}`);
    expect(await lastCommitEnd(path)).toBe('0/30');
  });
});

describe('waitForSealed', () => {
  function clock() {
    let t = 0;
    return {
      now: () => t,
      sleep: async (ms: number) => {
        t += ms;
      },
    };
  }

  it('returns at once when the sealed segments already reach the LSN, without asking for a rotation', async () => {
    const requests: number[] = [];
    const c = clock();
    const r = await waitForSealed(
      0x20n,
      {
        requestRotation: async () => {
          requests.push(c.now());
        },
        sealedEnd: async () => 0x20n,
        captureRunning: async () => true,
        ...c,
      },
      { timeoutMs: 1000 },
    );
    expect(r).toEqual({ lsn: '0/20', sealed: true, waitedMs: 0 });
    expect(requests).toEqual([]);
  });

  it('asks for a rotation and waits until a sealed segment reaches the LSN', async () => {
    const c = clock();
    const requests: number[] = [];
    const r = await waitForSealed(
      0x20n,
      {
        requestRotation: async () => {
          requests.push(c.now());
        },
        sealedEnd: async () => (c.now() >= 1500 ? 0x28n : 0x10n),
        captureRunning: async () => true,
        ...c,
      },
      { timeoutMs: 60_000 },
    );
    expect(r).toMatchObject({ lsn: '0/20', sealed: true, waitedMs: 1500 });
    expect(requests).toEqual([0]);
  });

  it('gives up when no capture is running, and when the timeout passes, saying why', async () => {
    const idle = clock();
    const stopped = await waitForSealed(
      0x20n,
      { requestRotation: async () => undefined, sealedEnd: async () => null, captureRunning: async () => false, ...idle },
      { timeoutMs: 60_000, inactiveGraceMs: 5000 },
    );
    expect(stopped).toMatchObject({ sealed: false, reason: expect.stringContaining('no capture is running') });
    expect(stopped.waitedMs).toBeLessThan(10_000);
    const slow = clock();
    const late = await waitForSealed(
      0x20n,
      { requestRotation: async () => undefined, sealedEnd: async () => 0x10n, captureRunning: async () => true, ...slow },
      { timeoutMs: 3000 },
    );
    expect(late).toMatchObject({ sealed: false, reason: expect.stringContaining('within 3 s') });
  });
});

describe('describeReach with the open segment', () => {
  const base: ChainReach = {
    lsn: '0/20',
    commitTime: '2026-12-06 10:00:00+00',
    capture: 'running',
    captureDetail: 'capture workflow w is running',
    behind: false,
  };
  it('says the open segment was sealed and included, or what was left out and why', () => {
    expect(describeReach({ ...base, openSegment: { lsn: '0/20', sealed: true, waitedMs: 1200 } })).toContain(
      'open segment sealed for this restore (its transactions up to 0/20 included; waited 1.2 s)',
    );
    expect(
      describeReach({
        ...base,
        capture: 'stopped',
        captureDetail: 'capture workflow w is not running (TERMINATED)',
        openSegment: { lsn: '0/30', sealed: false, waitedMs: 5000, reason: 'no capture is running' },
      }),
    ).toContain("WARNING: the open segment's transactions up to 0/30 are not included: no capture is running");
  });
});

describe('restore ids and Temporal runs', () => {
  it('maps a restore id back to its workflow id tail and first run id', () => {
    const runId = '0f8c2a54-1b2c-4d3e-8f90-a1b2c3d4e5f6';
    const id = `${workflowIdTail('pgincr-restore-app_restored')}_${runId.replace(/-/g, '')}`;
    expect(workflowIdTail('pgincr-restore-app_restored')).toBe('restore_app_restored');
    expect(restoreRunOf(id)).toEqual({ workflowIdTail: 'restore_app_restored', runId });
    expect(restoreRunOf('not-a-restore-id')).toBeNull();
    expect(restoreRunOf('x_0123')).toBeNull();
  });
});

describe('dev.json', () => {
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ PGINCR_STATE_DIR: join(dir, '.pgincr'), ...extra });

  it('is used when nothing explicit is configured; PGINCR_REPOSITORY and --config win over it', () => {
    const config = parseConfig({ repository: join(dir, 'repo'), profiles: { default: { host: '/tmp/demo', port: 5999, dbname: 'demo' } } }, {});
    writeDevState(join(dir, '.pgincr', 'dev.json'), config);
    expect(resolveCliConfig(undefined, env()).profiles.default).toEqual({ host: '/tmp/demo', port: 5999, dbname: 'demo' });
    expect(resolveCliConfig(undefined, env({ PGINCR_REPOSITORY: '/elsewhere' })).repository).toBe('/elsewhere');
    const file = join(dir, 'pgincr.json');
    writeFileSync(file, JSON.stringify({ repository: '/from-file' }));
    expect(resolveCliConfig(file, env()).repository).toBe('/from-file');
  });

  it('is stale once its pgincr dev is gone: ignored, and the error says so and how to start dev', () => {
    const config = parseConfig({ repository: join(dir, 'repo') }, {});
    writeDevState(join(dir, '.pgincr', 'dev.json'), config, 2 ** 22 + 12345); // no such pid (above pid_max's default)
    expect(readDevState(env())).toMatchObject({ stale: expect.stringContaining('is not running') });
    expect(() => resolveCliConfig(undefined, env())).toThrow(/is stale[\s\S]*npm run dev/);
  });
});

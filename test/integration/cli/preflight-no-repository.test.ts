/**
 * `bin/pgincr preflight` as a new user first runs it: the PG* environment set, no config file, no
 * PGINCR_REPOSITORY, no `npm run dev` in this folder. It checks the database anyway and reports
 * the missing repository as one not-ready line with the fix (it used to refuse before checking
 * anything: "no config file and no PGINCR_REPOSITORY").
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';

jest.setTimeout(180_000);

const BIN = join(resolve(__dirname, '../../..'), 'bin/pgincr');

let pg: PgCluster;
let dir: string;
beforeAll(async () => {
  pg = await startCluster();
  await pg.createDatabase('app');
  dir = mkdtempSync(join(tmpdir(), 'pgincr-norepo-'));
});
afterAll(async () => {
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('preflight without a repository checks the database and reports the repository as a not-ready line', async () => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PG|PGINCR_|TEMPORAL_)/.test(k) || k === 'PGINCR_PG_BIN')) as Record<
    string,
    string
  >;
  const r = await execa(BIN, ['preflight'], { env: { ...env, ...pg.env('app') }, extendEnv: false, cwd: dir, reject: false, timeout: 120_000 });
  expect({ code: r.exitCode, stderr: r.stderr.includes('no config file') ? r.stderr : '' }).toEqual({ code: 2, stderr: '' });
  // The server's checks ran...
  expect(r.stdout).toMatch(/OK +connection/);
  expect(r.stdout).toMatch(/OK +wal_level +wal_level is 'logical'/);
  // ...and the repository is one of the lines, with the fix.
  expect(r.stdout).toMatch(/FAIL +repository +no repository configured.*PGINCR_REPOSITORY/);
  expect(r.stdout).toMatch(/profile default: NOT READY/);
  // With the fix applied, the same command is ready (or only warns): nothing else was wrong.
  const fixed = await execa(BIN, ['preflight', '--direct'], {
    env: { ...env, ...pg.env('app'), PGINCR_REPOSITORY: join(dir, 'backups') },
    extendEnv: false,
    cwd: dir,
    reject: false,
    timeout: 120_000,
  });
  expect({ code: fixed.exitCode, stdout: fixed.stdout }).toMatchObject({ stdout: expect.stringMatching(/OK +repository/) });
  expect([0, 1]).toContain(fixed.exitCode);
});

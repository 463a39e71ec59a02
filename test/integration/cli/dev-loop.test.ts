/**
 * The dev loop as README tells it: `pgincr dev` in one terminal (no config, no PG* environment:
 * the demo cluster), then README's commands in a second terminal in the same folder with no
 * exports at all. dev writes .pgincr/dev.json (no password in it) and the CLI picks it up;
 * explicit configuration wins over it; Ctrl-C (SIGINT) stops the demo cluster and the Temporal
 * server and removes dev.json, after which the same command says how to start dev again.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, isRunning } from '../../../src/dev/local-cluster';
import { waitFor } from '../../helpers/pgincr-env';

jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');

/** The environment of a fresh terminal: nothing of PostgreSQL's, pgincr's or Temporal's (the test machinery's tool paths kept). */
function terminalEnv(): Record<string, string> {
  const keep = new Set(['PGINCR_PG_BIN', 'PGINCR_TEST_OS_USER', 'PGINCR_TEMPORAL_BIN']);
  return Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && (keep.has(k) || !/^(PG|TEMPORAL_)/.test(k)))) as Record<
    string,
    string
  >;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      done(true);
    });
    socket.on('error', () => done(false));
  });
}

it('a second terminal in the same folder reaches what pgincr dev started with no exports; Ctrl-C stops it all', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-devloop-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const env = terminalEnv();
  const devJson = join(dir, '.pgincr', 'dev.json');
  const dev = execa(BIN, ['dev', '--port', String(port), '--ui-port', String(uiPort)], { env, extendEnv: false, all: true, reject: false, cwd: dir });
  let output = '';
  dev.all?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const second = (args: string[], extra: Record<string, string> = {}) =>
    execa(BIN, args, { env: { ...env, ...extra }, extendEnv: false, cwd: dir, reject: false, timeout: 120_000 });
  let demoHost: string | undefined;
  try {
    await waitFor('dev.json', async () => existsSync(devJson) || dev.exitCode !== null, 180_000, 250);
    expect({ exited: dev.exitCode, output: dev.exitCode === null ? '' : output }).toEqual({ exited: null, output: '' });
    const text = readFileSync(devJson, 'utf8');
    expect(text).not.toMatch(/"(password|passwd|pgpassword)"/i);
    const state = JSON.parse(text) as {
      pid: number;
      config: {
        repository: string;
        profiles: Record<string, { host: string; port: number; user: string; dbname: string }>;
        temporal: { address: string; namespace: string; taskQueue: string };
      };
    };
    demoHost = state.config.profiles.default?.host;
    expect(state.config.temporal).toMatchObject({ address: `127.0.0.1:${port}`, namespace: 'default', taskQueue: 'pgincr' });
    expect(state.config.profiles.default).toMatchObject({ dbname: 'demo', port: expect.any(Number) });
    expect(state.config.repository).toBe(join(dir, '.pgincr', 'repository'));

    // The second terminal: README's commands, no exports.
    const preflight = await second(['preflight']);
    // 0 ready, 1 ready with warnings (the demo cluster may warn, e.g. about max_slot_wal_keep_size)
    expect({ ok: [0, 1].includes(preflight.exitCode ?? -1), stdout: preflight.stdout, stderr: preflight.stderr }).toMatchObject({ ok: true });
    expect(preflight.stdout).toMatch(/OK +wal_level/);
    expect(preflight.stdout).toMatch(new RegExp(`repository ${join(dir, '.pgincr', 'repository')}`));
    expect(preflight.stdout).toMatch(/profile default: ready/);
    const list = await second(['list']);
    expect({ code: list.exitCode, stderr: list.stderr }).toMatchObject({ code: 0 });

    // Explicit configuration wins over dev.json: here a repository that does not exist yet.
    const elsewhere = join(dir, 'explicit-repository');
    const explicit = await second(['preflight', '--direct'], {
      PGINCR_REPOSITORY: elsewhere,
      PGHOST: demoHost!,
      PGPORT: String(state.config.profiles.default!.port),
      PGDATABASE: 'demo',
      PGUSER: state.config.profiles.default!.user,
    });
    expect(explicit.stdout).toContain(`repository ${elsewhere}`);
  } finally {
    dev.kill('SIGINT');
  }
  const result = await dev;
  try {
    expect(result.exitCode === 0 || result.signal === 'SIGINT').toBe(true);
    expect(existsSync(devJson)).toBe(false);
    expect(await portOpen(port)).toBe(false);
    expect(demoHost).toBeDefined();
    expect(isRunning({ dir: demoHost!, port: 0 })).toBe(false);
    // Without dev the same command says what to do.
    const after = await second(['list']);
    expect(after.exitCode).not.toBe(0);
    expect(after.stderr).toMatch(/npm run dev/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (demoHost && demoHost.startsWith(tmpdir())) rmSync(demoHost, { recursive: true, force: true });
  }
});

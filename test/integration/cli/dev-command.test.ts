/**
 * The dev command as a new user runs it: no config, no PG* environment → it creates a demo
 * cluster, starts the Temporal dev server with its Web UI and a worker, and runs preflight
 * through Temporal.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../../src/dev/local-cluster';
import { waitFor } from '../../helpers/pgincr-env';

jest.setTimeout(240_000);

const ROOT = resolve(__dirname, '../../..');

it('pgincr dev starts the Web UI and a worker and runs preflight against a demo database', async () => {
  const state = mkdtempSync(join(tmpdir(), 'pgincr-dev-'));
  const [port, uiPort] = [await freePort(), await freePort()];
  const env: Record<string, string | undefined> = { ...process.env, PGINCR_STATE_DIR: state };
  for (const k of ['PGHOST', 'PGDATABASE', 'PGSERVICE', 'PGINCR_CONFIG', 'TEMPORAL_ADDRESS']) delete env[k];
  const dev = execa(join(ROOT, 'bin/pgincr'), ['dev', '--port', String(port), '--ui-port', String(uiPort)], {
    env,
    extendEnv: false,
    all: true,
    reject: false,
    cwd: state,
  });
  let output = '';
  let result: { exitCode?: number; signal?: string } | undefined;
  dev.all?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  try {
    await waitFor('preflight output', async () => /profile default: ready/.test(output) || dev.exitCode !== null, 180_000, 250);
    expect(output).toMatch(/Web UI: +http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/OK +wal_level +wal_level is 'logical'/);
    expect(output).toMatch(/profile default: ready/);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
    expect(output).toMatch(/worker running/);
  } finally {
    dev.kill('SIGINT');
    result = await dev;
    rmSync(state, { recursive: true, force: true });
    // As root the demo cluster lives beside the temp dir (see src/cli/dev.ts demoDir).
    rmSync(join(tmpdir(), `pgincr-demo-${createHash('sha256').update(state).digest('hex').slice(0, 10)}`), { recursive: true, force: true });
  }
  // SIGINT stops the worker and the server: a clean exit, or the signal itself.
  expect(result?.exitCode === 0 || result?.signal === 'SIGINT').toBe(true);
});

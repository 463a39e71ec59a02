/**
 * updateCatalog under concurrency: many in-process updates plus a forked process updating the
 * same catalog lose nothing; stale locks (dead pid, old mtime) are broken; a live lock makes a
 * waiter time out with the lock file named.
 */
import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalogLockPath } from '../../../src/adapters/fs/catalog-lock';
import { loadCatalog, updateCatalog } from '../../../src/adapters/fs/catalog-store';
import { emptyCatalog } from '../../../src/core/catalog/catalog';
import { addCheckpoints } from './catalog-updater.child';

jest.setTimeout(120_000);

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pgincr-lock-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const chainIn = (dir: string) => join(dir, '7000000000000000002-app');

function runChild(chain: string, first: number, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, 'catalog-updater.child.ts'), [chain, String(first), String(count)], {
      execArgv: ['-r', require.resolve('ts-node/register/transpile-only')],
      env: { ...process.env, TS_NODE_COMPILER_OPTIONS: JSON.stringify({ module: 'commonjs', moduleResolution: 'node' }) },
      stdio: 'pipe',
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`))));
  });
}

test('concurrent updates from this process and another one all land', async () => {
  const chain = chainIn(root);
  const child = runChild(chain, 1000, 40);
  await addCheckpoints(chain, 1, 40);
  await child;
  const catalog = await loadCatalog(chain);
  expect(catalog?.checkpoints.length).toBe(80);
  expect(existsSync(catalogLockPath(chain))).toBe(false);
});

test('a lock left by a dead process is broken at once', async () => {
  const chain = chainIn(root);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  mkdirSync(join(chain, 'catalog'), { recursive: true });
  writeFileSync(catalogLockPath(chain), `${dead.stdout} ${hostname()} ${new Date().toISOString()} x\n`);
  const started = Date.now();
  await updateCatalog(chain, (c) => c ?? emptyCatalog('7000000000000000002', 'app'), { timeoutMs: 5000 });
  expect(Date.now() - started).toBeLessThan(2000);
  expect(existsSync(catalogLockPath(chain))).toBe(false);
});

test('a lock not refreshed for longer than staleMs is broken; a live one times out', async () => {
  const chain = chainIn(root);
  mkdirSync(join(chain, 'catalog'), { recursive: true });
  const lock = catalogLockPath(chain);
  // Held by a live process (this one) on another host: only its age can make it stale.
  writeFileSync(lock, `${process.pid} elsewhere.example ${new Date().toISOString()} y\n`);
  await expect(updateCatalog(chain, (c) => c ?? emptyCatalog('7000000000000000002', 'app'), { timeoutMs: 300 })).rejects.toThrow(
    new RegExp(`^${lock}: catalog still locked after 300 ms by ${process.pid} elsewhere\\.example`),
  );
  const old = new Date(Date.now() - 120_000);
  utimesSync(lock, old, old);
  const saved = await updateCatalog(chain, (c) => c ?? emptyCatalog('7000000000000000002', 'app'), { timeoutMs: 5000 });
  expect(saved.chain.database).toBe('app');
  expect(existsSync(lock)).toBe(false);
});

/**
 * An exclusive lock on a chain's catalog, so load → modify → save never loses an update made
 * by another activity, process or host sharing the repository:
 * - in this process, a promise chain per chain folder (callers queue, no polling);
 * - across processes, `catalog/catalog.lock`, created with O_EXCL and holding
 *   `<pid> <hostname> <ISO time> <nonce>`; its mtime is refreshed while held. A lock is stale
 *   when its mtime is older than `staleMs` or (same host) its pid is dead; it is broken by
 *   renaming it aside first, so two waiters cannot both break it and then both hold it.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { catalogPath } from '../../core/repository/paths';
import { PgincrError } from '../../errors';
import { ensureDir } from './atomic-write';

export const CATALOG_LOCK_FILE = 'catalog.lock';

export interface CatalogLockOptions {
  /** A lock older than this is stale (default 60 s). */
  staleMs?: number;
  /** Give up after waiting this long (default 120 s). */
  timeoutMs?: number;
}

const queues = new Map<string, Promise<unknown>>();

/** The lock file of a chain folder. */
export function catalogLockPath(chain: string): string {
  return join(dirname(catalogPath(chain)), CATALOG_LOCK_FILE);
}

function isCode(error: unknown, code: string): boolean {
  return (error as { code?: string }).code === code;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return !isCode(error, 'ESRCH'); // EPERM: alive, someone else's
  }
}

interface Holder {
  text: string;
  pid: number;
  host: string;
  atMs: number;
}

async function readHolder(path: string): Promise<Holder | null> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const [pid, host] = text.trim().split(' ');
    return { text, pid: Number(pid), host: host ?? '', atMs: info.mtimeMs };
  } catch (error) {
    if (isCode(error, 'ENOENT')) return null;
    throw error;
  }
}

function isStale(h: Holder, staleMs: number): boolean {
  if (Date.now() - h.atMs > staleMs) return true;
  return h.host === hostname() && Number.isInteger(h.pid) && h.pid > 0 && !pidAlive(h.pid);
}

/** Moves a stale lock aside; puts it back if it turned out to be a fresh one taken meanwhile. */
async function breakStale(path: string, judged: Holder): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return;
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => judged.text);
  if (moved !== judged.text) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

async function tryCreate(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (isCode(error, 'EEXIST')) return false;
    throw error;
  }
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  return true;
}

async function acquire(path: string, options: CatalogLockOptions): Promise<string> {
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  await ensureDir(dirname(path));
  for (let delay = 5; ; delay = Math.min(delay * 2, 250)) {
    const text = `${process.pid} ${hostname()} ${new Date().toISOString()} ${randomBytes(4).toString('hex')}\n`;
    if (await tryCreate(path, text)) return text;
    const holder = await readHolder(path);
    if (holder && isStale(holder, staleMs)) {
      await breakStale(path, holder);
      continue;
    }
    if (Date.now() > deadline) {
      throw new PgincrError('catalog_locked', `${path}: catalog still locked after ${options.timeoutMs ?? 120_000} ms by ${holder?.text.trim() ?? 'unknown'}`, {
        hint: 'another pgincr process is updating the catalog; if none is running, remove the lock file',
      });
    }
    await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
  }
}

async function release(path: string, text: string): Promise<void> {
  // Only our own lock: a waiter may have judged it stale and replaced it.
  if ((await readFile(path, 'utf8').catch(() => null)) === text) await unlink(path).catch(() => undefined);
}

/** Runs `fn` holding the chain's catalog lock (see the module comment). */
export function withCatalogLock<T>(chain: string, fn: () => Promise<T>, options: CatalogLockOptions = {}): Promise<T> {
  const key = resolve(chain);
  const run = async (): Promise<T> => {
    const path = catalogLockPath(key);
    const text = await acquire(path, options);
    const refresh = setInterval(
      () => {
        const now = new Date();
        void utimes(path, now, now).catch(() => undefined);
      },
      (options.staleMs ?? 60_000) / 4,
    );
    refresh.unref();
    try {
      return await fn();
    } finally {
      clearInterval(refresh);
      await release(path, text);
    }
  };
  const previous = queues.get(key) ?? Promise.resolve();
  const result = previous.then(run, run);
  const tail = result.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return result;
}

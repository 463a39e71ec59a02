/**
 * Durable file writes for the repository: files 0600, folders 0700; every write goes to a
 * temporary name in the same folder, is fsynced, renamed over the target, and the folder is
 * fsynced so the rename itself survives a crash.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A temporary name beside `path` (same folder, so the rename is atomic). Starts with `.` so listings skip it. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** True for names made by {@link tempPathFor}. */
export function isTempName(name: string): boolean {
  return /^\..+\.tmp-\d+-[0-9a-f]{8}$/.test(name);
}

/** True when a process with this pid runs on this host (EPERM: someone else's, alive). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'ESRCH';
  }
}

/**
 * Removes the temporary files in `dir` that a process which no longer runs left behind (a kill
 * between {@link tempPathFor}'s write and its rename: the fault gauntlet's random kills left a
 * `.…sql.partial.tmp-<pid>-…` for ever). Another live process's temp (this one's background gzip
 * included) is kept. Returns the names removed. Call it only as the folder's one writer.
 */
export async function removeAbandonedTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = isTempName(name) ? Number(/\.tmp-(\d+)-[0-9a-f]{8}$/.exec(name)?.[1]) : NaN;
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || pidAlive(pid)) continue;
    await unlink(join(dir, name)).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** fsyncs a folder, making renames and new entries in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Creates `dir` (and its parents) with `mode` if missing; fsyncs the parent of every folder
 * it creates so the new entry is durable.
 */
export async function ensureDir(dir: string, mode = 0o700): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode });
  if (first === undefined) return;
  // mkdir returns the first folder it created: fsync the parent of each created level.
  let current = dir;
  const created: string[] = [];
  while (current.length >= first.length) {
    created.push(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const d of created) await fsyncDir(dirname(d));
}

/** Writes `data` to `path` atomically and durably (temp → fsync → rename → fsync folder). */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await fsyncDir(dirname(path));
}

/**
 * Preflight checks of the worker's own machine, not the server: the repository folder can be
 * written, and the local `pg_dump` can dump the server (it must be at least the server's major
 * version). Setup runs them before it creates anything, so a bad repository path or an old
 * client fails the setup with nothing left behind.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import type { Profile } from '../config';
import type { Finding } from '../core/preflight/report';
import { parseToolMajor } from '../core/commands/argv';
import { toolPath } from '../adapters/exec/pg-tools';
import { childEnv } from '../adapters/pg/connect';

const REPOSITORY_HINT = 'set repository in the configuration (or PGINCR_REPOSITORY) to a folder the worker can write';

type StatResult = { kind: 'dir' | 'file' } | { kind: 'missing' } | { kind: 'error'; code: string };

async function kindOf(path: string): Promise<StatResult> {
  try {
    return { kind: (await stat(path)).isDirectory() ? 'dir' : 'file' };
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'unknown';
    return code === 'ENOENT' || code === 'ENOTDIR' ? { kind: 'missing' } : { kind: 'error', code };
  }
}

/** Creates and removes a probe file: the only test that also catches read-only mounts (and works as root). */
async function probeWrite(dir: string): Promise<string | null> {
  const probe = join(dir, `.pgincr-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(probe, 'wx', 0o600);
    await handle.close();
    await unlink(probe);
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
}

/**
 * The repository folder: writable if it exists; else its nearest existing ancestor must be a
 * writable folder (setup creates the rest). Never creates anything.
 */
export async function repositoryFinding(repository: string): Promise<Finding> {
  const path = resolve(repository);
  const self = await kindOf(path);
  if (self.kind === 'file') {
    return { check: 'repository', status: 'fail', message: `repository ${path} is a file, not a folder`, hint: REPOSITORY_HINT };
  }
  if (self.kind === 'error') {
    return { check: 'repository', status: 'fail', message: `repository ${path} cannot be read (${self.code})`, hint: REPOSITORY_HINT };
  }
  if (self.kind === 'dir') {
    const problem = await probeWrite(path);
    return problem
      ? { check: 'repository', status: 'fail', message: `repository ${path} is not writable (${problem})`, hint: REPOSITORY_HINT }
      : { check: 'repository', status: 'ok', message: `repository ${path} is writable` };
  }
  let ancestor = dirname(path);
  for (;;) {
    const k = await kindOf(ancestor);
    if (k.kind === 'file') {
      return {
        check: 'repository',
        status: 'fail',
        message: `repository ${path} cannot be created: ${ancestor} is a file, not a folder`,
        hint: REPOSITORY_HINT,
      };
    }
    if (k.kind === 'dir') break;
    if (k.kind === 'error') {
      return { check: 'repository', status: 'fail', message: `repository ${path} cannot be created: ${ancestor} (${k.code})`, hint: REPOSITORY_HINT };
    }
    if (dirname(ancestor) === ancestor) break;
    ancestor = dirname(ancestor);
  }
  const writable = await access(ancestor, constants.W_OK).then(
    () => null,
    (err: { code?: string }) => err.code ?? 'EACCES',
  );
  return writable
    ? { check: 'repository', status: 'fail', message: `repository ${path} cannot be created: ${ancestor} is not writable (${writable})`, hint: REPOSITORY_HINT }
    : { check: 'repository', status: 'ok', message: `repository ${path} does not exist yet; setup creates it in ${ancestor}` };
}

/** The local pg_dump (PGINCR_PG_BIN, else PATH) against the server's major version. */
export async function pgDumpFinding(profile: Profile, serverVersionNum: number): Promise<Finding> {
  const server = Math.floor(serverVersionNum / 10000);
  const program = toolPath('pg_dump');
  const hint = `install the PostgreSQL ${server} client programs (e.g. postgresql-client-${server}) and put them first on PATH, or point PGINCR_PG_BIN at their folder`;
  let tool: number;
  try {
    const out = await execa(program, ['--version'], { env: childEnv(profile), extendEnv: false, timeout: 15_000 });
    tool = parseToolMajor(String(out.stdout));
  } catch (err) {
    const e = err as { code?: string; shortMessage?: string; message: string };
    const why = e.code === 'ENOENT' ? 'not found' : (e.shortMessage ?? e.message).split('\n')[0];
    return { check: 'pg_dump', status: 'fail', message: `${program} cannot be run: ${why}`, hint };
  }
  if (tool < server) {
    return {
      check: 'pg_dump',
      status: 'fail',
      message: `${program} is version ${tool} but the server is PostgreSQL ${server}: it cannot dump a newer server`,
      hint,
    };
  }
  return { check: 'pg_dump', status: 'ok', message: `${program} is version ${tool} (server ${server})` };
}

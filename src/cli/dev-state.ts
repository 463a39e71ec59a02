/**
 * `.pgincr/dev.json`: what a running `pgincr dev` started (the database profile it checks, the
 * repository, the Temporal address, namespace and task queue), so that every command in a second
 * terminal in the same folder reaches it with no exports. It holds the effective config, which
 * never has a password (parseConfig refuses them); the file is removed when dev stops, and a
 * file whose pid is gone is ignored as stale.
 *
 * Which config a command uses, first match wins: `--config FILE`, `$PGINCR_CONFIG`,
 * `$PGINCR_REPOSITORY` (+ the PG* environment), then a live `.pgincr/dev.json` in this folder
 * (`$PGINCR_STATE_DIR/dev.json` when set). Explicit configuration always wins over dev.json.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config';

export interface DevState {
  version: 1;
  /** The `pgincr dev` process: the file is stale once it is gone. */
  pid: number;
  startedAt: string;
  config: Config;
}

/** Where dev.json lives for commands run in `cwd`. */
export function devStatePath(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return join(resolve(cwd, env.PGINCR_STATE_DIR ?? '.pgincr'), 'dev.json');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** Writes dev.json atomically, 0600 (it names hosts and paths, no secret). */
export function writeDevState(path: string, config: Config, pid = process.pid): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const state: DevState = { version: 1, pid, startedAt: new Date().toISOString(), config };
  const tmp = `${path}.${pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes dev.json if it is this process's (a second dev in the same folder keeps its own). */
export function removeDevState(path: string, pid = process.pid): void {
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as Partial<DevState>;
    if (state.pid !== pid) return;
  } catch {
    return;
  }
  rmSync(path, { force: true });
}

export type DevStateRead = { state: DevState; path: string } | { stale: string; path: string } | { path: string };

/** The live dev.json, or why the one there is not used. */
export function readDevState(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): DevStateRead {
  const path = devStatePath(env, cwd);
  if (!existsSync(path)) return { path };
  let state: Partial<DevState>;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as Partial<DevState>;
  } catch (err) {
    return { path, stale: `${path} is not valid JSON (${(err as Error).message}): ignored` };
  }
  if (state.version !== 1 || typeof state.pid !== 'number' || typeof state.config !== 'object' || state.config === null) {
    return { path, stale: `${path} is not a dev.json this pgincr writes: ignored` };
  }
  if (!processAlive(state.pid)) return { path, stale: `${path} is stale: pgincr dev (pid ${state.pid}) is not running; start it again with npm run dev` };
  return { path, state: state as DevState };
}

/** The config for a CLI command (precedence in the file comment above). */
export function resolveCliConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const { loadConfig, parseConfig } = require('../config') as typeof import('../config');
  if (file || env.PGINCR_CONFIG || env.PGINCR_REPOSITORY) return loadConfig(file, env);
  const dev = readDevState(env);
  if ('state' in dev) return parseConfig(dev.state.config, env, `${dev.path} (written by pgincr dev, pid ${dev.state.pid})`);
  try {
    return loadConfig(file, env);
  } catch (err) {
    const { ConfigError } = require('../errors') as typeof import('../errors');
    if (!(err instanceof ConfigError)) throw err;
    const first = err.message.split('\nhint: ')[0] ?? err.message;
    throw new ConfigError('stale' in dev ? `${first} (${dev.stale})` : first, {
      hint: `${err.hint ?? 'pass --config FILE'}; or run \`npm run dev\` in this folder (commands here then read ${dev.path})`,
    });
  }
}

/**
 * What every activity shares: the worker's config and logger, profile lookup by name, the chain
 * folder of a profile, and heartbeats that are a no-op outside an activity (CLI direct mode).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { PgincrMetrics } from '../monitor/metrics';
import { ConfigError } from '../errors';
import { chainDirName } from '../core/repository/paths';
import { chainInfo } from './setup';
import { profileByName } from './setup-deps';

export interface ActivityDeps {
  config: Config;
  logger: Logger;
  /** The process's Prometheus metrics (the worker's); absent in CLI direct mode. */
  metrics?: PgincrMetrics;
}

export { profileByName };

/** The current activity context, or undefined when called directly (CLI, tests). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** The worker's Temporal client inside an activity; undefined outside one (or without a client). */
export function activityClient(): Client | undefined {
  try {
    return activityContext()?.client;
  } catch {
    return undefined;
  }
}

export function heartbeat(details: unknown): void {
  activityContext()?.heartbeat(details);
}

export function cancellationSignal(): AbortSignal | undefined {
  return activityContext()?.cancellationSignal;
}

/** The heartbeat details a retried attempt starts from (undefined on the first attempt). */
export function lastHeartbeat<T>(): T | undefined {
  return activityContext()?.info.heartbeatDetails as T | undefined;
}

/**
 * The chain folder of a profile's database. Asks the server for its system identifier; when the
 * source is unreachable (a disaster restore), falls back to the one chain in the repository
 * whose database matches the profile's dbname.
 */
export async function chainDirFor(deps: ActivityDeps, profile: string): Promise<string> {
  try {
    return (await chainInfo(deps, { profile })).chainDir;
  } catch (err) {
    const dbname = profileByName(deps.config, profile).dbname ?? process.env.PGDATABASE;
    const entries = await readdir(deps.config.repository).catch(() => [] as string[]);
    const suffix = dbname ? chainDirName('0', dbname).replace(/^0/, '') : undefined;
    const matches = suffix ? entries.filter((e) => e.endsWith(suffix) && /^\d+-/.test(e)) : [];
    if (matches.length === 1 && matches[0]) {
      deps.logger.warn({ profile, chain: matches[0], err }, 'source unreachable: using the repository chain of its database');
      return join(deps.config.repository, matches[0]);
    }
    throw new ConfigError(`cannot find the backup chain of profile ${profile}: ${(err as Error).message}`, {
      cause: err,
      hint: `the source is unreachable and ${matches.length} chains in ${deps.config.repository} match database ${dbname ?? '(unknown)'}`,
    });
  }
}

/**
 * Runs `run` while heartbeating from a timer (every 10 s), with the latest details `details()`
 * gives: a long step that reports no progress of its own (checksums, a single huge transaction)
 * must never hit the heartbeat timeout and be retried in a loop.
 */
export async function withTimerHeartbeat<T>(details: () => unknown, run: () => Promise<T>, everyMs = 10_000): Promise<T> {
  if (!activityContext()) return run();
  const timer = setInterval(() => heartbeat(details()), everyMs);
  try {
    return await run();
  } finally {
    clearInterval(timer);
  }
}

/**
 * What every activity shares: the worker's config and logger, profile lookup by name, the chain
 * folder of a profile, and heartbeats that are a no-op outside an activity (CLI direct mode).
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { PgincrMetrics } from '../monitor/metrics';
import { chainDirFor } from './chain-dir';

export { chainDirFor };
import { profileByName } from './profiles';

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

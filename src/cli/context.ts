/**
 * What every CLI command shares: the parsed global options, the config (loaded once), the
 * logger, output in human or JSON form, and starting a workflow and waiting for its result.
 */
import type { Client, WorkflowStartOptions } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { WorkflowArgs, WorkflowName, WorkflowResult } from '../client';

// Heavy modules (the Temporal client, pg, the activities) are loaded when a command needs them,
// not at start-up, so `pgincr --help` and `pgincr check` start fast.

export interface GlobalOptions {
  config?: string;
  profile?: string;
  json?: boolean;
  wait?: boolean;
}

export class CliContext {
  private cachedConfig: Config | undefined;
  private cachedLogger: Logger | undefined;
  constructor(readonly options: GlobalOptions) {}

  /** --config, $PGINCR_CONFIG, $PGINCR_REPOSITORY, else a running `pgincr dev`'s .pgincr/dev.json (src/cli/dev-state.ts). */
  get config(): Config {
    this.cachedConfig ??= (require('./dev-state') as typeof import('./dev-state')).resolveCliConfig(this.options.config);
    return this.cachedConfig;
  }

  /**
   * The config, or — when the only thing missing is a repository (no file, no
   * $PGINCR_REPOSITORY, no dev.json) — the PG* environment's config with `repository: null`,
   * so preflight can still check the database and report the repository as one of its lines.
   */
  configOrNoRepository(): { config: Config; repository: string | null } {
    try {
      return { config: this.config, repository: this.config.repository };
    } catch (err) {
      const env = process.env;
      if (this.options.config || env.PGINCR_CONFIG || env.PGINCR_REPOSITORY) throw err;
      const { parseConfig } = require('../config') as typeof import('../config');
      // A placeholder the schema accepts; nothing reads or writes it (repository: null below).
      this.cachedConfig = parseConfig({ repository: '(not configured)' }, env, 'environment');
      return { config: this.cachedConfig, repository: null };
    }
  }
  get profile(): string {
    return this.options.profile ?? this.config.defaultProfile;
  }
  /** Made at its first use: `pgincr check` logs only when something is wrong, and pino is a tenth of its start-up. */
  get logger(): Logger {
    this.cachedLogger ??= madeAtFirstUse(() => (require('../logger') as typeof import('../logger')).createLogger());
    return this.cachedLogger;
  }

  print(human: string, json: unknown): void {
    process.stdout.write(this.options.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
  }

  /** The activities, run here in the CLI's process (checks, listings, admin commands). */
  async activities(): Promise<ReturnType<typeof import('../activities').createActivities>> {
    const { createActivities } = require('../activities') as typeof import('../activities');
    return createActivities({ config: this.config, logger: this.logger });
  }

  async withTemporal<T>(run: (client: Client) => Promise<T>): Promise<T> {
    const { connectTemporal, closeTemporal } = require('../client') as typeof import('../client');
    const client = await connectTemporal(this.config);
    try {
      return await run(client);
    } finally {
      await closeTemporal(client);
    }
  }

  /** Starts a workflow; waits and returns its result unless --no-wait (then prints the id). */
  async runWorkflow<N extends WorkflowName>(
    type: N,
    workflowId: string,
    args: WorkflowArgs<N>,
    extra: Partial<Omit<WorkflowStartOptions, 'args'>> = {},
  ): Promise<WorkflowResult<N> | undefined> {
    return this.withTemporal(async (client) => {
      // Labelled for the Temporal UI: search attributes (database, chain, kind) and a summary line.
      const { labelsFor, startLabelled } = require('../client') as typeof import('../client');
      const { workflowKinds } = require('../workflows/boundary') as typeof import('../workflows/boundary');
      const profile = (args[0] as { profile?: unknown } | undefined)?.profile;
      const labels = labelsFor(this.config, typeof profile === 'string' ? profile : this.profile, workflowKinds[type] ?? 'preflight');
      const handle = await startLabelled(
        client,
        type,
        {
          taskQueue: this.config.temporal.taskQueue,
          workflowId,
          ...extra,
          args,
        },
        labels,
      );
      if (this.options.wait === false) {
        this.print(`started ${type}: workflow id ${handle.workflowId}`, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
        return undefined;
      }
      try {
        return (await handle.result()) as WorkflowResult<N>;
      } catch (err) {
        throw new Error(describeWorkflowFailure(type, handle.workflowId, err), { cause: err });
      }
    });
  }
}

/** An object that `make`s the real one when first touched (its methods bound to it). */
function madeAtFirstUse<T extends object>(make: () => T): T {
  let real: T | undefined;
  const target = () => (real ??= make());
  return new Proxy({} as T, {
    get: (_, key) => {
      const value: unknown = Reflect.get(target(), key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target()) : value;
    },
    set: (_, key, value) => Reflect.set(target(), key, value),
    has: (_, key) => Reflect.has(target(), key),
  });
}

export function describeWorkflowFailure(type: string, workflowId: string, err: unknown): string {
  const { WorkflowFailedError } = require('@temporalio/client') as typeof import('@temporalio/client');
  if (err instanceof WorkflowFailedError) {
    let cause: unknown = err.cause;
    const messages: string[] = [];
    while (cause instanceof Error) {
      messages.push(cause.message);
      cause = (cause as { cause?: unknown }).cause;
    }
    return `${type} ${workflowId} failed: ${messages.join(': ') || err.message}`;
  }
  return `${type} ${workflowId} failed: ${err instanceof Error ? err.message : String(err)}`;
}

export { table } from '../core/format/table';

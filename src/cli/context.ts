/**
 * What every CLI command shares: the parsed global options, the config (loaded once), the
 * logger, output in human or JSON form, and starting a workflow and waiting for its result.
 */
import type { Client, WorkflowStartOptions } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../logger';

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

  get config(): Config {
    this.cachedConfig ??= (require('../config') as typeof import('../config')).loadConfig(this.options.config);
    return this.cachedConfig;
  }
  get profile(): string {
    return this.options.profile ?? this.config.defaultProfile;
  }
  get logger(): Logger {
    this.cachedLogger ??= (require('../logger') as typeof import('../logger')).createLogger();
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
  async runWorkflow<R>(type: string, workflowId: string, args: unknown[], extra: Partial<WorkflowStartOptions> = {}): Promise<R | undefined> {
    return this.withTemporal(async (client) => {
      const handle = await client.workflow.start(type, {
        taskQueue: this.config.temporal.taskQueue,
        workflowId,
        args,
        ...extra,
      } as WorkflowStartOptions);
      if (this.options.wait === false) {
        this.print(`started ${type}: workflow id ${handle.workflowId}`, { workflowId: handle.workflowId, runId: handle.firstExecutionRunId });
        return undefined;
      }
      try {
        return (await handle.result()) as R;
      } catch (err) {
        throw new Error(describeWorkflowFailure(type, handle.workflowId, err), { cause: err });
      }
    });
  }
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

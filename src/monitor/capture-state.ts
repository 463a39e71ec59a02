/**
 * "Is the capture running?" asked of Temporal: the capture workflow (id
 * `workflowIds.capture(profile, slot)`) is running when its execution is RUNNING. A missing
 * execution or a closed one (completed, failed, terminated…) is "not running"; any other
 * failure (Temporal unreachable, a deadline) is 'unknown', which the check reports without
 * blocking. Never throws.
 */
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config';
import { workflowIds } from '../constants';
import { closeTemporal, connectTemporal } from '../client';
import type { HealthObservations } from '../core/monitor/health';
import { describeError } from './check';

export interface CaptureWorkflowState {
  captureRunning: NonNullable<HealthObservations['captureRunning']>;
  captureWorkflow: NonNullable<HealthObservations['captureWorkflow']>;
}

/** Describes the capture workflow of `profile` with `client` (at most `timeoutMs`). */
export async function captureWorkflowState(client: Client, config: Config, profile: string, timeoutMs = 5000): Promise<CaptureWorkflowState> {
  const id = workflowIds.capture(profile, config.capture.slot);
  try {
    const description = await client.withDeadline(Date.now() + timeoutMs, () => client.workflow.getHandle(id).describe());
    const status = description.status.name;
    return { captureRunning: status === 'RUNNING', captureWorkflow: { id, status } };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return { captureRunning: false, captureWorkflow: { id, status: 'not found' } };
    return { captureRunning: 'unknown', captureWorkflow: { id, error: describeError(error) } };
  }
}

/**
 * Asks with `client` when given (an activity's worker client), else with a client of its own
 * from `config.temporal` that gives up after `connectTimeoutMs` (the CLI's `pgincr check`).
 */
export async function askCaptureState(config: Config, profile: string, opts: { client?: Client; connectTimeoutMs?: number } = {}): Promise<CaptureWorkflowState> {
  if (opts.client) return captureWorkflowState(opts.client, config, profile);
  let client: Client;
  try {
    client = await connectTemporal(config, { connectTimeout: opts.connectTimeoutMs ?? 3000 });
  } catch (error) {
    return { captureRunning: 'unknown', captureWorkflow: { id: workflowIds.capture(profile, config.capture.slot), error: describeError(error) } };
  }
  try {
    return await captureWorkflowState(client, config, profile);
  } finally {
    await closeTemporal(client).catch(() => undefined);
  }
}

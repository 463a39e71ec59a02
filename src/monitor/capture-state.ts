/**
 * "Is the capture running?" asked of Temporal: the capture workflow (id
 * `workflowIds.capture(profile, slot)`) is running when its execution is RUNNING. A missing
 * execution or a closed one (completed, failed, terminated…) is "not running"; any other
 * failure (Temporal unreachable, a deadline) is 'unknown', which the check reports without
 * blocking. Never throws.
 */
import { connect } from 'node:net';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { workflowIds } from '../constants';
import { CAPTURE_STATE_MEMO } from '../workflows/memo';
import { describeWorkflow } from '../adapters/net/temporal-describe';
import type { HealthObservations } from '../core/monitor/health';
import { describeError } from './check';

export interface CaptureWorkflowState {
  captureRunning: NonNullable<HealthObservations['captureRunning']>;
  captureWorkflow: NonNullable<HealthObservations['captureWorkflow']>;
  /** The pending capture activity's attempt and last failure (a running workflow only). */
  captureActivity?: NonNullable<HealthObservations['captureActivity']>;
}

interface RawFailure {
  message?: string | null;
  applicationFailureInfo?: { type?: string | null } | null;
  timeoutFailureInfo?: { timeoutType?: unknown } | null;
  canceledFailureInfo?: unknown;
}

/** The pending activity's attempt and last failure, as Temporal's describe() gives them. */
export function pendingCaptureActivity(raw: {
  pendingActivities?: { attempt?: number | null; lastFailure?: RawFailure | null }[] | null;
}): CaptureWorkflowState['captureActivity'] {
  const pending = raw.pendingActivities?.[0];
  if (!pending) return undefined;
  const f = pending.lastFailure;
  const type = f?.applicationFailureInfo?.type || (f?.timeoutFailureInfo ? 'TimeoutFailure' : f?.canceledFailureInfo ? 'CancelledFailure' : 'Failure');
  return {
    attempt: pending.attempt ?? 1,
    ...(f ? { lastFailure: { type, message: (f.message ?? '').split('\n')[0] ?? '' } } : {}),
  };
}

/** The capture workflow's state from what a describe returned (null: Temporal has no such workflow). */
function stateOf(
  id: string,
  described: { status: string; memo?: Record<string, unknown> | undefined; raw: Parameters<typeof pendingCaptureActivity>[0] } | null,
): CaptureWorkflowState {
  if (!described) return { captureRunning: false, captureWorkflow: { id, status: 'not found' } };
  const { status } = described;
  const activity = status === 'RUNNING' ? pendingCaptureActivity(described.raw) : undefined;
  // A paused capture's execution is RUNNING too: the workflow's memo tells them apart.
  const paused = status === 'RUNNING' && described.memo?.[CAPTURE_STATE_MEMO] === 'paused';
  return {
    captureRunning: status === 'RUNNING',
    captureWorkflow: { id, status, ...(paused ? { paused } : {}) },
    ...(activity ? { captureActivity: activity } : {}),
  };
}

/** Describes the capture workflow of `profile` with `client` (at most `timeoutMs`). */
export async function captureWorkflowState(client: Client, config: Config, profile: string, timeoutMs = 5000): Promise<CaptureWorkflowState> {
  const id = workflowIds.capture(profile, config.capture.slot);
  try {
    const description = await client.withDeadline(Date.now() + timeoutMs, () => client.workflow.getHandle(id).describe());
    return stateOf(id, { status: description.status.name, memo: description.memo, raw: description.raw });
  } catch (error) {
    const { WorkflowNotFoundError } = require('@temporalio/client') as typeof import('@temporalio/client');
    if (error instanceof WorkflowNotFoundError) return stateOf(id, null);
    return { captureRunning: 'unknown', captureWorkflow: { id, error: describeError(error) } };
  }
}

/**
 * Asks with `client` when given (an activity's worker client), else with one gRPC call of its
 * own (src/adapters/net/temporal-describe.ts, not the SDK: `pgincr check` starts in a fraction of
 * the time) to `config.temporal`, giving up after `connectTimeoutMs` to connect.
 */
export async function askCaptureState(
  config: Config,
  profile: string,
  opts: { client?: Client; connectTimeoutMs?: number } = {},
): Promise<CaptureWorkflowState> {
  if (opts.client) return captureWorkflowState(opts.client, config, profile);
  const id = workflowIds.capture(profile, config.capture.slot);
  const timeoutMs = opts.connectTimeoutMs ?? 3000;
  try {
    // A plain TCP probe first: a refused or silent address is reported as such, at once.
    await probeTcp(config.temporal.address, timeoutMs);
    const described = await describeWorkflow(config.temporal, id, 5000);
    return stateOf(id, described && { status: described.status, memo: described.memo, raw: { pendingActivities: described.pendingActivities } });
  } catch (error) {
    return { captureRunning: 'unknown', captureWorkflow: { id, error: describeError(error) } };
  }
}

/** Resolves when `host:port` accepts a TCP connection within `timeoutMs`. */
export function probeTcp(address: string, timeoutMs: number): Promise<void> {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!m) return Promise.reject(new Error(`cannot parse temporal.address ${address} (host:port)`));
  const [, host, port] = m as unknown as [string, string, string];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port) });
    const timer = setTimeout(() => socket.destroy(new Error(`connect to ${address} timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

import type { Command } from 'commander';
import type { ContextFactory } from './index';
import { workflowIds } from '../../constants';
import type { CaptureStatus } from '../../workflows/signals';

// Loaded when a command runs (start-up speed): the signal definitions pull in the workflow SDK.
const signals = () => require('../../workflows/signals') as typeof import('../../workflows/signals');

export function registerCapture(program: Command, ctx: ContextFactory): void {
  const capture = program.command('capture').description('the continuous capture workflow');
  const idOf = (c: ReturnType<ContextFactory>) => workflowIds.capture(c.profile, c.config.capture.slot);

  capture
    .command('start')
    .description('start capturing (refused when a capture for this slot is running)')
    .action(async () => {
      const c = ctx();
      await c.withTemporal(async (client) => {
        try {
          const { labelsFor, startLabelled } = require('../../client') as typeof import('../../client');
          const labels = labelsFor(c.config, c.profile, 'capture', `slot ${c.config.capture.slot} · profile ${c.profile}`);
          const handle = await startLabelled(
            client,
            'captureWorkflow',
            {
              taskQueue: c.config.temporal.taskQueue,
              workflowId: idOf(c),
              // The summary in the input too: every continued run shows it (captureWorkflow).
              args: [{ profile: c.profile, summary: labels.summary }],
            },
            labels,
          );
          c.print(`capture started: workflow id ${handle.workflowId}`, { workflowId: handle.workflowId });
        } catch (err) {
          const { WorkflowExecutionAlreadyStartedError } = require('@temporalio/client') as typeof import('@temporalio/client');
          if (err instanceof WorkflowExecutionAlreadyStartedError) {
            process.exitCode = 1;
            c.print(`a capture is already running for slot ${c.config.capture.slot}: workflow id ${idOf(c)}`, { workflowId: idOf(c), alreadyRunning: true });
            return;
          }
          throw err;
        }
      });
    });

  type SignalName = 'stopSignal' | 'rotateSignal' | 'pauseSignal' | 'resumeSignal';
  const signalCommand = (name: string, description: string, signalName: SignalName) =>
    capture
      .command(name)
      .description(description)
      .action(async () => {
        const c = ctx();
        const signal = signals()[signalName];
        await c.withTemporal(async (client) => {
          await client.workflow.getHandle(idOf(c)).signal(signal);
          c.print(`${name}: signalled ${idOf(c)}`, { workflowId: idOf(c), signal: name });
        });
      });
  capture
    .command('stop')
    .description('seal the current segment and stop; waits until the capture has ended (--no-wait: only signal)')
    .option('--timeout <seconds>', 'how long to wait for the capture to end', '300')
    .action(async (opts: { timeout: string }) => {
      const c = ctx();
      const timeoutS = Number(opts.timeout);
      if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--timeout: a number of seconds, not ${JSON.stringify(opts.timeout)}`);
      await c.withTemporal(async (client) => {
        const handle = client.workflow.getHandle(idOf(c));
        await handle.signal(signals().stopSignal);
        if (c.options.wait === false) {
          c.print(`stop: signalled ${idOf(c)}`, { workflowId: idOf(c), signal: 'stop' });
          return;
        }
        // The slot is released between the cancelled run and the last one that seals: only the
        // workflow's end says the segment is sealed (and, with a bucket, uploaded) — a restore may follow.
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutS * 1000)));
        try {
          const ended = await Promise.race([handle.result() as Promise<CaptureStatus>, timedOut]);
          if (ended === 'timeout') {
            process.exitCode = 1;
            c.print(
              `stop: signalled ${idOf(c)}, but the capture has not ended after ${timeoutS} s: is a worker running on task queue ${c.config.temporal.taskQueue}? ` +
                '`pgincr capture status` shows where it is; the stop stays requested',
              { workflowId: idOf(c), signal: 'stop', ended: false },
            );
            return;
          }
          c.print(`capture stopped: ${idOf(c)} sealed its last segment; durable through ${ended.lastDurableLsn ?? '-'}`, {
            workflowId: idOf(c),
            signal: 'stop',
            ended: true,
            lastDurableLsn: ended.lastDurableLsn,
            segmentsSealed: ended.segmentsSealed,
          });
        } catch (err) {
          const { describeWorkflowFailure } = require('../context') as typeof import('../context');
          throw new Error(describeWorkflowFailure('captureWorkflow', idOf(c), err), { cause: err });
        } finally {
          clearTimeout(timer);
        }
      });
    });
  signalCommand('rotate', 'seal the current segment now and open a new one', 'rotateSignal');
  signalCommand('pause', 'stop streaming (the slot retains WAL meanwhile)', 'pauseSignal');
  signalCommand('resume', 'resume streaming after pause', 'resumeSignal');

  capture
    .command('status')
    .description('state, durable LSN, counters, and the running activity heartbeat')
    .action(async () => {
      const c = ctx();
      const { captureStatusQuery } = signals();
      await c.withTemporal(async (client) => {
        const handle = client.workflow.getHandle(idOf(c));
        const { captureHeartbeat, captureStatus, decodeResult, pendingHeartbeat } =
          require('../../workflows/boundary') as typeof import('../../workflows/boundary');
        const status = decodeResult(captureStatus, await handle.query(captureStatusQuery), `capture ${idOf(c)} status query`);
        const description = await handle.describe();
        const live = pendingHeartbeat(description.raw, captureHeartbeat) ?? null;
        // The last failure: the repository's record (since when, how often) and Temporal's retry attempt.
        const { pendingCaptureActivity } = require('../../monitor/capture-state') as typeof import('../../monitor/capture-state');
        const { loadCaptureFailure } = require('../../monitor/capture-failures') as typeof import('../../monitor/capture-failures');
        const { chainDirFor } = require('../../activities/context') as typeof import('../../activities/context');
        const { describeCaptureFailure } = require('../../core/monitor/capture-failure') as typeof import('../../core/monitor/capture-failure');
        const activity = pendingCaptureActivity(description.raw);
        const failure = await chainDirFor({ config: c.config, logger: c.logger }, c.profile).then(
          (chain) => loadCaptureFailure(chain, c.config.capture.slot),
          () => null,
        );
        const lastFailure = failure
          ? `${describeCaptureFailure(failure)} (failing since ${failure.since}, ${failure.failures} failed attempt${failure.failures === 1 ? '' : 's'}${failure.durableLsn ? ` at ${failure.durableLsn}` : ''}${activity && activity.attempt > 1 ? `, now attempt ${activity.attempt}` : ''})`
          : activity?.lastFailure
            ? `- (the running attempt ${activity.attempt} came after ${activity.lastFailure.type}: ${activity.lastFailure.message})`
            : '-';
        const result: CaptureStatus & { live: unknown; lastFailure: unknown; activityAttempt: number | null } = {
          ...status,
          live,
          lastFailure: failure ?? activity?.lastFailure ?? null,
          activityAttempt: activity?.attempt ?? null,
        };
        c.print(
          [
            `capture ${idOf(c)}: ${status.state}`,
            `  durable LSN   ${String(live?.lastDurableLsn ?? status.lastDurableLsn ?? '-')}`,
            `  segment       ${String(live?.segment ?? '-')}`,
            `  transactions  ${status.transactions} (this run: ${String(live?.txns ?? '-')})`,
            `  sealed        ${status.segmentsSealed} segments, iterations ${status.iterations}`,
            `  last failure  ${lastFailure}`,
            // capture-table rows without a valid signature, not replayed (docs/security.md)
            ...(Number(live?.refusedRows ?? 0) + (status.refusedRows ?? 0) > 0
              ? [`  REFUSED rows  ${status.refusedRows ?? 0} (this run: ${String(live?.refusedRows ?? 0)}); see the capture log and docs/security.md`]
              : []),
          ].join('\n'),
          result,
        );
      });
    });
}

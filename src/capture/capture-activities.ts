/**
 * The capture activity: runs the capture engine for a bounded time, heartbeating the durable
 * position from a timer, and resumes from the repository's files after any crash.
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { controlDir, rotateRequestPath } from '../core/repository/paths';
import type { CaptureRunInput, PgincrActivities } from '../activities/types';
import { activityContext, cancellationSignal, chainDirFor, heartbeat, lastHeartbeat, profileByName, type ActivityDeps } from '../activities/context';
import { durationMs } from '../config';
import { formatLsn, parseLsn } from '../core/lsn';
import { runCapture } from './capture-engine';
import { runRawCapture } from './raw/raw-capture';
import { createCaptureDeps } from './capture-deps';
import { captureHeartbeat, decodeHeartbeat, type CaptureHeartbeat } from '../workflows/boundary';
import type { CaptureResult } from './capture-types';
import { findBaseForSlot } from '../base/base-files';
import { captureRecorder } from '../monitor/activity-metrics';
import { SegmentWriter } from '../adapters/fs/segment-writer';
import { findPartial, scanSegmentFile } from '../adapters/fs/segment-files';
import { addSegment, emptyCatalog } from '../core/catalog/catalog';
import { updateCatalog } from '../adapters/fs/catalog-store';
import { clearCaptureFailure, describeFailure, loadCaptureFailure, recordCaptureFailure, unrecordedFailure } from '../monitor/capture-failures';

/** The control file a running capture polls for "rotate now". */
export { rotateRequestPath };

type CaptureActivities = Pick<PgincrActivities, 'captureChanges' | 'requestRotation' | 'sealCurrentSegment'>;

export function captureActivities(deps: ActivityDeps): CaptureActivities {
  const cfg = deps.config.capture;

  async function startLsn(chain: string, input: CaptureRunInput): Promise<bigint | undefined> {
    const beat = decodeHeartbeat(captureHeartbeat, lastHeartbeat<unknown>());
    const known = beat?.lastDurableLsn ?? input.lastDurableLsn;
    if (known) return parseLsn(known);
    const base = await findBaseForSlot(chain, cfg.slot);
    return base ? parseLsn(base.metadata.lsn) : undefined;
  }

  return {
    async captureChanges(input): Promise<CaptureResult> {
      const profile = profileByName(deps.config, input.profile);
      const chain = await chainDirFor(deps, input.profile);
      const log = deps.logger.child({ component: 'capture', slot: cfg.slot });
      // "rotate now" requests arrive as a file (the workflow's signal → requestRotation); polled, not per message.
      let rotate = false;
      const poll = setInterval(
        () =>
          void stat(rotateRequestPath(chain)).then(
            () => {
              rotate = true;
            },
            () => undefined,
          ),
        1000,
      );
      // capture.decoder: decoder_raw runs pg_recvlogical and post-processes its files (same contract).
      const run: typeof runCapture =
        cfg.decoder === 'decoder_raw'
          ? (d, i, c) => runRawCapture(d, i, c, { profile, chainDir: chain, rawBacklogMaxBytes: cfg.rawBacklogMaxBytes })
          : runCapture;
      const recorder = captureRecorder(deps.metrics, cfg.slot);
      // Failures are recorded in the repository (monitor/capture.json) for `check` and alerts;
      // the first heartbeat past a recorded failure's durable LSN clears it.
      const started = await startLsn(chain, input);
      let durable = started !== undefined ? formatLsn(started) : undefined;
      const attempt = activityContext()?.info.attempt ?? 1;
      let recorded = await loadCaptureFailure(chain, cfg.slot).catch(() => null);
      const missed = unrecordedFailure(attempt, recorded);
      if (missed) {
        recorded = await recordCaptureFailure(chain, cfg.slot, missed, { ...(durable ? { durableLsn: durable } : {}), attempt: attempt - 1 }).catch(
          () => recorded,
        );
      }
      let failedAt = recorded ? parseLsn(recorded.durableLsn ?? '0/0') : undefined;
      const noteProgress = (lsn: string) => {
        durable = lsn;
        if (failedAt === undefined || !lsn || parseLsn(lsn) <= failedAt) return;
        failedAt = undefined;
        void clearCaptureFailure(chain, cfg.slot).then(
          (cleared) => {
            if (cleared)
              log.info(
                { event: 'pgincr.capture.recovered', since: cleared.since, lsn },
                `capture made progress again (${lsn}) after failing since ${cleared.since}`,
              );
          },
          (error: unknown) => log.warn({ err: error }, 'cannot clear the capture failure record'),
        );
      };
      try {
        const result = await run(
          createCaptureDeps({ profile, chainDir: chain, log }),
          {
            slot: cfg.slot,
            publication: cfg.publication,
            lastDurableLsn: started,
            segmentMaxBytes: cfg.segmentMaxBytes,
            segmentMaxAgeMs: durationMs(cfg.segmentMaxAge),
            runForMs: input.runForMs ?? durationMs(cfg.activityRunTime),
            heartbeatEveryMs: durationMs(cfg.heartbeatInterval),
            sequenceEveryMs: durationMs(cfg.sequenceInterval),
            idleMessageEveryMs: cfg.idleMessageInterval === '0' ? 0 : durationMs(cfg.idleMessageInterval),
            sealOnExit: input.stopping ?? false,
            compress: cfg.compress,
            ddlInFunction: cfg.ddlInFunction,
          },
          {
            heartbeat: (details) => {
              heartbeat(details satisfies CaptureHeartbeat); // the one heartbeat type (workflows/boundary.ts)
              recorder.heartbeat(details);
              noteProgress(details.lastDurableLsn);
            },
            signal: cancellationSignal() ?? new AbortController().signal,
            rotateRequested: () => {
              if (!rotate) return false;
              rotate = false;
              void rm(rotateRequestPath(chain), { force: true });
              return true;
            },
            now: () => Date.now(),
          },
        );
        recorder.finished(result);
        noteProgress(result.lastDurableLsn);
        return result;
      } catch (error) {
        if (!cancellationSignal()?.aborted) {
          const facts = describeFailure(error);
          recorder.failed(facts.errorType);
          await recordCaptureFailure(chain, cfg.slot, error, { ...(durable ? { durableLsn: durable } : {}), attempt }).catch((e: unknown) =>
            log.warn({ err: e }, 'cannot record the capture failure'),
          );
        }
        throw error;
      } finally {
        clearInterval(poll);
      }
    },

    async requestRotation({ profile }) {
      const chain = await chainDirFor(deps, profile);
      await mkdir(controlDir(chain), { recursive: true, mode: 0o700 });
      await writeFile(rotateRequestPath(chain), new Date().toISOString(), { mode: 0o600 });
    },

    /** Seals the open partial segment, if any (after the capture activity has stopped). */
    async sealCurrentSegment({ profile }) {
      const chain = await chainDirFor(deps, profile);
      const partial = await findPartial(chain);
      if (!partial) return { sealed: null };
      const { scan } = await scanSegmentFile(partial.path);
      const { startLsn, ...fields } = scan.header;
      const writer = await SegmentWriter.open(chain, fields, startLsn);
      const entry = await writer.seal({ compress: cfg.compress });
      await writer.close();
      if (!entry) return { sealed: null };
      await updateCatalog(chain, (catalog) => addSegment(catalog ?? emptyCatalog(fields.systemIdentifier, fields.database), entry));
      return { sealed: entry.file };
    },
  };
}

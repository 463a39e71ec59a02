/**
 * The capture activity: runs the capture engine for a bounded time, heartbeating the durable
 * position from a timer, and resumes from the repository's files after any crash.
 */
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
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
import { loadCatalog, updateCatalog } from '../adapters/fs/catalog-store';
import { clearRotation, pullFromObjectStore, pushToObjectStore, requestRotation, rotationRequested } from '../activities/object-store';
import { recordUploadFailure, recordUploadSuccess } from '../monitor/upload-record';
import { parseSegmentName } from '../core/segment/naming';
import { clearCaptureFailure, describeFailure, loadCaptureFailure, recordCaptureFailure, unrecordedFailure } from '../monitor/capture-failures';

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

  /**
   * With an object-store repository the local folder is a cache: it gets what the bucket holds
   * (not the base dumps), an open segment that another worker has since sealed past is dropped
   * (its transactions are in the bucket), and sealed segments the bucket lacks (a crash between
   * a seal and its upload) go up before the slot is acknowledged past them.
   */
  /**
   * Uploads (the named sealed segments, or what the bucket lacks) and records the outcome in the
   * upload record that `pgincr check` reads on this worker (monitor/uploads.json): upload lag and
   * failures in a row.
   */
  async function upload(chain: string, only?: string[]): Promise<string[]> {
    try {
      const pushed = await pushToObjectStore(deps.config, chain, only);
      const ends = only
        ? only.map((f) => parseSegmentName(basename(f))).flatMap((n) => (n?.kind === 'sealed' ? [n.endLsn] : []))
        : ((await loadCatalog(chain))?.segments ?? []).map((s) => parseLsn(s.endLsn));
      await recordUploadSuccess(chain, ends.length ? ends.reduce((max, l) => (l > max ? l : max)) : undefined).catch(() => undefined);
      return pushed;
    } catch (error) {
      await recordUploadFailure(chain, error).catch(() => undefined);
      throw error;
    }
  }

  async function resumeFromObjectStore(chain: string, log: ActivityDeps['logger']): Promise<void> {
    const pulled = await pullFromObjectStore(deps.config, chain, { withoutDumps: true }).catch(async (error: unknown) => {
      await recordUploadFailure(chain, error).catch(() => undefined); // the bucket does not answer: uploads cannot either
      throw error;
    });
    const partial = await findPartial(chain);
    const sealedEnd = (await loadCatalog(chain))?.segments.reduce<bigint>((max, s) => (parseLsn(s.endLsn) > max ? parseLsn(s.endLsn) : max), 0n) ?? 0n;
    if (partial && partial.startLsn < sealedEnd) {
      log.warn(
        { partial: partial.path, sealedEnd: formatLsn(sealedEnd) },
        'dropping an open segment that the bucket has sealed past (another worker captured since)',
      );
      await rm(partial.path, { force: true });
    }
    const pushed = await upload(chain);
    if (pulled.length || pushed.length) log.info({ pulled: pulled.length, pushed: pushed.length }, 'chain folder in step with the object store');
  }

  return {
    async captureChanges(input): Promise<CaptureResult> {
      const profile = profileByName(deps.config, input.profile);
      const chain = await chainDirFor(deps, input.profile);
      const log = deps.logger.child({ component: 'capture', slot: cfg.slot });
      const offsite = deps.config.objectStore !== undefined;
      if (offsite) await resumeFromObjectStore(chain, log);
      // "rotate now" requests arrive as a file (the workflow's signal → requestRotation); polled, not per message.
      let rotate = false;
      const poll = setInterval(
        () =>
          void rotationRequested(deps.config, chain).then(
            (asked) => {
              if (asked) rotate = true;
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
          createCaptureDeps({
            profile,
            chainDir: chain,
            log,
            // The bucket gets each sealed segment (and the catalog naming it) before the slot is acknowledged past it.
            ...(offsite ? { upload: async (sealed: { file: string }) => void (await upload(chain, [sealed.file])) } : {}),
          }),
          {
            slot: cfg.slot,
            publication: cfg.publication,
            lastDurableLsn: started,
            segmentMaxBytes: cfg.segmentMaxBytes,
            segmentMaxAgeMs: durationMs(cfg.segmentMaxAge),
            runForMs: input.runForMs ?? durationMs(cfg.activityRunTime),
            heartbeatEveryMs: durationMs(cfg.heartbeatInterval),
            receiveTimeoutMs: durationMs(cfg.receiveTimeout),
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
              void clearRotation(deps.config, chain).catch(() => undefined);
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
      await requestRotation(deps.config, await chainDirFor(deps, profile));
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
      if (deps.config.objectStore) await upload(chain, [entry.file]);
      return { sealed: entry.file };
    },
  };
}

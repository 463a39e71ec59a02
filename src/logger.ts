/**
 * The pino root logger. JSON by default; pretty when stdout is a terminal (or PGINCR_LOG_PRETTY=1).
 * Never log secrets: connection settings are logged through `describeProfile`, which has none.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import { serializeError } from './log-error';

export type { Logger };

type ActivitySdk = typeof import('@temporalio/activity');
let activitySdkPath: string | null | undefined;

/**
 * The activity SDK when this process has loaded it, else undefined: an activity can only run in
 * a process that loaded it (the worker), and the CLI must not load it just to learn that no
 * activity runs (its ~50 modules are a third of `pgincr check`'s start-up, bench/cli-start.ts).
 */
function loadedActivitySdk(): ActivitySdk | undefined {
  if (activitySdkPath === undefined) {
    try {
      activitySdkPath = require.resolve('@temporalio/activity');
    } catch {
      activitySdkPath = null;
    }
  }
  return activitySdkPath === null ? undefined : (require.cache[activitySdkPath]?.exports as ActivitySdk | undefined);
}

/** Inside an activity: which workflow, activity and attempt a line belongs to. */
function activityIds(): Record<string, unknown> {
  const info = loadedActivitySdk()?.asyncLocalStorage.getStore()?.info;
  if (!info) return {};
  return {
    ...(info.workflowExecution ? { workflowId: info.workflowExecution.workflowId, workflowRunId: info.workflowExecution.runId } : {}),
    activityId: info.activityId,
    activityType: info.activityType,
    attempt: info.attempt,
  };
}

/**
 * Failures under `err` or `error` carry name, message, SQLSTATE, safe detail and cause chain
 * (src/log-error.ts); lines written inside an activity carry its workflow, activity and attempt.
 * `destination` replaces stderr (tests capture the lines).
 */
export function createLogger(options: { level?: string; pretty?: boolean; destination?: DestinationStream } = {}): Logger {
  const level = options.level ?? process.env.PGINCR_LOG_LEVEL ?? 'info';
  const pretty =
    !options.destination && (options.pretty ?? (process.env.PGINCR_LOG_PRETTY === '1' || (process.stdout.isTTY && process.env.PGINCR_LOG_PRETTY !== '0')));
  return pino(
    {
      level,
      base: { app: 'pgincr' },
      redact: { paths: ['password', '*.password', 'PGPASSWORD', '*.PGPASSWORD', 'env.PGPASSWORD'], censor: '[redacted]' },
      serializers: { err: serializeError, error: serializeError },
      mixin: activityIds,
      ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, destination: 2 } } } : {}),
    },
    pretty ? undefined : (options.destination ?? pino.destination(2)),
  );
}

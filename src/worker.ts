/**
 * The composition root of a worker: config → pino → activities → Temporal Runtime logger →
 * Worker. The only place that wires dependencies together.
 */
import { tuneHeapForCapture } from './heap-tuning';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { workerSinks } from './worker-sinks';
import type { Config } from './config';
import type { Logger } from './logger';
import { serializeErrorFields } from './log-error';
import { createActivities } from './activities';
import { createMetrics, startMetricsServer, type MetricsServer, type PgincrMetrics } from './monitor/metrics';
import { selectWorkflowCode } from './workflow-bundle';

let runtimeInstalled = false;

/** Routes the Temporal SDK's own logs into pino (once per process). */
export function installRuntimeLogger(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const sdkLog = logger.child({ component: 'temporal' });
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
    TRACE: 'trace',
    DEBUG: 'debug',
    INFO: 'info',
    WARN: 'warn',
    ERROR: 'error',
  };
  Runtime.install({
    logger: new DefaultLogger(
      process.env.PGINCR_SDK_LOG_LEVEL === 'debug' ? 'DEBUG' : 'WARN',
      ({ level, message, meta }: { level: LogLevel; message: string; meta?: LogMetadata }) => {
        // Errors under any key (the SDK uses `error`) serialized with their reason; the task
        // token (it can complete the activity) is left out.
        const { taskToken: _token, ...rest } = (meta ?? {}) as LogMetadata & { taskToken?: unknown };
        sdkLog[levels[level]](serializeErrorFields(rest), message);
      },
    ),
  });
}

let sharedMetrics: PgincrMetrics | undefined;

/** The process-wide metrics every worker of this process feeds (created on first use). */
export function processMetrics(): PgincrMetrics {
  sharedMetrics ??= createMetrics();
  return sharedMetrics;
}

/**
 * Serves `GET /metrics` of the process's metrics on `config.metricsHost` (127.0.0.1 by default),
 * port `config.metricsPort` (0 = no server). A port
 * that cannot be bound is logged, not fatal: the worker's backups matter more than its metrics.
 */
export async function serveMetrics(config: Config, logger: Logger, metrics: PgincrMetrics = processMetrics()): Promise<MetricsServer | undefined> {
  if (config.metricsPort === 0) return undefined;
  try {
    const server = await startMetricsServer(config.metricsPort, metrics.registry, config.metricsHost);
    const shown = server.host.includes(':') ? `[${server.host}]` : server.host;
    logger.info({ host: server.host, port: server.port }, `metrics on http://${shown}:${server.port}/metrics`);
    return server;
  } catch (err) {
    logger.error({ port: config.metricsPort, err }, `metrics server not started on port ${config.metricsPort}: ${(err as Error).message}`);
    return undefined;
  }
}

export interface WorkerOptions {
  /** Metrics the activities feed; defaults to processMetrics(). */
  metrics?: PgincrMetrics;
  taskQueue?: string;
  /** A pre-built workflow bundle (tests bundle once per file). */
  workflowBundle?: { code: string };
}

/**
 * The prebuilt workflow bundle beside this module (dist/, scripts/build) when it was built from
 * the current code, else the workflows bundled at start (src/workflow-bundle.ts); logged.
 */
function workflowCode(logger: Logger): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const code = selectWorkflowCode(__dirname, require.resolve('./workflows'));
  if (code.used === 'prebuilt') {
    logger.info({ workflowBundle: code.workflowBundle.codePath, inputs: code.inputs }, 'workflow code: the prebuilt bundle, built from the current code');
    return { workflowBundle: code.workflowBundle };
  }
  logger.info({ reason: code.reason }, `workflow code: bundled at start (${code.reason})`);
  return { workflowsPath: code.workflowsPath };
}

/** A worker on `config.temporal`; it does not serve metrics (see serveMetrics), so several can share a process. */
export async function createWorker(config: Config, logger: Logger, options: WorkerOptions = {}): Promise<Worker> {
  tuneHeapForCapture(); // the capture activity runs in this process
  installRuntimeLogger(logger);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: options.taskQueue ?? config.temporal.taskQueue,
    activities: createActivities({ config, logger, metrics: options.metrics ?? processMetrics() }),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : workflowCode(logger)),
    maxConcurrentActivityTaskExecutions: 20,
    // Heartbeats (and with them cancellation of a running pg_dump or capture) reach the server
    // within seconds, not the SDK's default of up to a minute.
    maxHeartbeatThrottleInterval: '5s',
    sinks: workerSinks,
  });
}

/**
 * The composition root of a worker: config → pino → activities → Temporal Runtime logger →
 * Worker. The only place that wires dependencies together.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Config } from './config';
import type { Logger } from './logger';
import { createActivities } from './activities';

let runtimeInstalled = false;

/** Routes the Temporal SDK's own logs into pino (once per process). */
export function installRuntimeLogger(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const sdkLog = logger.child({ component: 'temporal' });
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
    TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error',
  };
  Runtime.install({
    logger: new DefaultLogger(process.env.PGINCR_SDK_LOG_LEVEL === 'debug' ? 'DEBUG' : 'WARN', ({ level, message, meta }: { level: LogLevel; message: string; meta?: LogMetadata }) => {
      sdkLog[levels[level]](meta ?? {}, message);
    }),
  });
}

export interface WorkerOptions {
  taskQueue?: string;
  /** A pre-built workflow bundle (tests bundle once per file). */
  workflowBundle?: { code: string };
}

export async function createWorker(config: Config, logger: Logger, options: WorkerOptions = {}): Promise<Worker> {
  installRuntimeLogger(logger);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: options.taskQueue ?? config.temporal.taskQueue,
    activities: createActivities({ config, logger }),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('./workflows') }),
    maxConcurrentActivityTaskExecutions: 20,
  });
}

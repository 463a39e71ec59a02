/**
 * The pino root logger. JSON by default; pretty when stdout is a terminal (or PGINCR_LOG_PRETTY=1).
 * Never log secrets: connection settings are logged through `describeProfile`, which has none.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const level = options.level ?? process.env.PGINCR_LOG_LEVEL ?? 'info';
  const pretty = options.pretty ?? (process.env.PGINCR_LOG_PRETTY === '1' || (process.stdout.isTTY && process.env.PGINCR_LOG_PRETTY !== '0'));
  return pino({
    level,
    base: { app: 'pgincr' },
    redact: { paths: ['password', '*.password', 'PGPASSWORD', '*.PGPASSWORD', 'env.PGPASSWORD'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, destination: 2 } } } : {}),
  }, pretty ? undefined : pino.destination(2));
}

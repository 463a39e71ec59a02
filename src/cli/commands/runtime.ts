import type { Command } from 'commander';
import type { ContextFactory } from './index';

export function registerRuntime(program: Command, ctx: ContextFactory): void {
  program
    .command('worker')
    .description('run a worker for a Temporal cluster ($TEMPORAL_ADDRESS or temporal.address); serves GET /metrics on metricsPort (0 = off)')
    .action(async () => {
      const c = ctx();
      const { createWorker, serveMetrics } = require('../../worker') as typeof import('../../worker');
      // The logger itself, not the CLI's made-at-first-use stand-in: the worker logs from its hot paths.
      const logger = (require('../../logger') as typeof import('../../logger')).createLogger();
      const worker = await createWorker(c.config, logger);
      const metrics = await serveMetrics(c.config, logger);
      logger.info({ address: c.config.temporal.address, taskQueue: c.config.temporal.taskQueue, metricsPort: metrics?.port ?? null }, 'worker started');
      try {
        await worker.run();
      } finally {
        await metrics?.close();
      }
    });

  program
    .command('dev')
    .description('local Temporal dev server with its UI, a worker, and preflight against your database (or a demo one)')
    .option('--ui-port <port>', 'Temporal UI port', '8233')
    .option('--port <port>', 'Temporal frontend port', '7233')
    .option('--exit-after-preflight', 'stop after the first preflight (smoke tests)')
    .action(async (opts: { uiPort: string; port: string; exitAfterPreflight?: boolean }) => {
      const { runDev } = require('../dev') as typeof import('../dev');
      await runDev(ctx().options, { uiPort: Number(opts.uiPort), port: Number(opts.port), exitAfterPreflight: Boolean(opts.exitAfterPreflight) });
    });
}

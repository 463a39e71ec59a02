/**
 * `pgincr dev`: the embedded default. Starts the Temporal dev server (SQLite state and Web UI
 * under .pgincr/), a worker in this process, and runs preflight against the configured database —
 * or, when none is configured, against a demo cluster it creates under .pgincr/demo.
 * While it runs, .pgincr/dev.json tells commands in a second terminal in the same folder where
 * all of that is (src/cli/dev-state.ts); Ctrl-C stops the worker, the server and the demo
 * cluster and removes the file.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { parseConfig, loadConfig, type Config } from '../config';
import { createLogger } from '../logger';
import { startDevServer } from '../dev/temporal-dev-server';
import {
  freePort,
  initCluster,
  isInitialized,
  isRunning,
  localSuperuser,
  startServer,
  stopServer,
  writeSettings,
  type LocalClusterSpec,
} from '../dev/local-cluster';
import { createWorker, serveMetrics } from '../worker';
import { CliContext, type GlobalOptions } from './context';
import { formatPreflight } from './commands/preflight';
import { devStatePath, removeDevState, writeDevState } from './dev-state';
import { workflowIds } from '../workflows/ids';

const STATE_DIR = resolve(process.env.PGINCR_STATE_DIR ?? '.pgincr');

const DEMO_SCHEMA = `
CREATE TABLE IF NOT EXISTS customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, email text UNIQUE);
CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers, total numeric(12,2), placed_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS audit_log (at timestamptz DEFAULT now(), message text);
`;

/**
 * Where the demo cluster lives. As root the server runs as the `postgres` OS user, which cannot
 * enter a private home folder, so the cluster goes to a folder of its own under the temp dir.
 */
function demoDir(): string {
  if (process.getuid?.() !== 0) return join(STATE_DIR, 'demo');
  return join(tmpdir(), `pgincr-demo-${createHash('sha256').update(STATE_DIR).digest('hex').slice(0, 10)}`);
}

/** Creates (once) and starts the demo cluster, returning a profile for its `demo` database. */
async function ensureDemoCluster(): Promise<{ profile: { host: string; port: number; user: string; dbname: string }; stop: () => void }> {
  const dir = demoDir();
  mkdirSync(dir, { recursive: true });
  const spec: LocalClusterSpec = { dir, port: Number(process.env.PGINCR_DEMO_PORT ?? 0) || (await freePort()) };
  if (!isInitialized(spec)) initCluster(spec);
  if (!isRunning(spec)) {
    // The port may have been taken since last time: settings are appended, the last one wins.
    spec.port = await freePort();
    writeSettings(spec);
    startServer(spec);
  }
  const port = Number(
    /^port = '(\d+)'/m.exec(
      readFileSync(join(dir, 'data', 'postgresql.conf'), 'utf8')
        .split('\n')
        .reverse()
        .join('\n'),
    )?.[1] ?? spec.port,
  );
  const profile = { host: dir, port, user: localSuperuser(), dbname: 'demo' };
  const stop = () => stopServer(spec);
  const admin = new Client({ ...profile, database: 'postgres' });
  await admin.connect();
  const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'demo'`);
  if (exists.rowCount === 0) await admin.query('CREATE DATABASE demo');
  await admin.end();
  const demo = new Client({ ...profile, database: 'demo' });
  await demo.connect();
  await demo.query(DEMO_SCHEMA);
  await demo.end();
  return { profile, stop };
}

/**
 * The PG* environment as an explicit profile, so a second terminal without those exports reaches
 * the same database through dev.json. PGPASSWORD is never copied (use a pgpass file there).
 */
function pgEnvProfile(env: NodeJS.ProcessEnv): Record<string, string | number> {
  const keys = {
    host: env.PGHOST,
    port: env.PGPORT ? Number(env.PGPORT) : undefined,
    dbname: env.PGDATABASE,
    user: env.PGUSER,
    service: env.PGSERVICE,
    passfile: env.PGPASSFILE,
    sslmode: env.PGSSLMODE,
  };
  return Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined && v !== '')) as Record<string, string | number>;
}

async function resolveConfig(options: GlobalOptions): Promise<{ config: Config; demo?: () => void }> {
  const repository = resolve(process.env.PGINCR_REPOSITORY ?? join(STATE_DIR, 'repository'));
  if (options.config ?? process.env.PGINCR_CONFIG) return { config: loadConfig(options.config) };
  if (process.env.PGHOST || process.env.PGDATABASE || process.env.PGSERVICE) {
    return { config: parseConfig({ repository, profiles: { default: pgEnvProfile(process.env) } }, process.env, 'environment') };
  }
  const demo = await ensureDemoCluster();
  return { config: parseConfig({ repository, profiles: { default: demo.profile } }, process.env, 'demo'), demo: demo.stop };
}

export async function runDev(options: GlobalOptions, opts: { port: number; uiPort: number; exitAfterPreflight: boolean }): Promise<void> {
  const logger = createLogger();
  mkdirSync(STATE_DIR, { recursive: true });
  const { config, demo } = await resolveConfig(options);
  const server = process.env.TEMPORAL_ADDRESS
    ? undefined
    : await startDevServer({
        port: opts.port,
        uiPort: opts.uiPort,
        headless: false,
        dbFile: join(STATE_DIR, 'temporal.sqlite'),
        namespace: config.temporal.namespace,
      });
  if (server) config.temporal.address = server.address;
  const worker = await createWorker(config, logger);
  const metrics = await serveMetrics(config, logger);
  const running = worker.run();
  const devFile = devStatePath();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      removeDevState(devFile);
      try {
        worker.shutdown();
      } catch {
        // already stopped (its run failed): nothing to shut down
      }
      await running.catch(() => undefined);
      await metrics?.close().catch(() => undefined);
      await server?.stop();
      demo?.();
    })());
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  // However this process ends, a second terminal must not find a live-looking dev.json.
  process.once('exit', () => removeDevState(devFile));
  writeDevState(devFile, config);

  const profileName = options.profile ?? config.defaultProfile;
  process.stdout.write(
    `pgincr dev\n  Temporal:  ${config.temporal.address} (namespace ${config.temporal.namespace})\n` +
      `  Web UI:    ${server?.uiUrl ?? '(external cluster)'}\n  database:  ${demo ? `demo cluster in ${demoDir()} (database demo)` : `profile ${profileName}`}\n` +
      `  repository: ${config.repository}\n  metrics:   ${metrics ? `http://127.0.0.1:${metrics.port}/metrics` : '(off)'}\n` +
      `  dev.json:  ${devFile} (bin/pgincr in another terminal in this folder uses it; no exports needed)\n\n`,
  );
  const ctx = new CliContext({ ...options, json: false });
  Object.defineProperty(ctx, 'config', { value: config });
  const report = await ctx.runWorkflow('preflightWorkflow', `${workflowIds.preflight(profileName)}-${Date.now()}`, [{ profile: profileName }]);
  if (report) process.stdout.write(`${formatPreflight(report)}\n\n`);
  if (opts.exitAfterPreflight) {
    await stop();
    process.exitCode = report?.exitCode ?? 2;
    return;
  }
  process.stdout.write('worker running; start workflows from the Web UI or `pgincr setup` in another terminal. Ctrl-C stops.\n');
  try {
    await running;
  } finally {
    await stop();
  }
}

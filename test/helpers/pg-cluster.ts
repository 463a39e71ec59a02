/**
 * Throwaway PostgreSQL clusters for tests: initdb under a temp dir as a non-root OS user,
 * a free port, the socket in the temp dir, wal_level=logical unless overridden. Always stopped
 * (`stop()` in afterAll; a process exit hook as a last resort).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { freePort, initCluster, localSuperuser, startServer, stopServer, type LocalClusterSpec } from '../../src/dev/local-cluster';
import { serverBinDir, type NewerMajor } from './pg-majors';

export { freePort };

export interface ClusterOptions {
  /** postgresql.conf settings, overriding the defaults below. */
  settings?: Record<string, string | number>;
  /** initdb --encoding / --locale. */
  encoding?: string;
  locale?: string;
  /** Server major: 15 (default, Debian) or a newer one from .tools/pg/<major> (see pg-majors.ts). */
  major?: 15 | NewerMajor;
}

export interface PgCluster {
  dir: string;
  /** The server's major version (psql and pg_dump are 15 whatever it is). */
  major: number;
  port: number;
  socketDir: string;
  /** Superuser name (the OS user, trust auth). */
  user: string;
  /** A libpq-style profile for this cluster (what pgincr's config would hold). */
  profile(dbname?: string): { host: string; port: number; user: string; dbname: string };
  /** PG* environment for child processes (psql, pg_dump). */
  env(dbname?: string): Record<string, string>;
  connect(dbname?: string, extra?: Partial<ClientConfig>): Promise<Client>;
  /** Runs one query on a fresh connection and closes it. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[], dbname?: string): Promise<T[]>;
  createDatabase(name: string, options?: { encoding?: string; template?: string; locale?: string }): Promise<void>;
  psql(args: string[], dbname?: string, input?: string): string;
  restart(options?: { mode?: 'fast' | 'immediate' }): void;
  stopServer(mode?: 'fast' | 'immediate'): void;
  startServer(): void;
  stop(): Promise<void>;
}

/** Test clusters trade durability for speed: our own fsyncs are on files, not in the server. */
const TEST_SETTINGS: Record<string, string | number> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: '32MB',
  log_min_messages: 'warning',
  logging_collector: 'off',
};

const running = new Set<PgCluster>();
process.on('exit', () => {
  for (const c of running) {
    try {
      c.stopServer('immediate');
    } catch {
      /* best effort at exit */
    }
  }
});

export async function startCluster(options: ClusterOptions = {}): Promise<PgCluster> {
  const binDir = options.major && options.major !== 15 ? serverBinDir(options.major) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-pg-'));
  const port = await freePort();
  const spec: LocalClusterSpec = {
    dir,
    port,
    settings: { ...TEST_SETTINGS, ...options.settings },
    encoding: options.encoding,
    locale: options.locale,
    binDir,
  };
  initCluster(spec);
  const user = localSuperuser();
  const cluster: PgCluster = {
    dir,
    major: options.major ?? 15,
    port,
    socketDir: dir,
    user,
    profile: (dbname = 'postgres') => ({ host: dir, port, user, dbname }),
    env: (dbname = 'postgres') => ({ PGHOST: dir, PGPORT: String(port), PGUSER: user, PGDATABASE: dbname }),
    async connect(dbname = 'postgres', extra = {}) {
      const client = new Client({ host: dir, port, user, database: dbname, ...extra });
      await client.connect();
      return client;
    },
    async query(sql, params, dbname = 'postgres') {
      const client = await cluster.connect(dbname);
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    async createDatabase(name, opts = {}) {
      const parts = [`CREATE DATABASE "${name.replace(/"/g, '""')}"`];
      if (opts.template) parts.push(`TEMPLATE "${opts.template}"`);
      else if (opts.encoding || opts.locale) parts.push('TEMPLATE template0');
      if (opts.encoding) parts.push(`ENCODING '${opts.encoding}'`);
      if (opts.locale) parts.push(`LOCALE '${opts.locale}'`);
      await cluster.query(parts.join(' '));
    },
    psql(args, dbname = 'postgres', input) {
      return execFileSync('psql', ['-X', '-v', 'ON_ERROR_STOP=1', ...args], {
        encoding: 'utf8',
        env: { ...process.env, ...cluster.env(dbname) },
        input,
        maxBuffer: 256 * 1024 * 1024,
      });
    },
    startServer() {
      startServer(spec);
      running.add(cluster);
    },
    stopServer(mode = 'fast') {
      running.delete(cluster);
      stopServer(spec, mode);
    },
    restart(opts = {}) {
      cluster.stopServer(opts.mode ?? 'fast');
      cluster.startServer();
    },
    async stop() {
      if (running.has(cluster)) {
        try {
          cluster.stopServer('fast');
        } catch {
          cluster.stopServer('immediate');
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  cluster.startServer();
  return cluster;
}

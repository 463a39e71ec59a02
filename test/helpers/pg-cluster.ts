/**
 * Throwaway PostgreSQL clusters for tests: initdb under a temp dir as a non-root OS user,
 * a free port, the socket in the temp dir, wal_level=logical unless overridden. Always stopped
 * (`stop()` in afterAll; a process exit hook as a last resort).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type ClientConfig } from 'pg';

const PG_BIN = process.env.PGINCR_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** The OS user that owns test clusters: postgres must not run as root. */
const OS_USER = process.env.PGINCR_TEST_OS_USER ?? 'postgres';

export interface ClusterOptions {
  /** postgresql.conf settings, overriding the defaults below. */
  settings?: Record<string, string | number>;
  /** initdb --encoding / --locale. */
  encoding?: string;
  locale?: string;
}

export interface PgCluster {
  dir: string;
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

const DEFAULT_SETTINGS: Record<string, string | number> = {
  wal_level: 'logical',
  max_replication_slots: 20,
  max_wal_senders: 20,
  max_connections: 60,
  fsync: 'off', // test clusters only: our own fsyncs are on files, not in the server
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: '32MB',
  log_min_messages: 'warning',
  logging_collector: 'off',
  'lc_messages': 'C',
};

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function asOsUser(cmd: string, args: string[], options: { env?: Record<string, string> } = {}): void {
  const isRoot = process.getuid?.() === 0;
  const [file, argv] = isRoot ? ['runuser', ['-u', OS_USER, '--', cmd, ...args]] : [cmd, args];
  const r = spawnSync(file, argv, { encoding: 'utf8', env: { ...process.env, ...options.env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr || r.stdout}`);
}

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
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-pg-'));
  const isRoot = process.getuid?.() === 0;
  const uid = isRoot ? Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }).trim()) : process.getuid!();
  const gid = isRoot ? Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }).trim()) : process.getgid!();
  chmodSync(dir, 0o755);
  if (isRoot) chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const port = await freePort();
  const user = isRoot ? OS_USER : (process.env.USER ?? 'postgres');
  asOsUser(join(PG_BIN, 'initdb'), [
    '-D', data, '-U', user, '--auth=trust', '--no-sync',
    `--encoding=${options.encoding ?? 'UTF8'}`, `--locale=${options.locale ?? 'C'}`,
  ]);
  const settings = { ...DEFAULT_SETTINGS, ...options.settings, port, unix_socket_directories: dir, listen_addresses: '127.0.0.1' };
  const conf = Object.entries(settings).map(([k, v]) => `${k} = '${String(v).replace(/'/g, "''")}'`).join('\n');
  appendFileSync(join(data, 'postgresql.conf'), `\n# pgincr test cluster\n${conf}\n`);
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nlocal replication all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n');
  if (isRoot) chownSync(join(data, 'pg_hba.conf'), uid, gid);

  const logFile = join(dir, 'server.log');
  const cluster: PgCluster = {
    dir,
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
        encoding: 'utf8', env: { ...process.env, ...cluster.env(dbname) }, input, maxBuffer: 256 * 1024 * 1024,
      });
    },
    startServer() {
      asOsUser(join(PG_BIN, 'pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '120', 'start']);
      running.add(cluster);
    },
    stopServer(mode = 'fast') {
      running.delete(cluster);
      asOsUser(join(PG_BIN, 'pg_ctl'), ['-D', data, '-m', mode, '-w', '-t', '120', 'stop']);
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

/**
 * Local PostgreSQL clusters made with initdb: the dev command's demo database and the tests'
 * throwaway clusters. PostgreSQL refuses to run as root, so as root the server runs as a
 * non-root OS user (default `postgres`) via runuser.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PG_BIN = process.env.PGINCR_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const OS_USER = process.env.PGINCR_TEST_OS_USER ?? 'postgres';

export interface LocalClusterSpec {
  /** Folder holding data/, the socket and server.log. */
  dir: string;
  port: number;
  settings?: Record<string, string | number>;
  encoding?: string;
  locale?: string;
  /** Folder with initdb, pg_ctl and postgres (default PG_BIN: 15). Another major's server, same tools. */
  binDir?: string;
}

export const LOGICAL_SETTINGS: Record<string, string | number> = {
  wal_level: 'logical',
  max_replication_slots: 20,
  max_wal_senders: 20,
  max_connections: 60,
  lc_messages: 'C',
};

export { freePort } from '../adapters/net/free-port';

const isRoot = () => process.getuid?.() === 0;

/** The database superuser of local clusters: the OS user that runs the server. */
export function localSuperuser(): string {
  return isRoot() ? OS_USER : (process.env.USER ?? 'postgres');
}

function runAsServerUser(cmd: string, args: string[]): void {
  const [file, argv] = isRoot() ? ['runuser', ['-u', OS_USER, '--', cmd, ...args]] : [cmd, args];
  const r = spawnSync(file, argv, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr || r.stdout}`);
}

function chownToServerUser(path: string): void {
  if (!isRoot()) return;
  const uid = Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }).trim());
  chownSync(path, uid, gid);
}

export const dataDir = (spec: LocalClusterSpec) => join(spec.dir, 'data');

/** initdb with trust auth on the socket and loopback, and the given settings. */
export function initCluster(spec: LocalClusterSpec): void {
  chmodSync(spec.dir, 0o755);
  chownToServerUser(spec.dir);
  const data = dataDir(spec);
  runAsServerUser(join(spec.binDir ?? PG_BIN, 'initdb'), [
    '-D',
    data,
    '-U',
    localSuperuser(),
    '--auth=trust',
    '--no-sync',
    `--encoding=${spec.encoding ?? 'UTF8'}`,
    `--locale=${spec.locale ?? 'C'}`,
  ]);
  writeSettings(spec);
  writeFileSync(
    join(data, 'pg_hba.conf'),
    'local all all trust\nlocal replication all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n',
  );
  chownToServerUser(join(data, 'pg_hba.conf'));
}

/** Appends settings (later lines win), including port and socket folder. */
export function writeSettings(spec: LocalClusterSpec): void {
  const settings = { ...LOGICAL_SETTINGS, ...spec.settings, port: spec.port, unix_socket_directories: spec.dir, listen_addresses: '127.0.0.1' };
  const conf = Object.entries(settings)
    .map(([k, v]) => `${k} = '${String(v).replace(/'/g, "''")}'`)
    .join('\n');
  appendFileSync(join(dataDir(spec), 'postgresql.conf'), `\n# pgincr local cluster\n${conf}\n`);
}

export function isInitialized(spec: LocalClusterSpec): boolean {
  return existsSync(join(dataDir(spec), 'PG_VERSION'));
}

export function startServer(spec: LocalClusterSpec): void {
  runAsServerUser(join(spec.binDir ?? PG_BIN, 'pg_ctl'), ['-D', dataDir(spec), '-l', join(spec.dir, 'server.log'), '-w', '-t', '120', 'start']);
}

export function stopServer(spec: LocalClusterSpec, mode: 'fast' | 'immediate' = 'fast'): void {
  runAsServerUser(join(spec.binDir ?? PG_BIN, 'pg_ctl'), ['-D', dataDir(spec), '-m', mode, '-w', '-t', '120', 'stop']);
}

export function isRunning(spec: LocalClusterSpec): boolean {
  const [file, argv] = isRoot()
    ? ['runuser', ['-u', OS_USER, '--', join(spec.binDir ?? PG_BIN, 'pg_ctl'), 'status', '-D', dataDir(spec)]]
    : [join(spec.binDir ?? PG_BIN, 'pg_ctl'), ['status', '-D', dataDir(spec)]];
  return spawnSync(file, argv).status === 0;
}

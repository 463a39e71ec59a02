/**
 * Connections from a profile, by libpq's rules: explicit profile fields, then the service file
 * entry (`service` / PGSERVICE, in PGSERVICEFILE or ~/.pg_service.conf), then PG* variables,
 * then libpq's defaults. The password only ever comes from PGPASSWORD or a pgpass file
 * (profile.passfile, PGPASSFILE, ~/.pgpass); it is never logged, never put in argv, and child
 * processes get it the way libpq would find it (the inherited PGPASSWORD or PGPASSFILE).
 *
 * Known gaps: one host only (no comma lists); `sslmode=allow|prefer` connect without TLS in
 * node-postgres (it cannot fall back), child processes still get the real sslmode.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Client, type ClientConfig } from 'pg';
import type { Profile } from '../../config';
import { ConfigError } from '../../errors';

type Env = NodeJS.ProcessEnv;
type SslMode = NonNullable<Profile['sslmode']>;

/** Where to connect, fully resolved; no secret in it. */
export interface ResolvedProfile {
  host: string;
  port: number;
  dbname: string;
  user: string;
  sslmode: SslMode | undefined;
  /** The pgpass file to read (may not exist). */
  passfile: string;
}

const DEFAULT_SOCKET_DIR = '/var/run/postgresql';
type ServiceKey = 'host' | 'port' | 'dbname' | 'user' | 'sslmode' | 'passfile';
/** Connection variables a child must not inherit from the worker (ours replace them). */
const CONNECTION_VARS = [
  'PGHOST',
  'PGHOSTADDR',
  'PGPORT',
  'PGDATABASE',
  'PGUSER',
  'PGSERVICE',
  'PGSERVICEFILE',
  'PGSSLMODE',
  'PGPASSFILE',
  'PGOPTIONS',
  'PGTARGETSESSIONATTRS',
];

/** Parses a pg_service.conf (ini) file: `[name]` sections of `key=value` lines. */
export function parseServiceFile(text: string): Map<string, Record<string, string>> {
  const services = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = {};
      services.set(section[1]!.trim(), current);
    } else if (current) {
      const eq = line.indexOf('=');
      if (eq > 0) current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
  }
  return services;
}

function serviceEntry(name: string, env: Env): Record<string, string> {
  const files = [env.PGSERVICEFILE ?? join(homedir(), '.pg_service.conf')];
  if (env.PGSYSCONFDIR) files.push(join(env.PGSYSCONFDIR, 'pg_service.conf'));
  for (const file of files) {
    if (!existsSync(file)) continue;
    const entry = parseServiceFile(readFileSync(file, 'utf8')).get(name);
    if (entry) return entry;
  }
  throw new ConfigError(`connection service ${JSON.stringify(name)} not found in ${files.join(' or ')}`, {
    hint: 'define it in ~/.pg_service.conf (or PGSERVICEFILE), or remove "service" from the profile',
  });
}

/** Applies libpq's precedence: profile > service file > PG* environment > defaults. */
export function resolveProfile(profile: Profile, env: Env = process.env): ResolvedProfile {
  const serviceName = profile.service ?? env.PGSERVICE;
  const service = serviceName ? serviceEntry(serviceName, env) : {};
  const pick = (key: ServiceKey, envVar: string): string | undefined => {
    const fromProfile = profile[key];
    if (fromProfile !== undefined) return String(fromProfile);
    return service[key] ?? env[envVar] ?? undefined;
  };
  const user = pick('user', 'PGUSER') ?? userInfo().username;
  const portText = pick('port', 'PGPORT') ?? '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`invalid port ${JSON.stringify(portText)}`, { hint: 'a number between 1 and 65535' });
  }
  const sslmode = pick('sslmode', 'PGSSLMODE') as SslMode | undefined;
  return {
    host: pick('host', 'PGHOST') ?? (existsSync(DEFAULT_SOCKET_DIR) ? DEFAULT_SOCKET_DIR : 'localhost'),
    port,
    dbname: pick('dbname', 'PGDATABASE') ?? user,
    user,
    sslmode,
    passfile: pick('passfile', 'PGPASSFILE') ?? join(homedir(), '.pgpass'),
  };
}

/** Splits one pgpass line into its five fields, honouring `\:` and `\\`. */
function pgpassFields(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) current += line[++i];
    else if (c === ':' && fields.length < 4) {
      fields.push(current);
      current = '';
    } else current += c;
  }
  fields.push(current);
  return fields;
}

/** Finds the password for a connection in pgpass text (first matching line wins, `*` matches all). */
export function matchPgpass(text: string, target: Pick<ResolvedProfile, 'host' | 'port' | 'dbname' | 'user'>): string | undefined {
  const hosts = [target.host];
  if (target.host.startsWith('/') && target.host === DEFAULT_SOCKET_DIR) hosts.push('localhost');
  for (const raw of text.split(/\r?\n/)) {
    if (!raw.trim() || raw.startsWith('#')) continue;
    const f = pgpassFields(raw);
    if (f.length !== 5) continue;
    const [host, port, db, user, password] = f as [string, string, string, string, string];
    const ok = (pattern: string, value: string) => pattern === '*' || pattern === value;
    if (hosts.some((h) => ok(host, h)) && ok(port, String(target.port)) && ok(db, target.dbname) && ok(user, target.user)) {
      return password;
    }
  }
  return undefined;
}

/** Reads the password from a pgpass file; like libpq, ignores a file others can read. */
function pgpassPassword(resolved: ResolvedProfile): string | undefined {
  let mode: number;
  try {
    const st = statSync(resolved.passfile);
    if (!st.isFile()) return undefined;
    mode = st.mode;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) !== 0) return undefined;
  return matchPgpass(readFileSync(resolved.passfile, 'utf8'), resolved);
}

function sslOption(mode: SslMode | undefined): ClientConfig['ssl'] {
  switch (mode) {
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
    default:
      return false;
  }
}

/** A node-postgres ClientConfig for the profile (holds the password in memory only). */
export function clientConfig(profile: Profile, env: Env = process.env): ClientConfig {
  const r = resolveProfile(profile, env);
  const password = env.PGPASSWORD ?? pgpassPassword(r);
  return {
    host: r.host,
    port: r.port,
    database: r.dbname,
    user: r.user,
    ssl: sslOption(r.sslmode),
    application_name: 'pgincr',
    ...(password !== undefined ? { password } : {}),
  };
}

/**
 * Every connection gives up connecting after this long (callers may pass their own
 * `connectionTimeoutMillis`): without it a server behind a dead network holds a connect for the
 * OS's SYN retries (~2 min), and `pgincr check`, the chain lookup and each retried activity with
 * it. And, like libpq's default keepalives=1, TCP keepalives are on.
 */
const CONNECT_TIMEOUT_MS = 10_000;

/** Opens a normal SQL connection. */
export async function connectProfile(profile: Profile, extra: Partial<ClientConfig> = {}, env: Env = process.env): Promise<Client> {
  const client = new Client({ connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, ...clientConfig(profile, env), ...extra });
  await client.connect();
  return client;
}

/** Opens a logical replication connection (`replication=database`). */
export function openReplicationConnection(profile: Profile, env: Env = process.env): Promise<Client> {
  return connectProfile(profile, { replication: 'database' } as Partial<ClientConfig>, env);
}

/**
 * The full environment for a child process (pg_dump, psql): the worker's environment without
 * its own connection variables, plus the profile's as PG* variables. A password from PGPASSWORD
 * is inherited as it is; one from a pgpass file is found by the child through PGPASSFILE.
 */
export function childEnv(profile: Profile, env: Env = process.env): Record<string, string> {
  const r = resolveProfile(profile, env);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !CONNECTION_VARS.includes(k)) out[k] = v;
  Object.assign(out, { PGHOST: r.host, PGPORT: String(r.port), PGDATABASE: r.dbname, PGUSER: r.user, PGPASSFILE: r.passfile });
  if (r.sslmode) out.PGSSLMODE = r.sslmode;
  return out;
}

/** A one-line description for logs and messages: never a password. */
export function describeProfile(profile: Profile, env: Env = process.env): string {
  try {
    const r = resolveProfile(profile, env);
    return `host=${r.host} port=${r.port} dbname=${r.dbname} user=${r.user}${r.sslmode ? ` sslmode=${r.sslmode}` : ''}`;
  } catch {
    return `service=${profile.service ?? '(none)'} (unresolved)`;
  }
}

/**
 * Both sides of a connection notice a dead peer within `receiveTimeoutMs` (capture.receiveTimeout,
 * restore.receiveTimeout): the client connects within it and sends TCP keepalives; the server's
 * backends are told the same in their startup options (tcp_keepalives_*, tcp_user_timeout, and a
 * walsender's wal_sender_timeout; all settable per session), so a session cut off by the network
 * (holding the chain lock, the slot, or a restore's origin and open transaction) ends on the
 * server and the next attempt can take over when the network is back.
 */
export function livenessSettings(receiveTimeoutMs: number): { client: Partial<ClientConfig>; server: string; walsender: string } {
  const s = Math.max(1, Math.round(receiveTimeoutMs / 1000));
  const idle = Math.max(1, Math.round(s / 2));
  const interval = Math.max(1, Math.round(s / 6));
  return {
    client: { keepAlive: true, keepAliveInitialDelayMillis: idle * 1000, connectionTimeoutMillis: receiveTimeoutMs },
    server: `-c tcp_keepalives_idle=${idle} -c tcp_keepalives_interval=${interval} -c tcp_keepalives_count=3 -c tcp_user_timeout=${receiveTimeoutMs}`,
    walsender: `-c wal_sender_timeout=${receiveTimeoutMs}`,
  };
}

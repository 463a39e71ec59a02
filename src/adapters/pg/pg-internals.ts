/**
 * The one place that reaches into `pg`'s private fields (none is in its public typings). The
 * replication stream needs them to frame the socket itself (replication-stream.ts): the
 * client's `connection` (its socket, CopyData sending, the CopyBothResponse event) and the
 * client's idle state (`readyForQuery`, `_queryQueue`). They have been stable since pg 7, but a
 * `pg` upgrade could rename one: `assertPgInternals` runs when a stream opens and fails loudly,
 * naming the pg version and the missing field, instead of streaming on a half-working socket.
 */
import type { Client } from 'pg';
import { ConfigError } from '../../errors';

/** The socket's 'data' listener(s) pg installed (its protocol parser). */
export type DataListener = (chunk: Buffer) => void;

/** What the stream uses of pg's internal Connection. */
export interface PgConnectionInternals {
  once(event: 'replicationStart', listener: () => void): void;
  removeListener(event: string, listener: (...args: never[]) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: {
    pause(): void;
    resume(): void;
    destroy(): void;
    listeners(event: 'data'): unknown[];
    on(event: 'data', listener: DataListener): void;
    removeListener(event: 'data', listener: DataListener): void;
  };
}

interface ClientInternals {
  connection?: PgConnectionInternals;
  readyForQuery?: boolean;
  _queryQueue?: unknown[];
}

const CONNECTION_METHODS = ['once', 'removeListener', 'sendCopyFromChunk', 'endCopyFrom'] as const;
const SOCKET_METHODS = ['pause', 'resume', 'destroy', 'listeners', 'on', 'removeListener'] as const;

/** The installed pg's version, for the error message. */
export function pgVersion(): string {
  try {
    // Read at run time: the version actually loaded, not the one compiled against.
    return (require('pg/package.json') as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The first private field the stream needs that `client` lacks (or has with another shape), or null. */
export function missingPgInternal(client: Client): string | null {
  const c = client as unknown as ClientInternals;
  const connection = c.connection as unknown as Record<string, unknown> | undefined;
  if (typeof connection !== 'object' || connection === null) return 'Client.connection';
  for (const m of CONNECTION_METHODS) if (typeof connection[m] !== 'function') return `Client.connection.${m}()`;
  const socket = connection['stream'] as Record<string, unknown> | undefined;
  if (typeof socket !== 'object' || socket === null) return 'Client.connection.stream';
  for (const m of SOCKET_METHODS) if (typeof socket[m] !== 'function') return `Client.connection.stream.${m}()`;
  if (typeof c.readyForQuery !== 'boolean') return 'Client.readyForQuery';
  if (!Array.isArray(c._queryQueue)) return 'Client._queryQueue';
  return null;
}

/**
 * Throws when the installed `pg` lacks a private field the replication stream relies on (call
 * on a connected client, before taking over its socket).
 */
export function assertPgInternals(client: Client): void {
  const missing = missingPgInternal(client);
  if (missing === null) return;
  throw new ConfigError(`pg ${pgVersion()}: ${missing} is missing or has changed; the replication stream needs it (src/adapters/pg/pg-internals.ts)`, {
    hint: "install the pg version pinned in pgincr's package.json (npm ci); a pg upgrade needs pg-internals.ts adapted to it",
  });
}

/** pg's internal Connection of `client` (checked by assertPgInternals). */
export function pgConnection(client: Client): PgConnectionInternals {
  return (client as unknown as { connection: PgConnectionInternals }).connection;
}

/** True when the last command ended with ReadyForQuery and nothing else is queued: pg's parser holds no partial frame. */
export function pgClientIdle(client: Client): boolean {
  const c = client as unknown as ClientInternals;
  return c.readyForQuery === true && (c._queryQueue?.length ?? 0) === 0;
}

/**
 * Destroys a client's socket at once: its pending queries reject and end() settles. For a
 * connection whose peer cannot answer (a dead network), where end() would wait forever for the
 * server's side of the goodbye. A no-op when pg has no such socket (never connected).
 */
export function destroyConnection(client: Client): void {
  (client as unknown as ClientInternals).connection?.stream?.destroy?.();
}

/** The server process id of a connected client (pg's `processID`, from BackendKeyData), or null. */
export function pgBackendPid(client: Client): number | null {
  const pid = (client as unknown as { processID?: unknown }).processID;
  return typeof pid === 'number' ? pid : null;
}

/**
 * The START_REPLICATION command text, and the mapping of the server's refusals to pgincr's
 * error classes (pure).
 */
import { formatLsn, type Lsn } from '../../core/lsn';
import { quoteIdent } from '../../core/sql/quote';
import { DecoderMissingError, PublicationMissingError, SlotMissingError } from '../../errors';

export interface StartReplicationOptions {
  slot: string;
  /** Where to start; 0 lets the server start at the slot's confirmed_flush_lsn. */
  startLsn: Lsn;
  publication: string;
  protoVersion?: 1;
  /** Ask pgoutput for logical decoding messages (pg_logical_emit_message). */
  messages?: boolean;
  /** Pause the socket when this many payload bytes wait unconsumed (default 4 MiB). */
  highWaterBytes?: number;
  /** Under a trickle (< 64 KiB per this many ms), read at most this often (default 0: always at once). */
  readBatchMs?: number;
}

/** Single-quoted literal for replication command options (no E'' syntax there). */
function optionLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * A slot or publication name in the replication command: always in double quotes, `"` doubled.
 * Not core/sql/quote.ts's quoteIdent, which leaves plain names bare and writes control
 * characters as `U&"…"`: the replication grammar has keywords of its own (a slot named `slot`
 * or `logical` must be quoted), and `publication_names` is split by SplitIdentifierString,
 * which knows no `U&` form.
 */
function replicationIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The START_REPLICATION command text (exported for tests). */
export function startReplicationCommand(opts: StartReplicationOptions): string {
  const pluginOptions = [
    `proto_version ${optionLiteral(String(opts.protoVersion ?? 1))}`,
    `publication_names ${optionLiteral(replicationIdent(opts.publication))}`,
  ];
  if (opts.messages) pluginOptions.push(`messages 'true'`);
  return `START_REPLICATION SLOT ${replicationIdent(opts.slot)} LOGICAL ${formatLsn(opts.startLsn)} (${pluginOptions.join(', ')})`;
}

interface PgError {
  message?: string;
  code?: string;
}

/** Maps a server error on the replication connection to a pgincr error class. */
export function mapReplicationError(err: unknown, slot: string, publication: string, startLsn: Lsn = 0n): Error {
  const e = (err ?? {}) as PgError;
  // Where the chain on disk ends: nothing after it can be captured any more once the slot is gone.
  const broken =
    startLsn > 0n
      ? `the chain is broken from ${formatLsn(startLsn)} (the end of its segments; restorable up to there, not past it)`
      : "the chain is broken from the slot's last confirmed position";
  const message = e.message ?? String(err);
  const detail = (e as { detail?: string }).detail;
  const facts = `slot ${slot}: ${message}${detail ? ` (${detail})` : ''}${e.code ? ` (SQLSTATE ${e.code})` : ''}`;
  if (/publication ".*" does not exist/.test(message)) {
    return new PublicationMissingError(`publication ${publication} is missing: ${facts}`, {
      hint: `create it (CREATE PUBLICATION ${quoteIdent(publication)} FOR ALL TABLES) or run pgincr setup`,
      cause: err,
    });
  }
  if (/replication slot ".*" does not exist/.test(message)) {
    return new SlotMissingError(`replication slot is missing: ${facts}; ${broken}`, {
      hint: 'run pgincr setup --new-chain to take a new base and slot (a new chain)',
      cause: err,
    });
  }
  if (/can no longer get changes from replication slot|has been invalidated|cannot read from logical replication slot/.test(message)) {
    return new SlotMissingError(`replication slot is invalidated: ${facts}; ${broken}`, {
      hint: 'the server removed WAL the slot needed (max_slot_wal_keep_size exceeded); run pgincr setup --new-chain (plain pgincr setup does the same for a lost slot): it drops the slot and starts a new chain with a new base',
      cause: err,
    });
  }
  if (e.code === '58P01' || /could not access file|output plugin .* not allowed/.test(message)) {
    return new DecoderMissingError(`output plugin unavailable: ${facts}`, {
      hint: 'pgoutput is built into PostgreSQL >= 10; for other decoders install the plugin on the server',
      cause: err,
    });
  }
  return err instanceof Error ? err : new Error(message);
}

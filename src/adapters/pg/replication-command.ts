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
export function mapReplicationError(err: unknown, slot: string, publication: string): Error {
  const e = (err ?? {}) as PgError;
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
    return new SlotMissingError(`replication slot is missing: ${facts}`, {
      hint: 'the chain is broken; run pgincr setup --new-chain to take a new base and slot',
      cause: err,
    });
  }
  if (/can no longer get changes from replication slot|has been invalidated|cannot read from logical replication slot/.test(message)) {
    return new SlotMissingError(`replication slot is invalidated: ${facts}`, {
      hint: 'the server removed WAL the slot needed (max_slot_wal_keep_size); run pgincr setup --new-chain',
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

/**
 * The pgoutput (protocol version 1) message model: what the decoder hands to the renderer.
 *
 * Every name and value is a **byte string** (see docs/architecture.md, "Byte strings"): one
 * char per byte of the server's encoding, made with `buffer.toString('latin1')`. Schema and
 * table stay separate; an unchanged TOAST value (`'u'` on the wire) is its own kind, never
 * confused with NULL.
 */
import type { Lsn } from '../lsn';

/** One column value of a tuple, in the order of the relation's columns. */
export type TupleValue =
  | { kind: 'null' }
  /** A TOASTed value the UPDATE did not change: not in the stream, so never written. */
  | { kind: 'unchanged' }
  /** The value's text output form, as a byte string. */
  | { kind: 'text'; value: string };

export type Tuple = TupleValue[];

/** Replica identity: `d`efault (primary key), `n`othing, `f`ull, `i`ndex. */
export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i';

export interface RelationColumn {
  name: string;
  typeOid: number;
  typeMod: number;
  /** Part of the replica identity (every column under FULL). */
  isKey: boolean;
}

export interface BeginMessage {
  tag: 'begin';
  /** LSN of the commit record of this transaction. */
  finalLsn: Lsn;
  /** Microseconds since 2000-01-01 00:00:00 UTC. */
  commitTime: bigint;
  xid: number;
}

export interface CommitMessage {
  tag: 'commit';
  flags: number;
  commitLsn: Lsn;
  /** End of the commit record: the position to acknowledge once durable. */
  endLsn: Lsn;
  commitTime: bigint;
}

export interface OriginMessage {
  tag: 'origin';
  originLsn: Lsn;
  name: string;
}

export interface RelationMessage {
  tag: 'relation';
  relationId: number;
  /** Empty for pg_catalog, as pgoutput sends it. */
  schema: string;
  table: string;
  replicaIdentity: ReplicaIdentity;
  columns: RelationColumn[];
}

export interface TypeMessage {
  tag: 'type';
  typeOid: number;
  schema: string;
  name: string;
}

export interface InsertMessage {
  tag: 'insert';
  relationId: number;
  newTuple: Tuple;
}

export interface UpdateMessage {
  tag: 'update';
  relationId: number;
  /** Old key columns (others null): sent when the key changed under DEFAULT/INDEX. */
  keyTuple?: Tuple;
  /** The whole old row: sent under FULL. */
  oldTuple?: Tuple;
  newTuple: Tuple;
}

export interface DeleteMessage {
  tag: 'delete';
  relationId: number;
  keyTuple?: Tuple;
  oldTuple?: Tuple;
}

export interface TruncateMessage {
  tag: 'truncate';
  cascade: boolean;
  restartIdentity: boolean;
  relationIds: number[];
}

export interface LogicalMessage {
  tag: 'message';
  transactional: boolean;
  lsn: Lsn;
  prefix: string;
  content: Buffer;
}

export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage;

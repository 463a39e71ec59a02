/**
 * The capture's check of signed capture-table rows (docs/security.md): once the source's key is
 * known, a `pgincr.ddl_history` or `pgincr.sequence_positions` row whose table has a `sig` column
 * (capture schema version 5) and whose signature is missing or wrong is REFUSED: not rendered;
 * the segment gets one comment line naming the table, row id and xid (no text from the row),
 * and `trust.onRefused` is told (the capture logs it and counts it). Rows of tables without a
 * `sig` column were written before migration 5 and are rendered as before.
 */
import { renderCaptureChange, type CaptureContext } from './capture-tables';
import { DDL_HISTORY_SIGNED_COLUMNS, SEQUENCE_POSITIONS_SIGNED_COLUMNS, signatureValid } from './capture-row-signature';
import type { Tuple } from '../decoding/model';
import type { RelationInfo } from './render';

export interface RefusedRow {
  table: 'ddl_history' | 'sequence_positions';
  /** The row's id and xid columns, digits only ('?' otherwise). */
  id: string;
  xid: string;
  reason: 'no signature' | 'wrong signature';
}

/** What the check needs; `key` may be set later (the capture loads it when it first sees a signed table). */
export interface RowTrust {
  key?: Buffer;
  onRefused?: (row: RefusedRow) => void;
}

export type VerifyingCaptureContext = CaptureContext & { trust?: RowTrust };

const SIGNED: Record<string, readonly string[]> = {
  ddl_history: DDL_HISTORY_SIGNED_COLUMNS,
  sequence_positions: SEQUENCE_POSITIONS_SIGNED_COLUMNS,
};

function value(rel: RelationInfo, tuple: Tuple, name: string): string | null {
  const i = rel.columns.findIndex((c) => c.name === name);
  const v = i < 0 ? undefined : tuple[i];
  return v && v.kind === 'text' ? v.value : null;
}

const digits = (s: string | null) => (s !== null && /^\d{1,20}$/.test(s) ? s : '?');

/** Whether a table of this relation carries signatures (capture schema version 5). */
export function isSignedTable(rel: Pick<RelationInfo, 'schema' | 'table' | 'columns'>): boolean {
  return rel.schema === 'pgincr' && rel.table in SIGNED && rel.columns.some((c) => c.name === 'sig');
}

/** The refusal for one INSERT into a capture table, or null when it may be rendered. */
export function checkCaptureRow(rel: RelationInfo, tuple: Tuple, key: Buffer): RefusedRow | null {
  const columns = SIGNED[rel.table];
  if (!columns || !isSignedTable(rel)) return null;
  const sig = value(rel, tuple, 'sig');
  if (
    sig !== null &&
    signatureValid(
      key,
      columns.map((c) => value(rel, tuple, c)),
      sig,
    )
  )
    return null;
  return {
    table: rel.table as RefusedRow['table'],
    id: digits(value(rel, tuple, 'id')),
    xid: digits(value(rel, tuple, 'xid')),
    reason: sig === null ? 'no signature' : 'wrong signature',
  };
}

/** The segment's comment line for a refused row. */
export function refusedComment(r: RefusedRow): string {
  return `-- pgincr: REFUSED pgincr.${r.table} row id ${r.id} xid ${r.xid}: ${r.reason}, not written by pgincr's triggers; not replayed\n`;
}

/** {@link renderCaptureChange} behind the signature check (see the module comment). */
export function renderVerifiedCaptureChange(
  change: { kind: 'insert' | 'update' | 'delete' | 'truncate'; rel: RelationInfo; tuple?: Tuple },
  ctx: VerifyingCaptureContext,
): string {
  const key = ctx.trust?.key;
  if (key && change.kind === 'insert' && change.tuple) {
    const refused = checkCaptureRow(change.rel, change.tuple, key);
    if (refused) {
      ctx.trust?.onRefused?.(refused);
      return refusedComment(refused);
    }
  }
  return renderCaptureChange(change, ctx);
}

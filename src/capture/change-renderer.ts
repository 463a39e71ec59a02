/**
 * The render stage of the capture: one decoded change → the SQL text to write (or nothing).
 * Rows of pgincr's own tables are not data: `pgincr.ddl_history` rows become the DDL itself and
 * `pgincr.sequence_positions` rows become `setval` lines (by the capture-table renderer, behind
 * the signature check of capture-row-verify.ts); any
 * other change to a `pgincr.*` table is not rendered.
 */
import type { DeleteMessage, InsertMessage, TruncateMessage, UpdateMessage } from '../core/decoding/model';
import { isCaptureTable } from '../core/sql/capture-tables';
import { renderVerifiedCaptureChange, type VerifyingCaptureContext } from '../core/sql/capture-row-verify';
import { renderDelete, renderInsert, renderTruncate, renderUpdate, type OldTuple } from '../core/sql/render';
import { qualifiedName } from '../core/sql/quote';
import { RenderError } from '../core/sql/render-error';
import type { RelationCache } from './relation-cache';

export type ChangeMessage = InsertMessage | UpdateMessage | DeleteMessage | TruncateMessage;

function oldTuple(msg: UpdateMessage | DeleteMessage): OldTuple | undefined {
  if (msg.oldTuple) return { kind: 'old', tuple: msg.oldTuple };
  if (msg.keyTuple) return { kind: 'key', tuple: msg.keyTuple };
  return undefined;
}

/** SQL for one change, or null when nothing is to be written. */
export function renderChange(msg: ChangeMessage, relations: RelationCache, context: VerifyingCaptureContext): string | null {
  if (msg.tag === 'truncate') {
    const rels = msg.relationIds.map((id) => relations.get(id)).filter((r) => !isCaptureTable(r));
    return rels.length ? renderTruncate(rels, { cascade: msg.cascade, restartIdentity: msg.restartIdentity }) : null;
  }
  const rel = relations.get(msg.relationId);
  if (isCaptureTable(rel)) {
    if (msg.tag !== 'insert') return null;
    return renderVerifiedCaptureChange({ kind: 'insert', rel, tuple: msg.newTuple }, context) || null;
  }
  switch (msg.tag) {
    case 'insert':
      return renderInsert(rel, msg.newTuple);
    case 'update':
      return renderUpdate(rel, msg.newTuple, oldTuple(msg));
    case 'delete': {
      const old = oldTuple(msg);
      if (!old) throw new RenderError(`delete on ${qualifiedName(rel.schema, rel.table)} came without its old key or row`);
      return renderDelete(rel, old);
    }
  }
}

/**
 * The restore bench's segments: many small source transactions over one table, each with
 * inserts, updates of rows inserted one transaction earlier and deletes of rows inserted two
 * transactions earlier, written in the capture renderer's statement shapes (quoted literals,
 * `UPDATE ONLY … SET every column … WHERE key`, `DELETE FROM ONLY … WHERE key`).
 */
import type { Recorder } from '../test/helpers/restore-fixture';

export const RESTORE_SCHEMA = `CREATE TABLE public.items (id bigint PRIMARY KEY, name text NOT NULL, qty int, price numeric,
  tags text[], created timestamptz, doc jsonb)`;

const COLS = '(id, name, qty, price, tags, created, doc)';

function values(id: number, version: number): string[] {
  const secs = id * 7 + version;
  const created = new Date(Date.UTC(2026, 0, 1) + secs * 1000).toISOString().replace('T', ' ').replace('Z', '+00');
  return [
    `'item ${id} v${version} ✓ it''s'`,
    `'${(id * 31 + version) % 997}'`,
    `'${id}.${String(version).padStart(2, '0')}'`,
    `'{a,"b c",${version}}'`,
    `'${created}'`,
    `'{"id": ${id}, "v": ${version}, "tags": ["x", "y"]}'`,
  ];
}

export interface WorkloadShape {
  transactions: number;
  /** Row changes per transaction: 70% inserts, 20% updates, 10% deletes (at least one insert). */
  rowsPerTxn: number;
  txnsPerSegment: number;
}

export interface WorkloadCounts {
  changes: number;
  inserts: number;
  updates: number;
  deletes: number;
  finalRows: number;
}

/** Records the workload into `recorder`, cutting a segment every `txnsPerSegment` transactions. */
export function generateSegments(recorder: Recorder, shape: WorkloadShape): WorkloadCounts {
  const deletes = Math.floor(shape.rowsPerTxn * 0.1);
  const updates = Math.floor(shape.rowsPerTxn * 0.2);
  const inserts = Math.max(1, shape.rowsPerTxn - deletes - updates);
  if (deletes + updates > inserts) throw new Error('rows per transaction too small for the mix');
  const counts: WorkloadCounts = { changes: 0, inserts: 0, updates: 0, deletes: 0, finalRows: 0 };
  // The ids inserted by transaction k are k*inserts+1 … (k+1)*inserts (k from 0).
  const firstId = (k: number) => k * inserts + 1;
  for (let k = 0; k < shape.transactions; k++) {
    const statements: string[] = [];
    for (let i = 0; i < inserts; i++) {
      const id = firstId(k) + i;
      statements.push(`INSERT INTO public.items ${COLS} VALUES ('${id}', ${values(id, 0).join(', ')});`);
    }
    // Updates: rows d … d+u-1 of the previous transaction (never deleted: deletes take rows 0 … d-1).
    if (k >= 1) {
      for (let i = deletes; i < deletes + updates; i++) {
        const id = firstId(k - 1) + i;
        const [name, qty, price, tags, created, doc] = values(id, 1);
        statements.push(
          `UPDATE ONLY public.items SET name = ${name}, qty = ${qty}, price = ${price}, tags = ${tags}, created = ${created}, doc = ${doc} WHERE id = '${id}';`,
        );
        counts.updates += 1;
      }
    }
    if (k >= 2) {
      for (let i = 0; i < deletes; i++) {
        statements.push(`DELETE FROM ONLY public.items WHERE id = '${firstId(k - 2) + i}';`);
        counts.deletes += 1;
      }
    }
    counts.inserts += inserts;
    recorder.record(statements);
    if ((k + 1) % shape.txnsPerSegment === 0) recorder.cut(false);
  }
  if (shape.transactions % shape.txnsPerSegment !== 0) recorder.cut(false);
  counts.changes = counts.inserts + counts.updates + counts.deletes;
  counts.finalRows = counts.inserts - counts.deletes;
  return counts;
}

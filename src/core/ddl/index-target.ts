/**
 * The table a replayed `CREATE INDEX` is on. A DDL block's header names only the index (the
 * event trigger's object identity), so a partial restore reads the table from the statement
 * itself, parsed by PostgreSQL's own parser (libpg-query; initDdlParser must have resolved).
 */
import { parseSync } from 'libpg-query';

export interface IndexTarget {
  /** As written in the statement; null when unqualified (resolved by the block's search_path). */
  schema: string | null;
  name: string;
}

/** The table of the single `CREATE INDEX` in `statement`, or null (another statement, or it does not parse). */
export function createIndexTarget(statement: string): IndexTarget | null {
  try {
    const stmts = parseSync(statement).stmts ?? [];
    if (stmts.length !== 1) return null;
    const rel = (stmts[0]?.stmt as { IndexStmt?: { relation?: { schemaname?: string; relname?: string } } } | undefined)?.IndexStmt?.relation;
    return rel?.relname ? { schema: rel.schemaname ?? null, name: rel.relname } : null;
  } catch {
    return null; // not loaded or not a statement it reads: the block is treated as before (left out, reported)
  }
}

/**
 * The schemas of a `search_path` setting's value, in order (`"$user", public` → [public]):
 * quoted parts unquoted, bare parts folded to lower case, `$user` and pg_catalog left out.
 */
export function searchPathSchemas(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^",\s]+))\s*(?:,|$)/g)) {
    const name = m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] ?? '').toLowerCase();
    if (name !== '' && name !== '$user' && name !== 'pg_catalog') out.push(name);
  }
  return out;
}

type Json = Record<string, unknown>;

/** Every `RangeVar` under `node` except unqualified CTE names of the statement (they are no relation). */
function rangeVars(node: unknown, out: IndexTarget[], ctes: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) rangeVars(n, out, ctes);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === 'CommonTableExpr' && typeof (v as Json).ctename === 'string') ctes.add((v as Json).ctename as string);
    if (k === 'RangeVar') {
      const rv = v as { schemaname?: string; relname?: string };
      if (rv.relname) out.push({ schema: rv.schemaname ?? null, name: rv.relname });
      continue;
    }
    rangeVars(v, out, ctes);
  }
}

/**
 * The relations a single `CREATE [OR REPLACE] VIEW` or `CREATE MATERIALIZED VIEW` reads (as
 * written; unqualified ones resolve through the block's search_path), or null for another
 * statement. A partial restore applies such a view only when all of them are kept.
 */
export function viewSources(statement: string): IndexTarget[] | null {
  try {
    const stmts = parseSync(statement).stmts ?? [];
    if (stmts.length !== 1) return null;
    const stmt = stmts[0]?.stmt as { ViewStmt?: { query?: unknown }; CreateTableAsStmt?: { query?: unknown; objtype?: string } } | undefined;
    const query = stmt?.ViewStmt?.query ?? (stmt?.CreateTableAsStmt?.objtype === 'OBJECT_MATVIEW' ? stmt.CreateTableAsStmt.query : undefined);
    if (query === undefined) return null;
    const out: IndexTarget[] = [];
    const ctes = new Set<string>();
    rangeVars(query, out, ctes);
    return out.filter((r) => r.schema !== null || !ctes.has(r.name));
  } catch {
    return null;
  }
}

/** The old name in a single `ALTER INDEX|VIEW|MATERIALIZED VIEW … RENAME TO …` (its DDL header names the new one), or null. */
export function renamedRelation(statement: string): IndexTarget | null {
  try {
    const stmts = parseSync(statement).stmts ?? [];
    if (stmts.length !== 1) return null;
    const rename = (stmts[0]?.stmt as { RenameStmt?: { renameType?: string; relation?: { schemaname?: string; relname?: string } } } | undefined)?.RenameStmt;
    if (!rename || !['OBJECT_INDEX', 'OBJECT_VIEW', 'OBJECT_MATVIEW'].includes(rename.renameType ?? '') || !rename.relation?.relname) return null;
    return { schema: rename.relation.schemaname ?? null, name: rename.relation.relname };
  } catch {
    return null;
  }
}

/**
 * A single `ALTER TABLE … RENAME TO …` or `ALTER TABLE … SET SCHEMA …` (foreign tables too): the
 * table as written and its new name or schema, or null. Its DDL header names the table only by its
 * new identity, so a partial restore reads the old one here to follow a chosen table.
 */
export function movedTable(statement: string): { table: IndexTarget; newName?: string; newSchema?: string } | null {
  try {
    const stmts = parseSync(statement).stmts ?? [];
    if (stmts.length !== 1) return null;
    type Rel = { schemaname?: string; relname?: string };
    const stmt = stmts[0]?.stmt as
      | {
          RenameStmt?: { renameType?: string; relation?: Rel; newname?: string };
          AlterObjectSchemaStmt?: { objectType?: string; relation?: Rel; newschema?: string };
        }
      | undefined;
    const tableTypes = ['OBJECT_TABLE', 'OBJECT_FOREIGN_TABLE'];
    const rename = stmt?.RenameStmt;
    if (rename && tableTypes.includes(rename.renameType ?? '') && rename.relation?.relname && rename.newname) {
      return { table: { schema: rename.relation.schemaname ?? null, name: rename.relation.relname }, newName: rename.newname };
    }
    const move = stmt?.AlterObjectSchemaStmt;
    if (move && tableTypes.includes(move.objectType ?? '') && move.relation?.relname && move.newschema) {
      return { table: { schema: move.relation.schemaname ?? null, name: move.relation.relname }, newSchema: move.newschema };
    }
    return null;
  } catch {
    return null;
  }
}

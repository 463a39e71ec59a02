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

/**
 * The applier's hook for a partial restore: each transaction's statements go through the
 * selection's body filter (core/restore/table-filter.ts) before they are batched, and what was
 * left out is tallied for the restore report. The filter starts from the indexes, views and
 * materialized views the target holds ({@link targetRelations}: after the partial base, all of
 * kept relations; on a retry, as far as the applied DDL took them).
 */
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { commentText, regclassText } from '../core/sql/quote';
import { filterBody } from '../core/restore/table-filter';
import { SelectionMatcher, setvalLiteral, type QualifiedName, type TableSelection } from '../core/restore/table-selection';

/** DDL headers kept for the report (the count goes on). */
const SKIPPED_DDL_SHOWN = 50;

export interface PartialApplyTally {
  /** Row-change and TRUNCATE lines of tables left out. */
  droppedLines: number;
  /** DDL blocks left out, and the first of their headers. */
  skippedDdl: number;
  skippedDdlShown: string[];
}

export function partialApplyFilter(
  selection: TableSelection,
  sequences: readonly QualifiedName[],
  target: { dependents: readonly string[]; tables: readonly QualifiedName[] } = { dependents: [], tables: [] },
): { filter: (sql: string) => string; tally: PartialApplyTally } {
  const matcher = new SelectionMatcher(selection);
  // Every table the target holds is a kept one (under the name replayed DDL gave it).
  for (const t of target.tables) matcher.addTable(t);
  const options = { matcher, sequences: new Set(sequences.map(setvalLiteral)), dependents: new Set(target.dependents) };
  const tally: PartialApplyTally = { droppedLines: 0, skippedDdl: 0, skippedDdlShown: [] };
  const filter = (sql: string): string => {
    const r = filterBody(sql, options);
    tally.droppedLines += r.droppedLines;
    tally.skippedDdl += r.skippedDdl.length;
    for (const h of r.skippedDdl) if (tally.skippedDdlShown.length < SKIPPED_DDL_SHOWN) tally.skippedDdlShown.push(h.slice(0, 300));
    return r.sql;
  };
  return { filter, tally };
}

/**
 * The target's tables, and its indexes, views and materialized views as DDL headers name them: a
 * partial target holds only kept relations (under the names replayed DDL gave them).
 */
export async function targetRelations(profile: Profile): Promise<{ dependents: string[]; tables: QualifiedName[] }> {
  const client = await connectProfile(profile);
  try {
    const r = await client.query<{ schema: string; name: string; relkind: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('i', 'I', 'v', 'm', 'r', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgincr')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`,
    );
    return {
      dependents: r.rows.filter((x) => 'iIvm'.includes(x.relkind)).map((x) => commentText(regclassText(x.schema, x.name))),
      tables: r.rows.filter((x) => 'rpf'.includes(x.relkind)).map((x) => ({ schema: x.schema, name: x.name })),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

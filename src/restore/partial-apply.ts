/**
 * The applier's hook for a partial restore: each transaction's statements go through the
 * selection's body filter (core/restore/table-filter.ts) before they are batched, and what was
 * left out is tallied for the restore report.
 */
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
): { filter: (sql: string) => string; tally: PartialApplyTally } {
  const options = { matcher: new SelectionMatcher(selection), sequences: new Set(sequences.map(setvalLiteral)) };
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

/**
 * Text rewrites that make a captured DDL statement replayable inside a segment's transaction,
 * at its place in the stream:
 * - `CREATE TABLE … AS` gets `WITH NO DATA`: its rows arrive as INSERTs in the stream;
 * - `SELECT … INTO t …` becomes `CREATE TABLE t AS SELECT … WITH NO DATA` (same table, and the
 *   query is not run again on replay);
 * - `CONCURRENTLY` is dropped from CREATE INDEX, DROP INDEX and DETACH PARTITION, which cannot
 *   run inside a transaction block.
 * Edits are made on token positions from libpg-query's scanner, so comments, quoting and
 * dollar-quoted bodies are never touched.
 */
import type { Node, ScanToken } from 'libpg-query';
import { nodeType } from './statement-kinds';

/**
 * Replace bytes [start, end) of the parser input with `parts`: literal text, or a [start, end)
 * byte range copied from the input.
 */
export interface Edit {
  start: number;
  end: number;
  parts: Array<string | [number, number]>;
}

export type RewriteResult = { kind: 'edits'; edits: Edit[] } | { kind: 'temporary' } | { kind: 'unreplayable'; reason: string };

interface RangeVarLike {
  relpersistence?: string;
  schemaname?: string;
  location?: number;
}

const lower = (t: ScanToken | undefined) => (t && t.keywordName !== 'NO_KEYWORD' ? t.text.toLowerCase() : undefined);

function withNoData(tokens: ScanToken[]): Edit[] {
  const n = tokens.length;
  const last = tokens[n - 1]!;
  if (n >= 2 && lower(tokens[n - 2]) === 'with' && lower(last) === 'data') {
    return [{ start: tokens[n - 2]!.start, end: last.end, parts: ['WITH NO DATA'] }];
  }
  return [{ start: last.end, end: last.end, parts: [' WITH NO DATA'] }];
}

function selectIntoEdits(tokens: ScanToken[], rel: RangeVarLike, stmtStart: number): Edit[] | undefined {
  const nameIdx = tokens.findIndex((t) => t.start === rel.location);
  if (nameIdx < 0) return undefined;
  let intoIdx = nameIdx - 1;
  while (intoIdx >= 0 && lower(tokens[intoIdx]) !== 'into') intoIdx--;
  if (intoIdx < 0) return undefined;
  let endIdx = nameIdx; // qualified names: a . b . c
  while (tokens[endIdx + 1]?.text === '.' && tokens[endIdx + 2]) endIdx += 2;
  const persistence = rel.relpersistence === 'u' ? 'UNLOGGED ' : '';
  const name: [number, number] = [tokens[nameIdx]!.start, tokens[endIdx]!.end];
  return [
    { start: stmtStart, end: stmtStart, parts: [`CREATE ${persistence}TABLE `, name, ' AS '] },
    { start: tokens[intoIdx - 1]?.end ?? tokens[intoIdx]!.start, end: tokens[endIdx]!.end, parts: [] },
    ...withNoData(tokens),
  ];
}

function dropConcurrently(tokens: ScanToken[]): Edit[] {
  const i = tokens.findIndex((t) => lower(t) === 'concurrently');
  if (i < 0) return [];
  const next = tokens[i + 1];
  // remove the keyword and the blank after it (or before it, when it ends the statement)
  return next ? [{ start: tokens[i]!.start, end: next.start, parts: [] }] : [{ start: tokens[i - 1]!.end, end: tokens[i]!.end, parts: [] }];
}

/** TEMP/TEMPORARY, or a name qualified with `pg_temp` (or a session's `pg_temp_N`). */
function isTemporary(rel: unknown): boolean {
  const r = rel as RangeVarLike | undefined;
  return r?.relpersistence === 't' || /^pg_temp(_\d+)?$/.test(r?.schemaname ?? '');
}

/**
 * Works out the rewrite of one statement. `tokens` are the statement's scanner tokens without
 * comments and without the closing semicolon; positions are UTF-8 byte offsets.
 */
export function planRewrite(node: Node, tokens: ScanToken[]): RewriteResult {
  const [type, f] = nodeType(node);
  const into = f.into as { rel?: RangeVarLike; skipData?: boolean } | undefined;
  const intoClause = f.intoClause as { rel?: RangeVarLike } | undefined;
  if (isTemporary(f.relation) || isTemporary(into?.rel) || isTemporary(intoClause?.rel) || isTemporary(f.view) || isTemporary(f.sequence)) {
    return { kind: 'temporary' };
  }
  if (type === 'CreateTableAsStmt' && f.objtype === 'OBJECT_TABLE') {
    if (f.query && nodeType(f.query as Node)[0] === 'ExecuteStmt') {
      return { kind: 'unreplayable', reason: 'create table as execute needs the prepared statement of the source session' };
    }
    return { kind: 'edits', edits: into?.skipData ? [] : withNoData(tokens) };
  }
  if (type === 'SelectStmt' && intoClause?.rel) {
    const edits = selectIntoEdits(tokens, intoClause.rel, tokens[0]!.start);
    return edits ? { kind: 'edits', edits } : { kind: 'unreplayable', reason: 'select into: target table not found in the text' };
  }
  const concurrent =
    ((type === 'IndexStmt' || type === 'DropStmt') && f.concurrent === true) ||
    (type === 'AlterTableStmt' && JSON.stringify(f.cmds ?? []).includes('"concurrent":true'));
  return { kind: 'edits', edits: concurrent ? dropConcurrently(tokens) : [] };
}

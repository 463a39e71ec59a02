/**
 * DDL extraction: from a `pgincr.ddl_history` row (the firing's command tag and
 * `current_query()`), the exact statement to replay.
 *
 * `current_query()` is the whole query string the client sent, which may hold several
 * statements, DML among them. The n-th firing of a command-tag verb (CREATE, ALTER, DROP, …)
 * for a given query text within a transaction is matched to the n-th DDL statement of that verb
 * in the text (see DdlOrdinals). When the text holds no such statement, the DDL ran inside a
 * function, DO block or procedure, and only the outer call is known: `in-function`.
 *
 * Texts are byte strings in, byte strings out; libpg-query reports UTF-8 byte offsets, mapped
 * through SourceText.
 */
import { loadModule, parseSync, scanSync, type ScanToken } from 'libpg-query';
import { planRewrite, type Edit } from './rewrite';
import { SourceText } from './source-text';
import { isEventTriggerDdl, statementVerb, tagVerb } from './statement-kinds';

let loaded: Promise<void> | undefined;
let ready = false;

/** Loads libpg-query's WebAssembly module; await once before extractDdl. */
export function initDdlParser(): Promise<void> {
  loaded ??= loadModule().then(() => {
    ready = true;
  });
  return loaded;
}

export interface DdlInput {
  /** `current_query()` at the firing, as a byte string. */
  query: string;
  /** The event trigger's command tag, e.g. `CREATE TABLE`. */
  commandTag: string;
  /** How many earlier firings of this tag verb with this query text the transaction has seen. */
  ordinal: number;
  /** Server encoding (default UTF8). */
  encoding?: string;
}

export type DdlExtraction =
  /**
   * The statement to replay (byte string, no trailing semicolon). `schemaRename`: it is
   * `ALTER SCHEMA from RENAME TO to` (byte strings), which pgoutput does not follow with new
   * Relation messages for the schema's tables: the capture renames them itself.
   */
  | { kind: 'statement'; text: string; rewritten: boolean; schemaRename?: { from: string; to: string } }
  /** The DDL ran inside a function/DO/procedure: the query holds no matching statement. */
  | { kind: 'in-function'; commandTag: string; query: string }
  /** A temporary object: it does not outlive the source session, so it is not replayed. */
  | { kind: 'temporary'; text: string }
  /** A statement that cannot be replayed as captured. */
  | { kind: 'unreplayable'; reason: string; commandTag: string; query: string };

const COMMENT = new Set(['SQL_COMMENT', 'C_COMMENT']);

function statementTokens(tokens: ScanToken[], start: number, end: number): ScanToken[] {
  return tokens.filter((t) => t.start >= start && t.end <= end && !COMMENT.has(t.tokenName) && t.text !== ';');
}

function applyEdits(src: SourceText, start: number, end: number, edits: Edit[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  const slice = (a: number, b: number) => src.text.slice(src.index(a), src.index(b));
  let out = '';
  let pos = start;
  for (const e of sorted) {
    out += slice(pos, e.start);
    for (const p of e.parts) out += typeof p === 'string' ? p : slice(p[0], p[1]);
    pos = e.end;
  }
  return out + slice(pos, end);
}

/** Finds the statement a ddl_history row stands for; see the module comment. */
export function extractDdl(input: DdlInput): DdlExtraction {
  if (!ready) throw new Error('ddl parser not loaded: await initDdlParser() first');
  const { query, commandTag, ordinal } = input;
  const src = new SourceText(query, input.encoding);
  let stmts;
  let tokens: ScanToken[];
  try {
    stmts = parseSync(src.text).stmts ?? [];
    tokens = scanSync(src.text).tokens;
  } catch (err) {
    const reason = `query does not parse: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'unreplayable', reason, commandTag, query };
  }
  const verb = tagVerb(commandTag);
  const candidates = stmts.flatMap((raw) => {
    if (!raw.stmt || !isEventTriggerDdl(raw.stmt)) return [];
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : src.byteLength;
    const toks = statementTokens(tokens, start, end);
    if (toks.length === 0 || statementVerb(raw.stmt, toks[0]!.text) !== verb) return [];
    return [{ node: raw.stmt, toks }];
  });
  const chosen = candidates[ordinal];
  if (!chosen) return { kind: 'in-function', commandTag, query };
  const start = chosen.toks[0]!.start;
  const end = chosen.toks[chosen.toks.length - 1]!.end;
  const plan = planRewrite(chosen.node, chosen.toks);
  const original = src.toBytes(applyEdits(src, start, end, []));
  if (plan.kind === 'temporary') return { kind: 'temporary', text: original };
  if (plan.kind === 'unreplayable') return { kind: 'unreplayable', reason: plan.reason, commandTag, query };
  const text = src.toBytes(applyEdits(src, start, end, plan.edits));
  const rename = (chosen.node as { RenameStmt?: { renameType?: string; subname?: string; newname?: string } }).RenameStmt;
  const schemaRename = rename?.renameType === 'OBJECT_SCHEMA' && rename.subname !== undefined && rename.newname !== undefined
    ? { from: src.toBytes(rename.subname), to: src.toBytes(rename.newname) }
    : undefined;
  return { kind: 'statement', text, rewritten: plan.edits.length > 0, ...(schemaRename && { schemaRename }) };
}

/**
 * Counts DDL firings per (command-tag verb, query text) within one transaction, to give
 * extractDdl its ordinal. Make one per transaction (or `reset()` at each BEGIN).
 */
export class DdlOrdinals {
  private readonly seen = new Map<string, number>();

  /** The ordinal of this firing (0 for the first), counting it. */
  next(query: string, commandTag: string): number {
    const key = `${tagVerb(commandTag)}\u0000${query}`;
    const n = this.seen.get(key) ?? 0;
    this.seen.set(key, n + 1);
    return n;
  }

  reset(): void {
    this.seen.clear();
  }
}

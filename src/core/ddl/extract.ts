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
 * The text is split as the server split it: with `standard_conforming_strings` as the row
 * recorded it (off: backslashes escape inside plain `'…'`, see string-modes.ts). The recorded
 * value is the one at the firing; the server read the whole query string with the value at its
 * start. They differ only when a statement of the string changed the setting, so when the two
 * readings pick different statements (or the statement's constants read differently), the
 * statements that could have run before it are checked: if one may have changed the setting
 * (SET/RESET of it, DISCARD, a transaction command, anything that runs user code), or the
 * statement itself calls a function or runs a query, which statement ran is not known and the
 * row is `unreplayable`, never guessed.
 *
 * Texts are byte strings in, byte strings out; libpg-query reports UTF-8 byte offsets, mapped
 * through SourceText.
 */
import { loadModule, parseSync, scanSync, type Node, type ScanToken } from 'libpg-query';
import { planRewrite, type Edit } from './rewrite';
import { SourceText } from './source-text';
import { firingMayChangeStringSetting, isEventTriggerDdl, mayChangeStringSetting, statementVerb, tagVerb } from './statement-kinds';
import { dependsOnStringSetting, scannerText } from './string-modes';

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
  /** The session's `standard_conforming_strings` at the firing (default true: on). */
  standardConformingStrings?: boolean;
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

interface Split {
  stmts: Array<{ node: Node; start: number; end: number }>;
  tokens: ScanToken[];
}

interface Chosen {
  node: Node;
  toks: ScanToken[];
  /** Its index among all statements of the split. */
  index: number;
}

/** The statements and tokens of the query as the server reads it with the setting; a reason when it cannot. */
function splitQuery(src: SourceText, standardConformingStrings: boolean): Split | string {
  const text = scannerText(src.text, standardConformingStrings);
  if (text === null) return `query does not lex with standard_conforming_strings ${standardConformingStrings ? 'on' : 'off'}`;
  try {
    const stmts = (parseSync(text).stmts ?? []).flatMap((raw) => {
      if (!raw.stmt) return [];
      const start = raw.stmt_location ?? 0;
      return [{ node: raw.stmt, start, end: raw.stmt_len ? start + raw.stmt_len : src.byteLength }];
    });
    // libpg-query's scanner output (JSON) breaks on raw control characters in token texts; they
    // stand only inside quotes and comments (or are blanks: \f, \v), where a blank lexes alike.
    return { stmts, tokens: scanSync(text.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, ' ')).tokens };
  } catch (err) {
    return `query does not parse: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** The `ordinal`-th DDL statement of the tag's verb, or undefined. */
function pickStatement(split: Split, verb: string, ordinal: number): Chosen | undefined {
  let n = 0;
  for (const [index, s] of split.stmts.entries()) {
    if (!isEventTriggerDdl(s.node)) continue;
    const toks = statementTokens(split.tokens, s.start, s.end);
    if (toks.length === 0 || statementVerb(s.node, toks[0]!.text) !== verb) continue;
    if (n++ === ordinal) return { node: s.node, toks, index };
  }
  return undefined;
}

const range = (c: Chosen) => [c.toks[0]!.start, c.toks[c.toks.length - 1]!.end] as const;

/**
 * Why the statement read with the recorded setting may not be the one that ran (see the module
 * comment), or undefined when it is.
 */
function settingDoubt(src: SourceText, own: Chosen | undefined, scs: boolean, verb: string, ordinal: number): string | undefined {
  const other = splitQuery(src, !scs);
  if (typeof other === 'string') return undefined; // the server cannot have read it the other way
  const alt = pickStatement(other, verb, ordinal);
  const reads = (c: Chosen | undefined, setting: boolean) => {
    if (!c) return false;
    const [a, b] = range(c);
    return dependsOnStringSetting(src.text, setting, src.index(a), src.index(b));
  };
  const sameRange = own && alt ? range(own).join() === range(alt).join() : own === alt;
  if (sameRange && !reads(own, scs) && !reads(alt, !scs)) return undefined;
  // Read the other way, the firing statement is `alt` (or, run inside a function, any of them).
  const before = other.stmts.slice(0, alt ? alt.index : undefined);
  if (!before.some((s) => mayChangeStringSetting(s.node)) && !(alt && firingMayChangeStringSetting(alt.node))) return undefined;
  const setting = (on: boolean) => `standard_conforming_strings ${on ? 'on' : 'off'}`;
  return (
    `the query reads as other statements with ${setting(scs)} (recorded at the firing) and ${setting(!scs)}, ` +
    'and a statement before it (or the statement itself, calling a function) may have changed the setting: which one ran is not known'
  );
}

/** Finds the statement a ddl_history row stands for; see the module comment. */
export function extractDdl(input: DdlInput): DdlExtraction {
  if (!ready) throw new Error('ddl parser not loaded: await initDdlParser() first');
  const { query, commandTag, ordinal } = input;
  const scs = input.standardConformingStrings ?? true;
  const src = new SourceText(query, input.encoding);
  const verb = tagVerb(commandTag);
  const own = splitQuery(src, scs);
  if (typeof own === 'string') return { kind: 'unreplayable', reason: own, commandTag, query };
  const chosen = pickStatement(own, verb, ordinal);
  // Without a backslash both settings read the text alike.
  const doubt = src.text.includes('\\') ? settingDoubt(src, chosen, scs, verb, ordinal) : undefined;
  if (doubt) return { kind: 'unreplayable', reason: doubt, commandTag, query };
  if (!chosen) return { kind: 'in-function', commandTag, query };
  const start = chosen.toks[0]!.start;
  const end = chosen.toks[chosen.toks.length - 1]!.end;
  const plan = planRewrite(chosen.node, chosen.toks);
  const original = src.toBytes(applyEdits(src, start, end, []));
  if (plan.kind === 'temporary') return { kind: 'temporary', text: original };
  if (plan.kind === 'unreplayable') return { kind: 'unreplayable', reason: plan.reason, commandTag, query };
  const text = src.toBytes(applyEdits(src, start, end, plan.edits));
  const rename = (chosen.node as { RenameStmt?: { renameType?: string; subname?: string; newname?: string } }).RenameStmt;
  const schemaRename =
    rename?.renameType === 'OBJECT_SCHEMA' && rename.subname !== undefined && rename.newname !== undefined
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

/**
 * A partial restore's names checked against what the restore will have, before anything is
 * created: the base's tables and schemas, and the tables and schemas that DDL in the planned
 * segments creates or renames (a table created after the base is a valid choice). An unknown
 * name is named with the closest known ones (a case slip, a missing schema, a typo), so a DBA at
 * 3 a.m. sees `public.order_item` → `did you mean public.order_items?` instead of a restore that
 * loads a whole base and then fails. Pure.
 */
import { commentText, regclassText } from '../sql/quote';
import { displayName, type QualifiedName, type TableSelection } from './table-selection';

export interface KnownRelations {
  /** Tables of the base (unquoted names): relkind r, p and f. */
  baseTables: readonly QualifiedName[];
  /** Schemas of the base (unquoted). */
  baseSchemas: readonly string[];
  /** `schema.name` as DDL headers in the planned segments write tables they create or rename (commentText form). */
  laterTables: ReadonlySet<string>;
  /** Schema names as DDL headers write the schemas they create (commentText form). */
  laterSchemas: ReadonlySet<string>;
}

export interface UnknownName {
  /** What was asked for, as a person reads it: `public.order_item`, `schema "Sales"`. */
  name: string;
  /** The closest known names (at most 3), best first. */
  suggestions: string[];
}

const key = (q: QualifiedName): string => `${q.schema}\u0000${q.name}`;

/** Edit distance (Levenshtein), bounded: stops counting past `max`. */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      best = Math.min(best, v);
    }
    if (best > max) return max + 1;
    prev = cur;
  }
  return prev[b.length] as number;
}

/**
 * Known names closest to `wanted` (display forms): the same name in another case or another
 * schema first, then by edit distance on the lower-cased display form (at most a quarter of its
 * length, at least 2).
 */
export function closestNames(
  wanted: { schema: string; name: string; display: string },
  known: readonly { schema: string; name: string; display: string }[],
): string[] {
  const lower = wanted.display.toLowerCase();
  const max = Math.max(2, Math.floor(lower.length / 4));
  const scored: { display: string; score: number }[] = [];
  for (const k of known) {
    let score: number;
    if (k.schema.toLowerCase() === wanted.schema.toLowerCase() && k.name.toLowerCase() === wanted.name.toLowerCase()) score = 0;
    else if (k.name === wanted.name || k.name.toLowerCase() === wanted.name.toLowerCase()) score = 1;
    else {
      const d = Math.min(distance(lower, k.display.toLowerCase(), max), distance(wanted.name.toLowerCase(), k.name.toLowerCase(), max));
      if (d > max) continue;
      score = 1 + d;
    }
    scored.push({ display: k.display, score });
  }
  scored.sort((a, b) => a.score - b.score || a.display.localeCompare(b.display));
  return [...new Set(scored.map((s) => s.display))].slice(0, 3);
}

/** The `schema.name` parts of a DDL-form name, unquoted as far as the form allows (for suggestions only). */
function ddlParts(written: string): { schema: string; name: string } {
  const m = /^((?:"(?:[^"]|"")*")|[^."]+)\.(.*)$/.exec(written);
  const unquote = (s: string) => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s);
  return m ? { schema: unquote(m[1] as string), name: unquote(m[2] as string) } : { schema: '', name: unquote(written) };
}

/** The chosen tables and schemas that neither the base nor the planned segments have, with suggestions. */
export function unknownSelection(selection: TableSelection, known: KnownRelations): UnknownName[] {
  const baseTables = new Set(known.baseTables.map(key));
  const baseSchemas = new Set(known.baseSchemas);
  const tableCandidates = [
    ...known.baseTables.map((t) => ({ ...t, display: displayName(t) })),
    ...[...known.laterTables].map((w) => ({ ...ddlParts(w), display: w })),
  ];
  const out: UnknownName[] = [];
  for (const t of selection.tables) {
    if (baseTables.has(key(t)) || known.laterTables.has(commentText(regclassText(t.schema, t.name)))) continue;
    const display = displayName(t);
    out.push({ name: commentText(display), suggestions: [...new Set(closestNames({ ...t, display }, tableCandidates).map(commentText))] });
  }
  const schemaCandidates = [
    ...known.baseSchemas.map((s) => ({ schema: s, name: s, display: regclassText('', s) })),
    ...[...known.laterSchemas].map((w) => {
      const name = ddlParts(`x.${w}`).name;
      return { schema: name, name, display: w };
    }),
  ];
  for (const s of selection.schemas) {
    if (baseSchemas.has(s) || known.laterSchemas.has(commentText(regclassText('', s)))) continue;
    const display = regclassText('', s);
    out.push({
      name: `schema ${commentText(display)}`,
      suggestions: closestNames({ schema: s, name: s, display }, schemaCandidates).map((n) => `schema ${commentText(n)}`),
    });
  }
  return out;
}

/** One line per unknown name: `public.order_item (did you mean public.order_items?)`. */
export function describeUnknown(unknown: readonly UnknownName[]): string {
  return unknown.map((u) => (u.suggestions.length ? `${u.name} (did you mean ${u.suggestions.join(' or ')}?)` : `${u.name} (nothing close)`)).join(', ');
}

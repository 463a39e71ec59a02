/**
 * Which tables a partial restore keeps (`pgincr restore --tables a,b --schemas s`): the user's
 * names parsed once (`schema.table`, quoted parts kept, bare parts folded as PostgreSQL folds),
 * then compared exactly in the two forms a segment writes a table in:
 * - row changes and TRUNCATE: `quoteIdent(schema).quoteIdent(table)` (`U&"…"` for a name with a
 *   control character; src/core/sql/quote.ts);
 * - a `-- ddl:` header's object identities: PostgreSQL's own quoting (`"…"`, never `U&`), with
 *   CR/LF shown as `\r`/`\n` (commentText), the first two parts of each identity.
 * Nothing is matched by prefix or pattern, so a name holding quotes, dots or newlines selects
 * itself and nothing else.
 */
import { commentText, quoteIdent, quoteLiteral, regclassText } from '../sql/quote';
import { splitUserName } from '../sql/user-name';

export interface QualifiedName {
  schema: string;
  name: string;
}

export interface TableSelection {
  /** The chosen tables, unquoted. */
  tables: QualifiedName[];
  /** Every table of these schemas (unquoted names), those created later included. */
  schemas: string[];
}

/** Splits a comma list, commas inside double quotes kept (`public."a,b",public.c`). */
export function splitNameList(input: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of input) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/** `public.orders`, `orders` (schema public), `"My Table"`, `sales."Q1"`; throws naming the input. */
export function parseTableName(input: string): QualifiedName {
  const parts = splitUserName(input.trim());
  if (!parts || parts.length < 1 || parts.length > 2) {
    throw new Error(`--tables: ${JSON.stringify(input)} is not a table name; write schema.table (public.orders) or a quoted name (public."My Table")`);
  }
  return parts.length === 2 ? { schema: parts[0] as string, name: parts[1] as string } : { schema: 'public', name: parts[0] as string };
}

/** `sales`, `"Sales 2026"`; throws naming the input. */
export function parseSchemaName(input: string): string {
  const parts = splitUserName(input.trim());
  if (!parts || parts.length !== 1) throw new Error(`--schemas: ${JSON.stringify(input)} is not a schema name; write sales or "Sales 2026"`);
  return parts[0] as string;
}

/** The selection of `--tables` / `--schemas` lists (each entry one name; see {@link splitNameList}). */
export function parseSelection(tables: readonly string[], schemas: readonly string[]): TableSelection {
  const seen = new Set<string>();
  const out: TableSelection = { tables: [], schemas: [] };
  for (const t of tables) {
    const q = parseTableName(t);
    const key = `${q.schema}\u0000${q.name}`;
    if (!seen.has(key)) out.tables.push(q);
    seen.add(key);
  }
  out.schemas = [...new Set(schemas.map(parseSchemaName))];
  if (out.tables.length === 0 && out.schemas.length === 0) throw new Error('a partial restore needs at least one table (--tables) or schema (--schemas)');
  return out;
}

/** A table as the user reads it: `public.orders`, `public."My Table"` (regclass text form). */
export function displayName(q: QualifiedName): string {
  return regclassText(q.schema, q.name);
}

/** The selection's matchers over the names as segments write them. */
export class SelectionMatcher {
  private readonly rowTables: Set<string>;
  private readonly rowSchemas: string[];
  private readonly ddlTables: Set<string>;
  private readonly ddlSchemas: string[];
  private readonly tables: Set<string>;
  private readonly schemas: Set<string>;

  constructor(selection: TableSelection) {
    this.tables = new Set(selection.tables.map((t) => `${t.schema}\u0000${t.name}`));
    this.schemas = new Set(selection.schemas);
    this.rowTables = new Set(selection.tables.map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`));
    this.rowSchemas = selection.schemas.map((s) => `${quoteIdent(s)}.`);
    this.ddlTables = new Set(selection.tables.map((t) => commentText(regclassText(t.schema, t.name))));
    this.ddlSchemas = selection.schemas.map((s) => `${commentText(regclassText('', s))}.`);
  }

  /** A table as row changes write it (`public.orders`, `public.U&"a\000Ab"`). */
  rowTable(written: string): boolean {
    return this.rowTables.has(written) || this.rowSchemas.some((p) => written.startsWith(p) && written.length > p.length);
  }

  /** A table by its unquoted schema and name (chosen, or in a chosen schema). */
  table(schema: string, name: string): boolean {
    return this.tables.has(`${schema}\u0000${name}`) || this.schemas.has(schema);
  }

  /** A `schema.name` of a DDL header's object identities. */
  ddlObject(written: string): boolean {
    return this.ddlTables.has(written) || this.ddlSchemas.some((p) => written.startsWith(p) && written.length > p.length);
  }

  /** One more kept table: a chosen one under its new name (renamed or moved by replayed DDL), or one the target holds. */
  addTable(t: QualifiedName): void {
    this.tables.add(`${t.schema}\u0000${t.name}`);
    this.rowTables.add(`${quoteIdent(t.schema)}.${quoteIdent(t.name)}`);
    this.ddlTables.add(commentText(regclassText(t.schema, t.name)));
  }
}

/** The literal a `setval` line names its sequence by (capture-tables.ts renderSequencePositions). */
export function setvalLiteral(q: QualifiedName): string {
  return quoteLiteral(regclassText(q.schema, q.name));
}

/** The key of a table in checksums.json (`"schema"."table"`, adapters/pg/checksums.ts). */
export function checksumKey(q: QualifiedName): string {
  return `"${q.schema.replace(/"/g, '""')}"."${q.name.replace(/"/g, '""')}"`;
}

/** The selection as a person reads it: each table, then `schema <name>` for each schema. */
export function selectionNames(selection: TableSelection): string[] {
  return [...selection.tables.map(displayName), ...selection.schemas.map((s) => `schema ${regclassText('', s)}`)];
}

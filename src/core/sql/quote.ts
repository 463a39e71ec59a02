/**
 * Quoting of identifiers and literals for the SQL that pgincr writes. Inputs and outputs are
 * byte strings (docs/architecture.md): quoting only touches ASCII characters (`"`, `'`, `\`
 * and control characters), so every server encoding passes through byte for byte.
 */

/**
 * Keywords that are not UNRESERVED (PostgreSQL 15's `pg_get_keywords()` with catcode <> 'U',
 * plus those added up to PostgreSQL 18): as identifiers they must be quoted.
 */
const NON_UNRESERVED_KEYWORDS = new Set([
  'all',
  'analyse',
  'analyze',
  'and',
  'any',
  'array',
  'as',
  'asc',
  'asymmetric',
  'authorization',
  'between',
  'bigint',
  'binary',
  'bit',
  'boolean',
  'both',
  'case',
  'cast',
  'char',
  'character',
  'check',
  'coalesce',
  'collate',
  'collation',
  'column',
  'concurrently',
  'constraint',
  'create',
  'cross',
  'current_catalog',
  'current_date',
  'current_role',
  'current_schema',
  'current_time',
  'current_timestamp',
  'current_user',
  'dec',
  'decimal',
  'default',
  'deferrable',
  'desc',
  'distinct',
  'do',
  'else',
  'end',
  'except',
  'exists',
  'extract',
  'false',
  'fetch',
  'float',
  'for',
  'foreign',
  'freeze',
  'from',
  'full',
  'grant',
  'greatest',
  'group',
  'grouping',
  'having',
  'ilike',
  'in',
  'initially',
  'inner',
  'inout',
  'int',
  'integer',
  'intersect',
  'interval',
  'into',
  'is',
  'isnull',
  'join',
  'lateral',
  'leading',
  'least',
  'left',
  'like',
  'limit',
  'localtime',
  'localtimestamp',
  'national',
  'natural',
  'nchar',
  'none',
  'normalize',
  'not',
  'notnull',
  'null',
  'nullif',
  'numeric',
  'offset',
  'on',
  'only',
  'or',
  'order',
  'out',
  'outer',
  'overlaps',
  'overlay',
  'placing',
  'position',
  'precision',
  'primary',
  'real',
  'references',
  'returning',
  'right',
  'row',
  'select',
  'session_user',
  'setof',
  'similar',
  'smallint',
  'some',
  'substring',
  'symmetric',
  'table',
  'tablesample',
  'then',
  'time',
  'timestamp',
  'to',
  'trailing',
  'treat',
  'trim',
  'true',
  'union',
  'unique',
  'user',
  'using',
  'values',
  'varchar',
  'variadic',
  'verbose',
  'when',
  'where',
  'window',
  'with',
  'xmlattributes',
  'xmlconcat',
  'xmlelement',
  'xmlexists',
  'xmlforest',
  'xmlnamespaces',
  'xmlparse',
  'xmlpi',
  'xmlroot',
  'xmlserialize',
  'xmltable',
  // PostgreSQL 16-18
  'system_user',
  'json',
  'json_array',
  'json_arrayagg',
  'json_exists',
  'json_object',
  'json_objectagg',
  'json_query',
  'json_scalar',
  'json_serialize',
  'json_table',
  'json_value',
  'merge_action',
]);

const PLAIN_IDENT = /^[a-z_][a-z0-9_]*$/;

/** ASCII control characters (CR, LF, TAB, … and DEL): never written raw inside an identifier. */
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Quotes an identifier as PostgreSQL's `quote_ident` does: left bare only when it is a plain
 * lower-case identifier and not a reserved (or column-name/type-function) keyword; otherwise
 * wrapped in double quotes with inner `"` doubled. Non-ASCII bytes are always quoted, and stay
 * raw bytes.
 *
 * A name holding an ASCII control character (CR, LF, any byte below 0x20, or 0x7f) is written
 * as a Unicode-escape identifier instead, `U&"x\000Ay"`: each control character as `\` and
 * four upper-case hex digits, `\` doubled, `"` doubled, every other byte raw. So no line break
 * of a name ever reaches a segment line (segment markers are whole lines). Escapes below 0x80
 * are accepted in every server encoding, and the default escape character `\` needs no UESCAPE.
 */
export function quoteIdent(name: string): string {
  if (PLAIN_IDENT.test(name) && !NON_UNRESERVED_KEYWORDS.has(name)) return name;
  if (!CONTROL.test(name)) return `"${name.replace(/"/g, '""')}"`;
  const escaped = name.replace(/["\\\x00-\x1f\x7f]/g, (c) =>
    c === '"' ? '""' : c === '\\' ? '\\\\' : `\\${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`,
  );
  return `U&"${escaped}"`;
}

/** `schema.table`, each part quoted as needed. An empty schema (pg_catalog in pgoutput) is left out. */
export function qualifiedName(schema: string, table: string): string {
  return schema === '' ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * `schema.name` as the text input of `regclass` reads it (`'public.t'::regclass`): each part
 * bare when {@link quoteIdent} leaves it bare, else in double quotes with `"` doubled and every other byte raw (that input
 * knows no `U&"…"` form). Put it in a literal with {@link quoteLiteral}, which writes CR and LF
 * as escapes.
 */
export function regclassText(schema: string, name: string): string {
  const part = (s: string) => (PLAIN_IDENT.test(s) && !NON_UNRESERVED_KEYWORDS.has(s) ? s : `"${s.replace(/"/g, '""')}"`);
  return schema === '' ? part(name) : `${part(schema)}.${part(name)}`;
}

/**
 * Quotes a value as a string literal for `standard_conforming_strings = on`: `'…'` with `'`
 * doubled. A value holding CR or LF is written as `E'…'` with `\` → `\\`, LF → `\n`, CR → `\r`,
 * so no raw line break ever appears inside a literal (segment markers are whole lines).
 */
export function quoteLiteral(value: string): string {
  // Runs once per captured value: the common case (no quote, no line break) is a plain wrap.
  if (value.indexOf('\n') < 0 && value.indexOf('\r') < 0) {
    return value.indexOf("'") < 0 ? `'${value}'` : `'${value.replace(/'/g, "''")}'`;
  }
  const escaped = value.replace(/[\\'\r\n]/g, (c) => (c === '\\' ? '\\\\' : c === "'" ? "''" : c === '\n' ? '\\n' : '\\r'));
  return `E'${escaped}'`;
}

/** Makes text safe for a one-line `--` comment: CR and LF shown as `\r` and `\n`. */
export function commentText(text: string): string {
  return text.replace(/[\r\n]/g, (c) => (c === '\n' ? '\\n' : '\\r'));
}

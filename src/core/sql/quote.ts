/**
 * Quoting of identifiers and literals for the SQL that pgincr writes. Inputs and outputs are
 * byte strings (docs/architecture.md): quoting only touches the ASCII characters `"`, `'`, `\`,
 * CR and LF, so every server encoding passes through byte for byte.
 */

/**
 * Keywords that are not UNRESERVED (PostgreSQL 15's `pg_get_keywords()` with catcode <> 'U',
 * plus those added up to PostgreSQL 18): as identifiers they must be quoted.
 */
const NON_UNRESERVED_KEYWORDS = new Set([
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'authorization', 'between', 'bigint',
  'binary', 'bit', 'boolean', 'both', 'case', 'cast', 'char', 'character', 'check', 'coalesce', 'collate', 'collation',
  'column', 'concurrently', 'constraint', 'create', 'cross', 'current_catalog', 'current_date', 'current_role',
  'current_schema', 'current_time', 'current_timestamp', 'current_user', 'dec', 'decimal', 'default', 'deferrable',
  'desc', 'distinct', 'do', 'else', 'end', 'except', 'exists', 'extract', 'false', 'fetch', 'float', 'for', 'foreign',
  'freeze', 'from', 'full', 'grant', 'greatest', 'group', 'grouping', 'having', 'ilike', 'in', 'initially', 'inner',
  'inout', 'int', 'integer', 'intersect', 'interval', 'into', 'is', 'isnull', 'join', 'lateral', 'leading', 'least',
  'left', 'like', 'limit', 'localtime', 'localtimestamp', 'national', 'natural', 'nchar', 'none', 'normalize', 'not',
  'notnull', 'null', 'nullif', 'numeric', 'offset', 'on', 'only', 'or', 'order', 'out', 'outer', 'overlaps', 'overlay',
  'placing', 'position', 'precision', 'primary', 'real', 'references', 'returning', 'right', 'row', 'select',
  'session_user', 'setof', 'similar', 'smallint', 'some', 'substring', 'symmetric', 'table', 'tablesample', 'then',
  'time', 'timestamp', 'to', 'trailing', 'treat', 'trim', 'true', 'union', 'unique', 'user', 'using', 'values',
  'varchar', 'variadic', 'verbose', 'when', 'where', 'window', 'with', 'xmlattributes', 'xmlconcat', 'xmlelement',
  'xmlexists', 'xmlforest', 'xmlnamespaces', 'xmlparse', 'xmlpi', 'xmlroot', 'xmlserialize', 'xmltable',
  // PostgreSQL 16-18
  'system_user', 'json', 'json_array', 'json_arrayagg', 'json_exists', 'json_object', 'json_objectagg', 'json_query',
  'json_scalar', 'json_serialize', 'json_table', 'json_value', 'merge_action',
]);

const PLAIN_IDENT = /^[a-z_][a-z0-9_]*$/;

/**
 * Quotes an identifier as PostgreSQL's `quote_ident` does: left bare only when it is a plain
 * lower-case identifier and not a reserved (or column-name/type-function) keyword; otherwise
 * wrapped in double quotes with inner `"` doubled. Non-ASCII bytes are always quoted.
 */
export function quoteIdent(name: string): string {
  if (PLAIN_IDENT.test(name) && !NON_UNRESERVED_KEYWORDS.has(name)) return name;
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table`, each part quoted as needed. An empty schema (pg_catalog in pgoutput) is left out. */
export function qualifiedName(schema: string, table: string): string {
  return schema === '' ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}`;
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

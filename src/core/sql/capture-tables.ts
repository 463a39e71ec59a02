/**
 * Rows of pgincr's own capture tables become what they mean (docs/architecture.md, "Capture
 * schema"):
 * - an INSERT into `pgincr.ddl_history` → the DDL statement itself, with the session's
 *   search_path (and, from schema version 4, its literal-shaping settings) set around it;
 * - an INSERT into `pgincr.sequence_positions` → `SELECT pg_catalog.setval(…)` lines;
 * - an INSERT into `pgincr.markers` → one comment line, `-- pgincr marker: <kind> <note> at
 *   <lsn>`: the transaction is written (a sentinel after a full backup or checkpoint LSN, so
 *   a sealed segment covers that LSN) and replays as nothing;
 * - any other change to a `pgincr.*` table → nothing.
 */
import { UnreplayableDdlError } from '../../errors';
import { extractDdl, type DdlOrdinals } from '../ddl/extract';
import type { Tuple } from '../decoding/model';
import { containsMarker } from '../segment/grammar';
import { commentText, qualifiedName, quoteLiteral, regclassText } from './quote';
import type { RelationInfo } from './render';
import { RenderError } from './render-error';
import { RESET_ROLE_LINE, setRoleLine } from './role-switch';
import { parseTextArray } from './text-array';

/** The schema of pgincr's capture tables in the source database. */
export const CAPTURE_SCHEMA = 'pgincr';

/** True for tables whose changes are rendered by this module instead of as rows. */
export function isCaptureTable(rel: Pick<RelationInfo, 'schema'>): boolean {
  return rel.schema === CAPTURE_SCHEMA;
}

export interface CaptureContext {
  /** Firing counter of the current transaction. */
  ordinals: DdlOrdinals;
  /** `capture.ddlInFunction`: throw, or write a comment instead of the DDL. */
  ddlInFunction: 'fail' | 'warn';
  /** Server encoding (default UTF8). */
  encoding?: string;
  /** Told about what a replay cannot reproduce (the SQL gets a warning comment too), e.g. to log it. */
  onWarning?: (message: string) => void;
  /** Told about `ALTER SCHEMA from RENAME TO to` (byte strings) as it is rendered, in stream order. */
  onSchemaRenamed?: (from: string, to: string) => void;
}

/**
 * Session settings a ddl_history row records (schema version 4: column, GUC) and the value the
 * replay returns to after the DDL: the segment header's, or PostgreSQL's default for those the
 * header does not set.
 */
export const DDL_SESSION_SETTINGS: ReadonlyArray<{ column: string; name: string; reset: string }> = [
  { column: 'timezone', name: 'TimeZone', reset: 'UTC' },
  { column: 'datestyle', name: 'DateStyle', reset: 'ISO, YMD' },
  { column: 'intervalstyle', name: 'IntervalStyle', reset: 'postgres' },
  { column: 'extra_float_digits', name: 'extra_float_digits', reset: '3' },
  { column: 'bytea_output', name: 'bytea_output', reset: 'hex' },
  { column: 'standard_conforming_strings', name: 'standard_conforming_strings', reset: 'on' },
  { column: 'check_function_bodies', name: 'check_function_bodies', reset: 'on' },
  { column: 'transform_null_equals', name: 'transform_null_equals', reset: 'off' },
  { column: 'array_nulls', name: 'array_nulls', reset: 'on' },
];

/** Any extra_float_digits above 0 selects the same (shortest exact) float output since PostgreSQL 12. */
function sameSetting(name: string, a: string, b: string): boolean {
  if (name === 'extra_float_digits') return (Number(a) > 0 ? '1' : a) === (Number(b) > 0 ? '1' : b);
  return a === b;
}

function column(rel: RelationInfo, tuple: Tuple, name: string): string | null {
  const i = rel.columns.findIndex((c) => c.name === name);
  const v = i < 0 ? undefined : tuple[i];
  if (!v) throw new RenderError(`${qualifiedName(rel.schema, rel.table)} row has no column ${name}`);
  if (v.kind === 'unchanged') throw new RenderError(`${qualifiedName(rel.schema, rel.table)} row has an unchanged toast value in ${name}`);
  return v.kind === 'null' ? null : v.value;
}

/** One `pgincr.ddl_history` row, byte strings as stored. */
export interface DdlHistoryRow {
  occurredAt: string;
  roleName: string;
  searchPath: string;
  commandTag: string;
  objectIdentities: string[];
  query: string;
  /**
   * `start` (ddl_command_start, CREATE TABLE AS / SELECT INTO only) or `end`; undefined for rows
   * of schema version 1, which has no such column (every row was written at ddl_command_end).
   */
  phase?: 'start' | 'end';
  /** The trigger's count of this firing within its client statement (schema version 2); null: count here. */
  statementOrdinal?: number | null;
  /** The DDL session's settings ({@link DDL_SESSION_SETTINGS}; schema version 4), by GUC name. */
  settings?: Array<{ name: string; value: string }>;
  /** Tables the statement rewrote filling columns from volatile defaults, `schema.table (col, …)` (schema version 4). */
  volatileRewrites?: string[];
}

/** Tags recorded at ddl_command_start (schema version 2): their rows arrive before the `end` row. */
const START_PHASE_TAGS = new Set(['CREATE TABLE AS', 'SELECT INTO']);

const hasColumn = (rel: RelationInfo, name: string) => rel.columns.some((c) => c.name === name);

export function readDdlHistoryRow(rel: RelationInfo, tuple: Tuple): DdlHistoryRow {
  const ids = column(rel, tuple, 'object_identities');
  const row: DdlHistoryRow = {
    occurredAt: column(rel, tuple, 'occurred_at') ?? '',
    roleName: column(rel, tuple, 'role_name') ?? '',
    searchPath: column(rel, tuple, 'search_path') ?? '',
    commandTag: column(rel, tuple, 'command_tag') ?? '',
    objectIdentities: ids === null ? [] : parseTextArray(ids).filter((s): s is string => s !== null),
    query: column(rel, tuple, 'query') ?? '',
  };
  if (hasColumn(rel, 'phase')) {
    const phase = column(rel, tuple, 'phase');
    if (phase !== 'start' && phase !== 'end') throw new RenderError(`${qualifiedName(rel.schema, rel.table)} row has phase ${String(phase)}`);
    row.phase = phase;
  }
  if (hasColumn(rel, 'statement_ordinal')) {
    const n = column(rel, tuple, 'statement_ordinal');
    row.statementOrdinal = n === null ? null : Number(n);
  }
  const settings = DDL_SESSION_SETTINGS.filter((s) => hasColumn(rel, s.column)).flatMap((s) => {
    const value = column(rel, tuple, s.column);
    return value === null ? [] : [{ name: s.name, value }];
  });
  if (settings.length > 0) row.settings = settings;
  if (hasColumn(rel, 'volatile_rewrites')) {
    const rewrites = column(rel, tuple, 'volatile_rewrites');
    if (rewrites !== null) row.volatileRewrites = parseTextArray(rewrites).filter((s): s is string => s !== null);
  }
  return row;
}

/**
 * A statement whose text holds a line that would read as a transaction marker (a function body
 * with `BEGIN; -- xid …` on a line of its own): run it through EXECUTE of an `E'…'` literal, so
 * the segment gets one line with escaped line breaks. The dollar tag avoids any in the text.
 */
export function executeInDoBlock(statement: string): string {
  let tag = '$pgincr$';
  for (let i = 1; statement.includes(tag); i++) tag = `$pgincr${i}$`;
  const escaped = statement.replace(/[\\'\r\n]/g, (c) => (c === '\\' ? '\\\\' : c === "'" ? "''" : c === '\n' ? '\\n' : '\\r'));
  return `DO ${tag} BEGIN EXECUTE E'${escaped}'; END ${tag}`;
}

const isTempIdentity = (id: string) => /^pg_temp(_\d+)?\./.test(id);

/**
 * The `set_config` line before the DDL and the one after (back to {@link DDL_SESSION_SETTINGS}'
 * reset values), for the recorded settings that differ from those: the segment runs with the
 * reset values everywhere else. Empty strings when nothing differs.
 */
export function settingsAround(settings: ReadonlyArray<{ name: string; value: string }>): { before: string; after: string } {
  const differ = settings.flatMap((s) => {
    const known = DDL_SESSION_SETTINGS.find((d) => d.name === s.name);
    return known && !sameSetting(s.name, s.value, known.reset) ? [{ ...s, reset: known.reset }] : [];
  });
  if (differ.length === 0) return { before: '', after: '' };
  const line = (pick: (s: (typeof differ)[number]) => string) =>
    `SELECT ${differ.map((s) => `pg_catalog.set_config(${quoteLiteral(s.name)}, ${quoteLiteral(pick(s))}, true)`).join(', ')};\n`;
  return { before: line((s) => s.value), after: line((s) => s.reset) };
}

/** The warning comment for a row's volatile rewrites ('' for none), reported through `ctx.onWarning`. */
function rewriteWarning(row: DdlHistoryRow, ctx: CaptureContext): string {
  if (!row.volatileRewrites?.length) return '';
  const what = `${row.commandTag} at ${row.occurredAt} filled ${row.volatileRewrites.join(', ')} from a volatile default or an identity`;
  ctx.onWarning?.(`${what}: a restore computes other values there; take a full backup (pgincr backup full)`);
  return (
    `-- WARNING pgincr: ${commentText(what)}; a rewrite is not in the stream, so replay computes OTHER values:\n` +
    '-- WARNING pgincr: these columns differ from the source until the next full backup (pgincr backup full)\n'
  );
}

/**
 * The SQL for one ddl_history row:
 * ```
 * -- ddl: CREATE TABLE public.t role alice at 2026-11-27 14:00:00.123456+00
 * SET ROLE "alice";
 * SELECT pg_catalog.set_config('search_path', '"$user", public', true);
 * CREATE TABLE t (id int);
 * SELECT pg_catalog.set_config('search_path', '', true);
 * RESET ROLE;
 * ```
 * The statement runs as the role that ran it (`role_name`, see `role-switch.ts`).
 * From schema version 4 the DDL session's settings that differ from the segment's are set the
 * same way ({@link settingsAround}); with `standard_conforming_strings` off the statement goes
 * through {@link executeInDoBlock}, so it is read with that setting in effect (a query string is
 * parsed as a whole before any of it runs). A row naming volatile rewrites gets a warning comment.
 * DDL on temporary objects is written as a comment only. DDL run inside a function is an
 * UnreplayableDdlError (`fail`) or a comment naming the outer query (`warn`). CREATE TABLE AS
 * and SELECT INTO are written at their `start` row (rewritten WITH NO DATA: their rows follow in
 * the stream) and their `end` row gives '' — unless the row has no phase (schema version 1),
 * when the `end` row is all there is. A statement holding a marker-like line is written through
 * {@link executeInDoBlock}.
 */
export function renderDdlHistoryRow(row: DdlHistoryRow, ctx: CaptureContext): string {
  // Schema v2 renders CREATE TABLE AS / SELECT INTO at their `start` row, before their rows.
  if (row.phase === 'end' && START_PHASE_TAGS.has(row.commandTag)) return '';
  const header =
    `-- ddl: ${commentText(row.commandTag)}${row.objectIdentities.length ? ` ${commentText(row.objectIdentities.join(', '))}` : ''} role ${commentText(row.roleName)} at ${commentText(row.occurredAt)}\n` +
    rewriteWarning(row, ctx);
  // count every firing, even skipped ones (schema v2: the trigger counted, including unrecorded ones)
  const ordinal = row.statementOrdinal ?? ctx.ordinals.next(row.query, row.commandTag);
  if (row.objectIdentities.length > 0 && row.objectIdentities.every(isTempIdentity)) {
    return `${header}-- not replayed: temporary object\n`;
  }
  // Split as the server read it: backslashes escape in plain '…' when the setting is off.
  const plainStrings = row.settings?.find((s) => s.name === 'standard_conforming_strings')?.value !== 'off';
  const found = extractDdl({ query: row.query, commandTag: row.commandTag, ordinal, encoding: ctx.encoding, standardConformingStrings: plainStrings });
  switch (found.kind) {
    case 'statement': {
      if (found.schemaRename) ctx.onSchemaRenamed?.(found.schemaRename.from, found.schemaRename.to);
      const around = settingsAround(row.settings ?? []);
      // As the role that ran it (role-switch.ts); a row without a role (none is written so) runs as the restoring role.
      const asRole = row.roleName !== '';
      return (
        header +
        (asRole ? `${setRoleLine(row.roleName)}\n` : '') +
        `SELECT pg_catalog.set_config('search_path', ${quoteLiteral(row.searchPath)}, true);\n` +
        around.before +
        `${containsMarker(found.text) || !plainStrings ? executeInDoBlock(found.text) : found.text};\n` +
        around.after +
        `SELECT pg_catalog.set_config('search_path', '', true);\n` +
        (asRole ? `${RESET_ROLE_LINE}\n` : '')
      );
    }
    case 'temporary':
      return `${header}-- not replayed: temporary object\n`;
    case 'in-function':
    case 'unreplayable': {
      const why = found.kind === 'in-function' ? 'ran inside a function, DO block or procedure' : found.reason;
      if (ctx.ddlInFunction === 'fail') {
        throw new UnreplayableDdlError(
          `ddl ${row.commandTag} (${row.objectIdentities.join(', ')}) at ${row.occurredAt} cannot be replayed: ${why}; query: ${commentText(row.query).slice(0, 500)}`,
          { hint: 'run the DDL as a top-level statement, or set capture.ddlInFunction to warn and apply it by hand on restore' },
        );
      }
      return `${header}-- not replayed: ${commentText(why)}; outer query: ${commentText(row.query)}\n`;
    }
  }
}

/**
 * `SELECT pg_catalog.setval('"s"."seq"', 42, true);` per entry of a sequence_positions row's
 * `positions` (`[{"schema","name","last_value","is_called"}]`).
 */
export function renderSequencePositions(positionsJson: string): string {
  let entries: unknown;
  try {
    entries = JSON.parse(positionsJson); // byte string in, byte strings out (JSON syntax is ASCII)
  } catch (err) {
    throw new RenderError(`pgincr.sequence_positions.positions is not json: ${commentText(positionsJson).slice(0, 200)}`, { cause: err });
  }
  if (!Array.isArray(entries)) throw new RenderError('pgincr.sequence_positions.positions is not a json array');
  return entries
    .map((e: { schema?: unknown; name?: unknown; last_value?: unknown; is_called?: unknown }) => {
      const last = typeof e.last_value === 'number' ? String(e.last_value) : e.last_value;
      if (typeof e.schema !== 'string' || typeof e.name !== 'string' || typeof last !== 'string' || !/^-?\d+$/.test(last) || typeof e.is_called !== 'boolean') {
        throw new RenderError(`bad sequence position entry ${JSON.stringify(e)}`);
      }
      return `SELECT pg_catalog.setval(${quoteLiteral(regclassText(e.schema, e.name))}, ${last}, ${e.is_called});\n`;
    })
    .join('');
}

/**
 * The comment line for one `pgincr.markers` row (kind, LSN, note: `commentText` keeps it one
 * line): `-- pgincr marker: full-backup 20261127T140000Z_0000000001000028 at 0/1000028`.
 */
export function renderMarker(row: { kind: string | null; lsn: string | null; note: string | null }): string {
  const note = row.note ? ` ${commentText(row.note)}` : '';
  const at = row.lsn ? ` at ${commentText(row.lsn)}` : '';
  return `-- pgincr marker: ${commentText(row.kind ?? 'marker')}${note}${at}\n`;
}

/** A decoded change to a capture table, rendered per the module comment ('' for nothing). */
export function renderCaptureChange(
  change: { kind: 'insert' | 'update' | 'delete' | 'truncate'; rel: RelationInfo; tuple?: Tuple },
  ctx: CaptureContext,
): string {
  if (change.kind !== 'insert' || !change.tuple || !isCaptureTable(change.rel)) return '';
  if (change.rel.table === 'ddl_history') return renderDdlHistoryRow(readDdlHistoryRow(change.rel, change.tuple), ctx);
  if (change.rel.table === 'sequence_positions') {
    const positions = column(change.rel, change.tuple, 'positions');
    return positions === null ? '' : renderSequencePositions(positions);
  }
  if (change.rel.table === 'markers') {
    const value = (name: string) => column(change.rel, change.tuple as Tuple, name);
    return renderMarker({ kind: value('kind'), lsn: value('lsn'), note: value('note') });
  }
  return '';
}

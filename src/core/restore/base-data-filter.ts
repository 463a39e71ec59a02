/**
 * A partial restore's base, loaded without the data of tables left out: a streaming filter over
 * a pg_dump script (a plain dump, or `pg_restore -f -` of a directory one) that drops each
 * `COPY … FROM stdin;` block, up to its `\.` line, whose table is not kept. Everything else
 * passes unchanged (schema, sequences, indexes and constraints: built on empty tables, then
 * removed by the partial base step), so a big table left out costs a read of its bytes, not a
 * load, an index build and a drop.
 *
 * Kept: a chosen table, a table of a chosen schema, and a partition attached to a kept table
 * (`ALTER TABLE ONLY <parent> ATTACH PARTITION <child>` in the schema part, before any data).
 * A table it cannot place (an inheritance child, a name in an encoding it does not read) is left
 * out and listed in `skipped`: the loader checks, in the base's transaction, that none of them
 * belongs to the kept set, and loads the whole base otherwise (restore/restore-base.ts).
 *
 * Only a `COPY` right after pg_dump's `-- Data for Name: …; Type: TABLE DATA; …` header counts,
 * so a function body holding such a line is never read as data. Works on bytes (latin1 strings
 * are byte strings here); names are decoded with the dump's encoding to compare.
 */
import type { QualifiedName, TableSelection } from './table-selection';
import { qualified } from './dump-identifier';

const COPY_END_AT_START = Buffer.from('\\.\n', 'latin1');
const COPY_END = Buffer.from('\n\\.\n', 'latin1');
const FROM_STDIN = ' FROM stdin;';

export class BaseDataFilter {
  /** Tables whose data was left out (decoded names). */
  readonly skipped: QualifiedName[] = [];
  /** Bytes of data left out. */
  skippedBytes = 0;
  private readonly tables: Set<string>;
  private readonly schemas: Set<string>;
  private mode: 'sql' | 'copy-pass' | 'copy-skip' = 'sql';
  private carry: Buffer = Buffer.alloc(0);
  /** The last statement-level line was pg_dump's TABLE DATA header (comments and blank lines between). */
  private dataHeader = false;
  /** A `COPY` statement whose name holds a line break, collected up to ` FROM stdin;`. */
  private copyLines: string[] | null = null;

  constructor(
    selection: TableSelection,
    private readonly encoding: BufferEncoding,
  ) {
    this.tables = new Set(selection.tables.map((t) => `${t.schema}\u0000${t.name}`));
    this.schemas = new Set(selection.schemas);
  }

  private decode(s: string): string {
    return this.encoding === 'latin1' ? s : Buffer.from(s, 'latin1').toString(this.encoding);
  }

  private kept(schema: string, name: string): boolean {
    return this.tables.has(`${schema}\u0000${name}`) || this.schemas.has(schema);
  }

  /** Whether a table (decoded name) is kept: chosen, in a chosen schema, or attached to a kept one in what was read so far. */
  keeps(t: QualifiedName): boolean {
    return this.kept(t.schema, t.name);
  }

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    let pos = 0;
    while (pos < data.length) {
      if (this.mode !== 'sql') {
        // COPY data: find the `\.` line (at a line start), pass or drop everything before it.
        let end = -1;
        if (data.subarray(pos, pos + 3).equals(COPY_END_AT_START)) end = pos;
        else {
          const i = data.indexOf(COPY_END, pos);
          if (i >= 0) end = i + 1;
        }
        if (end < 0) {
          const nl = data.lastIndexOf(10);
          const upTo = nl >= pos ? nl + 1 : pos;
          this.emit(out, data.subarray(pos, upTo));
          this.carry = Buffer.from(data.subarray(upTo));
          return out;
        }
        this.emit(out, data.subarray(pos, end + 3));
        this.mode = 'sql';
        pos = end + 3;
        continue;
      }
      const nl = data.indexOf(10, pos);
      if (nl < 0) {
        this.carry = Buffer.from(data.subarray(pos));
        return out;
      }
      const line = data.toString('latin1', pos, nl);
      const passed = this.sqlLine(line);
      if (passed !== null) out.push(passed === line ? data.subarray(pos, nl + 1) : Buffer.from(`${passed}\n`, 'latin1'));
      pos = nl + 1;
    }
    return out;
  }

  end(): Buffer[] {
    const rest = this.carry;
    this.carry = Buffer.alloc(0);
    if (this.copyLines) return [Buffer.from(`${this.copyLines.join('\n')}\n`, 'latin1'), rest];
    return this.mode === 'copy-skip' ? [] : [rest];
  }

  private emit(out: Buffer[], bytes: Buffer): void {
    if (this.mode === 'copy-skip') this.skippedBytes += bytes.length;
    else if (bytes.length) out.push(bytes);
  }

  /** One line of the script outside COPY data: what to pass (the line, a rewritten COPY statement), or null to drop it. */
  private sqlLine(line: string): string | null {
    if (this.copyLines) {
      this.copyLines.push(line);
      if (!line.endsWith(FROM_STDIN)) return null;
      const statement = this.copyLines.join('\n');
      this.copyLines = null;
      return this.copyStatement(statement);
    }
    if (line.startsWith('-- Data for Name: ')) {
      this.dataHeader = line.includes('; Type: TABLE DATA; ');
      return line;
    }
    if (line === '' || line.startsWith('--')) return line;
    if (this.dataHeader && line.startsWith('COPY ')) {
      this.dataHeader = false;
      if (line.endsWith(FROM_STDIN)) return this.copyStatement(line);
      this.copyLines = [line];
      return null;
    }
    this.dataHeader = false;
    if (line.startsWith('ALTER TABLE ONLY ')) this.attach(line);
    return line;
  }

  /** A whole `COPY <table> … FROM stdin;` statement: passed (its data too) when the table is kept. */
  private copyStatement(statement: string): string | null {
    const q = qualified(statement, 5);
    const schema = q ? this.decode(q.schema) : '';
    const name = q ? this.decode(q.name) : '';
    if (!q || this.kept(schema, name)) {
      this.mode = 'copy-pass'; // not the form pg_dump writes: loaded as it is
      return statement;
    }
    this.mode = 'copy-skip';
    this.skipped.push({ schema, name });
    return null;
  }

  /** `ALTER TABLE ONLY <parent> ATTACH PARTITION <child> …`: the child of a kept table is kept. */
  private attach(line: string): void {
    const parent = qualified(line, 17);
    if (!parent || !line.startsWith(' ATTACH PARTITION ', parent.end)) return;
    const child = qualified(line, parent.end + 18);
    if (child && this.kept(this.decode(parent.schema), this.decode(parent.name)))
      this.tables.add(`${this.decode(child.schema)}\u0000${this.decode(child.name)}`);
  }
}

/** The Node encoding the filter reads a dump's names in, or null (then the whole base is loaded). */
export function filterEncoding(serverEncoding: string): BufferEncoding | null {
  if (/^utf-?8$/i.test(serverEncoding)) return 'utf8';
  return /^(?:sql_ascii|latin1)$/i.test(serverEncoding) ? 'latin1' : null;
}

/** What the guard's error starts with: the loader then loads the whole base instead. */
export const SKIPPED_DATA_GUARD = 'pgincr partial base: the data of';

/**
 * SQL run in the base's transaction after a filtered load: fails (naming them) when a table
 * whose data was left out belongs to the kept set after all (a partition or inheritance child
 * the filter could not place). Names travel as hex of their bytes in the dump's encoding, so no
 * name can change the statement.
 */
export function skippedDataGuard(selection: TableSelection, skipped: readonly QualifiedName[], encoding: BufferEncoding): string {
  if (skipped.length === 0) return '';
  const hex = (s: string) => `'${Buffer.from(s, encoding).toString('hex')}'`;
  const arr = (xs: readonly string[]) => (xs.length ? `ARRAY[${xs.map(hex).join(', ')}]::text[]` : `'{}'::text[]`);
  const dec = (col: string) => `pg_catalog.convert_from(pg_catalog.decode(${col}, 'hex'), pg_catalog.getdatabaseencoding())`;
  return [
    '',
    'DO $pgincr_guard$',
    'DECLARE lost text;',
    'BEGIN',
    '  WITH RECURSIVE chosen AS (',
    '    SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace',
    `     WHERE (c.relkind IN ('r', 'p', 'f') AND (n.nspname::text, c.relname::text) IN (SELECT ${dec('s')}, ${dec('t')} FROM ROWS FROM (pg_catalog.unnest(${arr(selection.tables.map((t) => t.schema))}), pg_catalog.unnest(${arr(selection.tables.map((t) => t.name))})) AS x(s, t)))`,
    `        OR n.nspname::text IN (SELECT ${dec('s')} FROM pg_catalog.unnest(${arr(selection.schemas)}) AS x(s))`,
    '    UNION',
    '    SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN chosen ON i.inhparent = chosen.oid',
    '  )',
    "  SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', n.nspname, c.relname), ', ') INTO lost",
    '    FROM chosen JOIN pg_catalog.pg_class c ON c.oid = chosen.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace',
    `   WHERE (n.nspname::text, c.relname::text) IN (SELECT ${dec('s')}, ${dec('t')} FROM ROWS FROM (pg_catalog.unnest(${arr(skipped.map((t) => t.schema))}), pg_catalog.unnest(${arr(skipped.map((t) => t.name))})) AS x(s, t));`,
    `  IF lost IS NOT NULL THEN RAISE EXCEPTION '${SKIPPED_DATA_GUARD} % was left out: loading the whole base', lost; END IF;`,
    'END $pgincr_guard$;',
    '',
  ].join('\n');
}

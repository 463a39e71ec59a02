/**
 * A model of a database schema for generating valid random DDL and DML: schemas, tables (plain,
 * partitioned, partitions), columns, indexes, constraints, views, functions, enums, composite
 * types, domains and sequences. Objects refer to each other by reference (so a rename is seen
 * everywhere); `structuredClone` copies a model with those references intact.
 */

export interface Schema {
  name: string;
}
export interface EnumType {
  kind: 'enum';
  schema: Schema;
  name: string;
  values: { label: string; usable: boolean }[];
}
export interface CompositeType {
  kind: 'composite';
  schema: Schema;
  name: string;
  attrs: { name: string; type: 'int' | 'text' }[];
}
export interface DomainType {
  kind: 'domain';
  schema: Schema;
  name: string;
}
export type UserType = EnumType | CompositeType | DomainType;
export type BaseType = 'int' | 'bigint' | 'numeric' | 'text' | 'boolean' | 'date' | 'timestamptz' | 'jsonb' | 'text[]' | 'bytea';
export type ColType = { kind: 'base'; name: BaseType } | { kind: 'user'; t: UserType };

export interface Column {
  name: string;
  type: ColType;
  key?: boolean;
  notNull?: boolean;
  generated?: boolean;
  /** A nullable int referencing `fk`'s id (ON DELETE SET NULL). */
  fk?: Table;
}
export interface Index {
  name: string;
  cols: Column[];
}
export interface Constraint {
  name: string;
  cols: Column[];
  kind: 'check' | 'unique';
}
export interface Table {
  schema: Schema;
  name: string;
  kind: 'plain' | 'partitioned' | 'partition';
  identity: boolean;
  cols: Column[];
  indexes: Index[];
  constraints: Constraint[];
  /** Row triggers calling public.audit_row() (which writes public.audit). */
  triggers?: string[];
  /** Partitions (and tables detached from a parent): the range of k they hold. */
  range?: [number, number];
  parent?: Table;
  detachedFrom?: Table;
  nextRange?: number;
}
export interface View {
  schema: Schema;
  name: string;
  table: Table;
  cols: Column[];
}
export interface Func {
  schema: Schema;
  name: string;
  plpgsql: boolean;
}
export interface Sequence {
  schema: Schema;
  name: string;
}

export interface Model {
  counter: number;
  schemas: Schema[];
  tables: Table[];
  types: UserType[];
  views: View[];
  funcs: Func[];
  seqs: Sequence[];
}

const PLAIN = /^[a-z_][a-z0-9_]*$/;
export function q(name: string): string {
  return PLAIN.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
let unqualifiedPublic = false;
/** When on, objects in `public` are named without their schema (found by the search_path). */
export function setUnqualifiedPublic(on: boolean): void {
  unqualifiedPublic = on;
}
export function qn(o: { schema: Schema; name: string }): string {
  return unqualifiedPublic && o.schema.name === 'public' ? q(o.name) : `${q(o.schema.name)}.${q(o.name)}`;
}
export function lit(text: string): string {
  return text.includes('\\') || text.includes('\n')
    ? `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\n/g, '\\n')}'`
    : `'${text.replace(/'/g, "''")}'`;
}

export function typeSql(t: ColType): string {
  return t.kind === 'base' ? t.name : qn(t.t);
}

/** A deterministic PRNG (mulberry32) over a fast-check-chosen seed. */
export class Rand {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
}

/** A fresh name: mostly plain, sometimes one that needs quoting. */
export function freshName(m: Model, r: Rand, prefix: string): string {
  const n = ++m.counter;
  return r.chance(0.15) ? pickOdd(r, prefix, n) : `${prefix}${n}`;
}
function pickOdd(r: Rand, prefix: string, n: number): string {
  return r.pick([`${prefix.toUpperCase()} ${n}`, `${prefix}"${n}`, `${prefix}-ü${n}`, `select${n}`, `${prefix}'${n}`]);
}

const TEXTS = ['plain', "it's", 'back\\slash', 'line\nbreak', 'üñí ☃', '', '  spaced  ', 'COMMIT;', '-- not a comment'];

/** A SQL literal/expression for a value of `t` (never NULL when `notNull`). */
export function valueSql(t: ColType, r: Rand, notNull = false): string {
  if (!notNull && r.chance(0.12)) return 'NULL';
  if (t.kind === 'user') {
    const u = t.t;
    if (u.kind === 'enum') return lit(r.pick(u.values.filter((v) => v.usable)).label);
    if (u.kind === 'domain') return String(r.int(1000));
    return `ROW(${u.attrs.map((a) => (a.type === 'int' ? String(r.int(100)) : lit(r.pick(TEXTS)))).join(', ')})`;
  }
  switch (t.name) {
    case 'int':
      return String(r.int(20000) - 1000);
    case 'bigint':
      return String(BigInt(r.int(1e9)) * 1000003n);
    case 'numeric':
      return r.pick(["'NaN'", '12.50', '-0.001', '123456789012345678901234567890.5', '0']);
    case 'text':
      return lit(r.pick(TEXTS));
    case 'boolean':
      return r.pick(['true', 'false']);
    case 'date':
      return `'2026-0${1 + r.int(9)}-1${r.int(10)}'`;
    case 'timestamptz':
      return r.pick(["'2026-01-02 03:04:05.123456+02'", "'infinity'", "'1999-12-31 23:59:59+00'"]);
    case 'jsonb':
      return r.pick([`'{"k": [1, "x"]}'`, `'"it''s"'`, "'null'", `'{"a": {"b": null}}'`]);
    case 'text[]':
      return r.pick(['\'{a,NULL,"b c"}\'', "'{}'", `ARRAY[${lit("it's")}, NULL]`]);
    case 'bytea':
      return r.pick(["'\\x00ff'", "'\\x'", "'\\xdeadbeef'"]);
  }
}

/** The tables rows can go into (a partitioned table needs an attached partition). */
export function writableTables(m: Model): Table[] {
  return m.tables.filter((t) => t.kind !== 'partitioned' || partitionsOf(m, t).length > 0);
}
export function partitionsOf(m: Model, parent: Table): Table[] {
  return m.tables.filter((t) => t.kind === 'partition' && t.parent === parent);
}
export function objectsIn(m: Model, s: Schema): number {
  const all: { schema: Schema }[] = [...m.tables, ...m.types, ...m.views, ...m.funcs, ...m.seqs];
  return all.filter((o) => o.schema === s).length;
}
export function viewsOn(m: Model, t: Table): View[] {
  return m.views.filter((v) => v.table === t);
}
export function referencedBy(m: Model, t: Table): Table[] {
  return m.tables.filter((o) => o !== t && o.cols.some((c) => c.fk === t));
}
export function typeInUse(m: Model, u: UserType): boolean {
  return m.tables.some((t) => t.cols.some((c) => c.type.kind === 'user' && c.type.t === u));
}
/** Names of columns a view (on the table or its partitions) or a check constraint depends on. */
export function pinnedColumns(m: Model, t: Table): Set<string> {
  const pinned = new Set<string>();
  for (const x of [t, ...partitionsOf(m, t)]) for (const v of viewsOn(m, x)) v.cols.forEach((c) => pinned.add(c.name));
  for (const k of t.constraints) if (k.kind === 'check') k.cols.forEach((c) => pinned.add(c.name));
  return pinned;
}
/** Names of columns a view on the table or its partitions selects. */
export function viewedColumns(m: Model, t: Table): Set<string> {
  const viewed = new Set<string>();
  for (const x of [t, ...partitionsOf(m, t)]) for (const v of viewsOn(m, x)) v.cols.forEach((c) => viewed.add(c.name));
  return viewed;
}

/** An INSERT of 1-3 rows into `t` (partition keys inside an attached partition's range). */
export function insertSql(m: Model, t: Table, r: Rand): string {
  const cols = t.cols.filter((c) => !c.generated && !(t.identity && c.name === 'id'));
  const ranges = t.kind === 'partitioned' ? partitionsOf(m, t).map((p) => p.range!) : t.range ? [t.range] : [];
  const rows: string[] = [];
  for (let i = 1 + r.int(3); i > 0; i--) {
    rows.push(
      `(${cols
        .map((c) => {
          if (c.name === 'id' && c.key) return String(++m.counter);
          if (c.name === 'k' && c.key) {
            const [lo, hi] = r.pick(ranges);
            return String(lo + r.int(hi - lo));
          }
          if (c.fk) return r.chance(0.5) ? 'NULL' : `(SELECT min(id) FROM ${qn(c.fk)})`;
          return valueSql(c.type, r, c.notNull);
        })
        .join(', ')})`,
    );
  }
  if (cols.length === 0) return `INSERT INTO ${qn(t)} DEFAULT VALUES`;
  return `INSERT INTO ${qn(t)} (${cols.map((c) => q(c.name)).join(', ')}) VALUES ${rows.join(', ')}`;
}

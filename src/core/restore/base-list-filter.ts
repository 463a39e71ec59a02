/**
 * A partial restore of a directory-format base (`pg_dump -Fd`): the `pg_restore --use-list` list
 * without the `TABLE DATA` entries of tables left out, so pg_restore never opens (nor
 * decompresses) their data files. The plain script's data filter (base-data-filter.ts) still runs
 * on what is left; this only spares reading files whose data it would drop anyway.
 *
 * A data entry names its table by OID (`3352; 0 16388 TABLE DATA public a b postgres`), and a
 * list prints names with line breaks as spaces and unquoted, so names are taken from the schema
 * script instead (`pg_restore -v --section=pre-data`): its `-- TOC entry N (class 1259 OID X)`
 * comment, then the `CREATE … TABLE schema.name` statement with the exact quoted name. An entry is
 * commented out only when its OID's name is known, agrees with the list's own text for it, and is
 * not kept; anything uncertain stays in the list (its data then reaches the script's filter).
 * Tables commented out go to the loader's guard like those the script filter skips.
 */
import type { QualifiedName } from './table-selection';
import { qualified } from './dump-identifier';

/** `-- TOC entry 215 (class 1259 OID 16388)`: a relation's entry in a verbose script. */
const TOC_RELATION = /^-- TOC entry \d+ \(class 1259 OID (\d+)\)$/;
/** A data entry of a list: `3352; 0 16388 TABLE DATA <schema> <name> <owner>`. */
const DATA_ENTRY = /^(\d+); 0 (\d+) TABLE DATA (.*)$/;
const CREATE = /^CREATE (?:UNLOGGED |FOREIGN )?TABLE /;

/**
 * Relation OIDs to exact names, from a verbose pre-data script (decoded text). An OID seen with
 * two different names is dropped (a function body can hold lines of any shape).
 */
export class TableOids {
  private readonly names = new Map<string, QualifiedName | null>();
  private oid: string | null = null;
  /** A CREATE TABLE statement whose quoted name spans lines, collected. */
  private pending: string | null = null;

  line(line: string): void {
    if (this.pending !== null) {
      this.pending += `\n${line}`;
      this.tryCreate(this.pending);
      return;
    }
    const toc = TOC_RELATION.exec(line);
    if (toc) {
      this.oid = toc[1]!;
      return;
    }
    if (line.startsWith('-- TOC entry ')) this.oid = null;
    else if (this.oid !== null && CREATE.test(line)) this.tryCreate(line);
  }

  private tryCreate(statement: string): void {
    const at = CREATE.exec(statement)![0].length;
    const q = qualified(statement, at);
    // A quoted name cut by a line break: wait for the rest (a few lines at most).
    if (!q && statement.indexOf('"', at) >= 0 && statement.split('\n').length < 64 && !/\($/.test(statement)) {
      this.pending = statement;
      return;
    }
    this.pending = null;
    const oid = this.oid!;
    this.oid = null;
    if (!q) return;
    const found = { schema: q.schema, name: q.name };
    const known = this.names.get(oid);
    if (known === undefined) this.names.set(oid, found);
    else if (known && (known.schema !== found.schema || known.name !== found.name)) this.names.set(oid, null);
  }

  get(oid: string): QualifiedName | undefined {
    return this.names.get(oid) ?? undefined;
  }
}

/** How `pg_restore -l` prints a name: line breaks as spaces (sanitize_line). */
const listText = (s: string) => s.replace(/[\r\n]/g, ' ');

export interface FilteredList {
  /** The list to give `pg_restore --use-list`. */
  list: string;
  /** Tables whose data entries were commented out. */
  left: QualifiedName[];
  /** Their entries' dump ids (`<id>.dat…` in the folder). */
  dumpIds: string[];
}

/** The list with the data entries of tables not kept commented out (module comment). */
export function filterDataEntries(list: string, oids: TableOids, kept: (t: QualifiedName) => boolean): FilteredList {
  const left: QualifiedName[] = [];
  const dumpIds: string[] = [];
  const lines = list.split('\n').map((line) => {
    const m = DATA_ENTRY.exec(line);
    if (!m) return line;
    const t = oids.get(m[2]!);
    if (!t || kept(t) || !m[3]!.startsWith(`${listText(t.schema)} ${listText(t.name)} `)) return line;
    left.push(t);
    dumpIds.push(m[1]!);
    return `;${line}`;
  });
  return { list: lines.join('\n'), left, dumpIds };
}

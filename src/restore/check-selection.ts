/**
 * The plan's check of a partial restore's names (core/restore/selection-check.ts), reading what
 * the restore will have without loading anything: the base's `checksums.json` (every ordinary
 * table and partition, exact names), then the `-- ddl:` headers of the planned segments (tables
 * and schemas created or renamed after the base), then the base's table of contents (partitioned
 * and foreign tables, schemas without tables: `dump.list` of a directory base, the `-- Name:`
 * headers of a plain dump's schema part, read up to its first data). Each source is read only
 * when the ones before it leave a name unknown, so the common case costs one small JSON file.
 * TOC names are compared in pg_dump's sanitized form (line breaks as spaces): a name it cannot
 * tell apart is accepted here and checked again when the base is loaded.
 */
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { spawn } from 'node:child_process';
import { PlanError } from '../errors';
import { BASE_FILES } from '../core/repository/paths';
import { describeUnknown, unknownSelection, type KnownRelations } from '../core/restore/selection-check';
import type { QualifiedName, TableSelection } from '../core/restore/table-selection';
import { ddlObjects } from '../core/segment/txn-log';
import { ddlTag } from '../core/restore/table-filter';

export interface SelectionSources {
  /** The base folder (absolute). */
  baseDir: string;
  baseId: string;
  format: 'plain' | 'directory';
  /** The dump file or folder name in the base folder. */
  dumpFile: string;
  /** Planned segment files, in order (absolute paths, `.gz` or not). */
  segments: readonly string[];
  /** The open segment's whole transactions the restore reads (absolute path, byte length), if any. */
  openPrefix?: { path: string; length: number };
  /** The server encoding (segments and dump hold its bytes). */
  encoding: string;
}

/** DDL tags whose header names tables (or schemas) that exist after it. */
const CREATES_TABLE = new Set(['CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'CREATE FOREIGN TABLE', 'ALTER TABLE', 'ALTER FOREIGN TABLE']);

/** `"schema"."table"` (checksums.json keys, adapters/pg/checksums.ts) → its parts. */
function parseChecksumKey(k: string): QualifiedName | null {
  const m = /^"((?:[^"]|"")*)"\."((?:[^"]|"")*)"$/.exec(k);
  return m ? { schema: (m[1] as string).replace(/""/g, '"'), name: (m[2] as string).replace(/""/g, '"') } : null;
}

function lines(stream: Readable, encoding: BufferEncoding): AsyncIterable<string> {
  stream.setEncoding(encoding);
  return createInterface({ input: stream, crlfDelay: Infinity });
}

function fileLines(path: string, encoding: BufferEncoding, end?: number): { lines: AsyncIterable<string>; close: () => void } {
  const file = createReadStream(path, end !== undefined ? { end: Math.max(0, end - 1) } : {});
  const stream = path.endsWith('.gz') ? file.pipe(createGunzip()) : file;
  file.on('error', (e) => stream.destroy(e));
  return { lines: lines(stream, encoding), close: () => file.destroy() };
}

/** Tables and schemas the planned segments' DDL creates or renames (DDL header form). */
async function laterRelations(sources: SelectionSources, encoding: BufferEncoding, later: { tables: Set<string>; schemas: Set<string> }): Promise<void> {
  const files: { path: string; length?: number }[] = [...sources.segments.map((path) => ({ path })), ...(sources.openPrefix ? [sources.openPrefix] : [])];
  for (const f of files) {
    const { lines: it, close } = fileLines(f.path, encoding, f.length);
    try {
      for await (const line of it) {
        if (!line.startsWith('-- ddl: ')) continue;
        const tag = ddlTag(line);
        if (CREATES_TABLE.has(tag)) for (const o of ddlObjects(line)) later.tables.add(o);
        else if (tag === 'CREATE SCHEMA' || tag === 'ALTER SCHEMA') {
          const objects = /^-- ddl: (?:CREATE|ALTER) SCHEMA (.*?)(?: role .*)?$/.exec(line);
          if (objects?.[1]) later.schemas.add(objects[1]);
        }
      }
    } finally {
      close();
    }
  }
}

/** pg_dump's TOC form of a name: line breaks as spaces (sanitize_line). */
const sanitize = (s: string): string => s.replace(/[\r\n]/g, ' ');

interface TocNames {
  /** `schema name` (sanitized, space-separated) of every TABLE / FOREIGN TABLE entry. */
  tables: string[];
  schemas: string[];
}

/** The table and schema entries of the base's table of contents (module comment). */
async function tocNames(sources: SelectionSources, encoding: BufferEncoding): Promise<TocNames> {
  const out: TocNames = { tables: [], schemas: [] };
  const path = join(sources.baseDir, sources.dumpFile);
  if (sources.format === 'plain') {
    const { lines: it, close } = fileLines(path, encoding);
    try {
      for await (const line of it) {
        if (line.startsWith('-- Data for Name: ')) break; // the schema part is over
        const m = /^-- Name: (.*); Type: (TABLE|FOREIGN TABLE|SCHEMA); Schema: (.*); Owner: /.exec(line);
        if (!m) continue;
        if (m[2] === 'SCHEMA') out.schemas.push(m[1] as string);
        else out.tables.push(`${m[3] as string} ${m[1] as string}`);
      }
    } finally {
      close();
    }
    return out;
  }
  const listPath = join(sources.baseDir, BASE_FILES.dumpList);
  const text = existsSync(listPath) ? await readFile(listPath, encoding) : await pgRestoreList(path, encoding);
  for (const line of text.split('\n')) {
    const m = /^\d+; \d+ \d+ (TABLE|FOREIGN TABLE|SCHEMA) (.*) \S+$/.exec(line);
    if (!m) continue;
    if (m[1] === 'SCHEMA') out.schemas.push((m[2] as string).replace(/^- /, ''));
    else out.tables.push(m[2] as string);
  }
  return out;
}

function pgRestoreList(archive: string, encoding: BufferEncoding): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('pg_restore', ['-l', archive], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-4096)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString(encoding)) : reject(new Error(`pg_restore -l ${archive} failed: ${err}`))));
  });
}

/**
 * Refuses, before anything is created, a selection naming a table or schema that neither the
 * base nor the planned segments have (PlanError: non-retryable), naming it and the closest names.
 */
export async function checkSelectionNames(selection: TableSelection, sources: SelectionSources): Promise<void> {
  const encoding: BufferEncoding = /^utf-?8$/i.test(sources.encoding) ? 'utf8' : 'latin1';
  const checksums = JSON.parse(await readFile(join(sources.baseDir, BASE_FILES.checksums), 'utf8')) as { tables?: Record<string, unknown> };
  const baseTables = Object.keys(checksums.tables ?? {})
    .map(parseChecksumKey)
    .filter((q): q is QualifiedName => q !== null);
  const later = { tables: new Set<string>(), schemas: new Set<string>() };
  const known: KnownRelations = {
    baseTables,
    baseSchemas: [...new Set(['public', ...baseTables.map((t) => t.schema)])],
    laterTables: later.tables,
    laterSchemas: later.schemas,
  };
  if (unknownSelection(selection, known).length === 0) return;
  await laterRelations(sources, encoding, later);
  let unknown = unknownSelection(selection, known);
  if (unknown.length === 0) return;
  // Partitioned and foreign tables (not in checksums.json), schemas without tables: the TOC.
  const toc = await tocNames(sources, encoding);
  const tocTables = new Set(toc.tables);
  const tocSchemas = new Set(toc.schemas);
  const fromToc = {
    tables: selection.tables.filter((t) => tocTables.has(`${sanitize(t.schema)} ${sanitize(t.name)}`)),
    schemas: selection.schemas.filter((s) => tocSchemas.has(sanitize(s))),
  };
  // Exact (sanitized) matches count; every TOC table is also a candidate for the suggestions (split at its first space).
  const split = (s: string): QualifiedName => ({ schema: s.slice(0, Math.max(0, s.indexOf(' '))), name: s.slice(s.indexOf(' ') + 1) });
  const exact = new Set([...baseTables, ...fromToc.tables].map((t) => `${sanitize(t.schema)} ${sanitize(t.name)}`));
  known.baseTables = [...baseTables, ...fromToc.tables, ...toc.tables.filter((t) => !exact.has(t)).map(split)];
  known.baseSchemas = [...known.baseSchemas, ...fromToc.schemas, ...toc.schemas];
  unknown = unknownSelection(selection, known);
  if (unknown.length === 0) return;
  throw new PlanError(`partial restore: no ${describeUnknown(unknown)} in base ${sources.baseId} or in the segments up to the restore target`, {
    hint: 'nothing was created; names are schema.table, a bare part folded to lower case, a quoted part kept as written (public."Order Items"); `pgincr log --tables` or \\dt in the source lists them',
  });
}

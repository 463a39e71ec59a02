/**
 * A partial restore of a directory-format base: a `pg_restore --use-list` file without the data
 * entries of the tables left out (core/restore/base-list-filter.ts), so their data files are never
 * opened nor decompressed. Made from the base's list (or `pg_restore -l`) and the schema script
 * (`pg_restore -v --section=pre-data`, no data read), in a temporary folder the caller removes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stderrWithoutRowValues } from '../core/commands/server-messages';
import { BaseDataFilter } from '../core/restore/base-data-filter';
import { filterDataEntries, TableOids } from '../core/restore/base-list-filter';
import type { QualifiedName, TableSelection } from '../core/restore/table-selection';
import { CommandFailedError } from '../errors';

const STDERR_TAIL = 8192;

/** Runs pg_restore with `args`, feeding each stdout line (decoded) to `onLine`, or collecting stdout. */
function pgRestoreLines(args: string[], env: Record<string, string>, encoding: BufferEncoding, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('pg_restore', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let carry = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => {
      const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let pos = 0;
      for (let nl = data.indexOf(10, pos); nl >= 0; nl = data.indexOf(10, pos)) {
        onLine(data.toString(encoding, pos, nl));
        pos = nl + 1;
      }
      carry = Buffer.from(data.subarray(pos));
    });
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (carry.length) onLine(carry.toString(encoding));
      if (code === 0) resolve();
      // -v writes progress to stderr: only its tail is shown, and never a row value.
      else reject(new CommandFailedError(`pg_restore ${args.join(' ')} failed (exit ${code}): ${stderrWithoutRowValues(stderr)}`));
    });
  });
}

export interface DataOnlyList {
  /** The list file for `pg_restore --use-list`. */
  listFile: string;
  /** Tables whose data entries it leaves out (for the loader's guard). */
  left: QualifiedName[];
  /** Data files never read, and their size on disk (compressed). */
  unreadFiles: number;
  unreadBytes: number;
  /** Removes the temporary folder. */
  remove(): Promise<void>;
}

/** The data file of a list entry: `<dumpId>.dat` plus the compression's suffix, if there. */
async function dataFileSize(dir: string, dumpId: string): Promise<number> {
  for (const suffix of ['.gz', '', '.lz4', '.zst']) {
    const s = await stat(join(dir, `${dumpId}.dat${suffix}`)).catch(() => null);
    if (s) return s.size;
  }
  return 0;
}

export async function dataOnlyList(o: {
  dir: string;
  listPath?: string | undefined;
  env: Record<string, string>;
  selection: TableSelection;
  encoding: BufferEncoding;
}): Promise<DataOnlyList> {
  const temp = await mkdtemp(join(tmpdir(), 'pgincr-base-list-'));
  try {
    let list = '';
    if (o.listPath) list = await readFile(o.listPath, 'latin1');
    else await pgRestoreLines(['--list', '--', o.dir], o.env, 'latin1', (line) => (list += `${line}\n`));
    // The schema part, verbose (its `-- TOC entry` comments give each table's OID): names, and partitions attached.
    const oids = new TableOids();
    const attached = new BaseDataFilter(o.selection, o.encoding);
    await pgRestoreLines(
      ['--verbose', '--section=pre-data', '--file=-', ...(o.listPath ? [`--use-list=${o.listPath}`] : []), '--', o.dir],
      o.env,
      o.encoding,
      (line) => {
        oids.line(line);
        attached.push(Buffer.from(`${line}\n`, o.encoding === 'utf8' ? 'utf8' : 'latin1'));
      },
    );
    const filtered = filterDataEntries(list, oids, (t) => attached.keeps(t));
    const listFile = join(temp, 'partial.list');
    await writeFile(listFile, filtered.list, 'latin1');
    let unreadBytes = 0;
    for (const id of filtered.dumpIds) unreadBytes += await dataFileSize(o.dir, id);
    return { listFile, left: filtered.left, unreadFiles: filtered.dumpIds.length, unreadBytes, remove: () => rm(temp, { recursive: true, force: true }) };
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Loading the base backup into the target database, exactly once.
 *
 * Plain dumps (`dump.sql[.gz]`) and directory dumps restored with one job are streamed into
 * `psql -X -v ON_ERROR_STOP=1` inside ONE transaction that we open and close ourselves:
 * `BEGIN;`, the dump, then — only after the whole dump was read without error —
 * `pg_replication_origin_create`, `_session_setup`, `_xact_setup(<base lsn>)` and `COMMIT;`.
 * So the origin exists (with progress = base LSN) exactly when the base is committed: a
 * retry that finds the origin skips the base. A damaged stream kills psql before it can see
 * an end of input, and a psql that ends without our COMMIT rolls everything back.
 *
 * Directory dumps with jobs > 1 run `pg_restore -j N` (which cannot be one transaction), then
 * create the origin and advance it to the base LSN. A retry after a failed parallel load
 * (objects present, no origin) runs `pg_restore --clean --if-exists` over it.
 *
 * A partial restore (`dataOf`) streams the script through core/restore/base-data-filter.ts: the
 * data of tables left out is never sent to the server. A guard in the same transaction checks
 * that none of the tables left out belongs to the kept set; if one does (a child the filter
 * could not place), that transaction rolls back and the whole base is loaded instead. A
 * directory base's script comes from a `pg_restore` list without the data entries of tables
 * left out (restore/base-data-list.ts): their files are never read.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Client } from 'pg';
import type { Profile } from '../config';
import { childEnv, connectProfile, resolveProfile } from '../adapters/pg/connect';
import { pgRestoreArgs, pgRestoreScriptArgs } from '../core/commands/argv';
import { stderrWithoutRowValues } from '../core/commands/server-messages';
import { CommandFailedError } from '../errors';
import { NoOwnerFilter } from '../core/restore/no-owner-filter';
import { advanceOrigin, ensureOrigin, originName, originProgress } from './origin';
import { BaseDataFilter, filterEncoding, SKIPPED_DATA_GUARD, skippedDataGuard } from '../core/restore/base-data-filter';
import type { TableSelection } from '../core/restore/table-selection';
import { dataOnlyList } from './base-data-list';

export type BaseDump =
  | { format: 'plain'; path: string }
  /** `listPath`: the base's dump.list for `pg_restore --use-list` (every entry but pgincr's own). */
  | { format: 'directory'; path: string; jobs?: number; listPath?: string };

export interface RestoreBaseOptions {
  /** The target database (profile.dbname is the restored database). */
  profile: Profile;
  restoreId: string;
  /** The base's consistent LSN: the origin's progress after the base. */
  baseLsn: string;
  dump: BaseDump;
  /**
   * Load without the dump's ownership changes (`pgincr restore --no-owner`): every object belongs
   * to the restoring role. `pg_restore --no-owner` for a directory dump; a plain script goes
   * through {@link NoOwnerFilter}.
   */
  noOwner?: boolean;
  /** A partial restore: only these tables' data is loaded (module comment); `encoding` is the server's. */
  dataOf?: {
    selection: TableSelection;
    encoding: string;
    /** Read every data file of a directory base (the script filter alone, as before the list filter): bench:partial-base's baseline. */
    readEveryDataFile?: boolean;
  };
  signal?: AbortSignal;
}

/** How a partial restore's base was loaded. */
export interface BaseDataReport {
  /** True when only the kept tables' data was loaded. */
  filtered: boolean;
  /** Tables whose data was left out unread by the server, and its bytes (uncompressed script). */
  skippedTables: number;
  skippedBytes: number;
  /** A directory base: data files never read (their entries left out of pg_restore's list), and their size on disk. */
  unreadFiles?: number;
  unreadBytes?: number;
  /** Why the whole base was loaded instead. */
  wholeBase?: string;
}

export interface RestoreBaseResult {
  /** True when an earlier attempt had already committed the base. */
  skipped: boolean;
  originLsn: string;
  data?: BaseDataReport;
}

const STDERR_TAIL = 8192;

interface Source {
  stream: Readable;
  /** Settles when the producer has finished: rejects if it failed (even after a clean EOF). */
  done: Promise<void>;
  kill(): void;
}

function fileSource(path: string, noOwner = false): Source {
  const file = createReadStream(path);
  const plain = path.endsWith('.gz') ? file.pipe(createGunzip()) : file;
  const stream = noOwner ? plain.pipe(noOwnerTransform()) : plain;
  if (noOwner) plain.on('error', (error: Error) => stream.destroy(error));
  const done = new Promise<void>((resolve, reject) => {
    file.on('error', reject);
    stream.on('error', reject);
    stream.on('end', resolve);
  });
  return { stream, done, kill: () => file.destroy() };
}

/** A stream transform of a plain pg_dump script through {@link NoOwnerFilter} (bytes as latin1). */
function noOwnerTransform(): Transform {
  const filter = new NoOwnerFilter();
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(null, Buffer.from(filter.push(chunk.toString('latin1')), 'latin1'));
    },
    flush(done) {
      done(null, Buffer.from(filter.end(), 'latin1'));
    },
  });
}

function pgRestoreScriptSource(dir: string, listFile: string | undefined, env: Record<string, string>, noOwner = false): Source {
  const args = [...(noOwner ? ['--no-owner'] : []), ...pgRestoreScriptArgs({ archive: dir, ...(listFile ? { listFile } : {}) })];
  const child = spawn('pg_restore', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL)));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new CommandFailedError(`pg_restore -f - ${dir} failed (exit ${code}): ${stderrWithoutRowValues(stderr)}`)),
    );
  });
  return { stream: child.stdout, done, kill: () => child.kill('SIGKILL') };
}

/** The source through a partial restore's data filter. */
function filteredSource(source: Source, filter: BaseDataFilter): Source {
  const stream = source.stream.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        try {
          for (const b of filter.push(chunk)) this.push(b);
          done();
        } catch (error) {
          done(error as Error);
        }
      },
      flush(done) {
        for (const b of filter.end()) this.push(b);
        done();
      },
    }),
  );
  source.stream.on('error', (error: Error) => stream.destroy(error));
  const done = Promise.all([source.done, new Promise<void>((resolve, reject) => (stream.on('end', resolve), stream.on('error', reject)))]).then(
    () => undefined,
  );
  return { stream, done, kill: () => source.kill() };
}

/** Streams `prelude`, the source, then `epilogue` into psql; psql is killed if the source fails. */
function psqlFromSource(env: Record<string, string>, source: Source, prelude: string, epilogue: () => string, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const psql = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    let failure: unknown = null;
    const fail = (error: unknown): void => {
      if (failure) return;
      failure = error;
      psql.kill('SIGKILL'); // before stdin closes: psql must never see a clean end of input
      source.kill();
    };
    psql.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL)));
    psql.stdin.on('error', () => undefined); // EPIPE when psql stops on an error: its exit code tells
    psql.on('error', fail);
    psql.on('close', (code, sig) => {
      if (failure) return reject(failure);
      if (code === 0) return resolve();
      reject(
        new CommandFailedError(`psql failed loading the base (exit ${code ?? sig}): ${stderrWithoutRowValues(stderr)}`, {
          hint: 'nothing was committed; fix the cause (e.g. a missing role: restore globals first) and retry',
        }),
      );
    });
    signal?.addEventListener('abort', () => fail(signal.reason), { once: true });
    source.done.then(() => {
      if (failure) return;
      psql.stdin.write(epilogue());
      psql.stdin.end();
    }, fail);
    psql.stdin.write(prelude);
    source.stream.on('data', (chunk: Buffer) => {
      if (!psql.stdin.write(chunk)) source.stream.pause();
    });
    psql.stdin.on('drain', () => source.stream.resume());
  });
}

function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The statements that record "base applied" in the same transaction as the base. */
function originEpilogue(name: string, baseLsn: string): string {
  return [
    '',
    `SELECT pg_catalog.pg_replication_origin_create(${quote(name)});`,
    `SELECT pg_catalog.pg_replication_origin_session_setup(${quote(name)});`,
    `SELECT pg_catalog.pg_replication_origin_xact_setup(${quote(baseLsn)}, pg_catalog.now());`,
    'COMMIT;',
    '',
  ].join('\n');
}

async function hasUserObjects(client: Client): Promise<boolean> {
  const r = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
        AND n.nspname NOT LIKE 'pg\\_temp%'`,
  );
  return Number(r.rows[0]?.n ?? 0) > 0;
}

function runPgRestore(env: Record<string, string>, args: string[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('pg_restore', args, { env, stdio: ['ignore', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new CommandFailedError(`pg_restore ${args.join(' ')} failed (exit ${code}): ${stderrWithoutRowValues(stderr)}`)),
    );
  });
}

/** Loads the base into the target unless this restore already did; see the module comment. */
export async function restoreBase(o: RestoreBaseOptions): Promise<RestoreBaseResult> {
  const name = originName(o.restoreId);
  const env = childEnv(o.profile);
  const client = await connectProfile(o.profile);
  try {
    const progress = await originProgress(client, name);
    if (progress !== null) {
      // The origin exists only once the base is in; a parallel load may have died before advancing it.
      if (progress === 0n) await advanceOrigin(client, name, o.baseLsn);
      return { skipped: true, originLsn: o.baseLsn };
    }
    const jobs = o.dump.format === 'directory' ? (o.dump.jobs ?? 1) : 1;
    // A partial restore is one transaction whatever the jobs: its data filter needs the script (one job).
    if (o.dump.format === 'directory' && jobs > 1 && !o.dataOf) {
      const clean = await hasUserObjects(client);
      const dbname = resolveProfile(o.profile).dbname;
      await runPgRestore(
        env,
        [
          ...(o.noOwner ? ['--no-owner'] : []),
          ...pgRestoreArgs({ dbname, archive: o.dump.path, jobs, clean, ...(o.dump.listPath ? { listFile: o.dump.listPath } : {}) }),
        ],
        o.signal,
      );
      await ensureOrigin(client, name);
      await advanceOrigin(client, name, o.baseLsn);
      return { skipped: false, originLsn: o.baseLsn };
    }
    const open = (listPath = o.dump.format === 'directory' ? o.dump.listPath : undefined) =>
      o.dump.format === 'plain' ? fileSource(o.dump.path, o.noOwner) : pgRestoreScriptSource(o.dump.path, listPath, env, o.noOwner);
    const encoding = o.dataOf ? filterEncoding(o.dataOf.encoding) : null;
    if (o.dataOf && encoding) {
      const { selection } = o.dataOf;
      const filter = new BaseDataFilter(selection, encoding);
      // A directory base: the data files of tables left out are not even read (base-data-list.ts).
      const list =
        o.dump.format === 'directory' && !o.dataOf.readEveryDataFile
          ? await dataOnlyList({ dir: o.dump.path, listPath: o.dump.listPath, env, selection, encoding })
          : null;
      try {
        await psqlFromSource(
          env,
          filteredSource(open(list?.listFile), filter),
          'BEGIN;\n',
          () => skippedDataGuard(selection, [...filter.skipped, ...(list?.left ?? [])], encoding) + originEpilogue(name, o.baseLsn),
          o.signal,
        );
        const unread = list ? { unreadFiles: list.unreadFiles, unreadBytes: list.unreadBytes } : {};
        return {
          skipped: false,
          originLsn: o.baseLsn,
          data: { filtered: true, skippedTables: filter.skipped.length + (list?.left.length ?? 0), skippedBytes: filter.skippedBytes, ...unread },
        };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const at = message.indexOf(SKIPPED_DATA_GUARD);
        if (at < 0) throw error;
        // Rolled back: the whole base instead (the partial base step removes what is not kept).
        await psqlFromSource(env, open(), 'BEGIN;\n', () => originEpilogue(name, o.baseLsn), o.signal);
        const wholeBase = message.slice(at, message.indexOf('\n', at) < 0 ? undefined : message.indexOf('\n', at));
        return { skipped: false, originLsn: o.baseLsn, data: { filtered: false, skippedTables: 0, skippedBytes: 0, wholeBase } };
      } finally {
        await list?.remove();
      }
    }
    await psqlFromSource(env, open(), 'BEGIN;\n', () => originEpilogue(name, o.baseLsn), o.signal);
    const data: { data?: BaseDataReport } = o.dataOf
      ? { data: { filtered: false, skippedTables: 0, skippedBytes: 0, wholeBase: `the filter does not read names in encoding ${o.dataOf.encoding}` } }
      : {};
    return { skipped: false, originLsn: o.baseLsn, ...data };
  } finally {
    await client.end().catch(() => undefined);
  }
}

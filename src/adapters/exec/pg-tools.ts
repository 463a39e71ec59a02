/**
 * pg_dump, pg_dumpall and psql as child processes (execa 9). Connection settings travel as PG*
 * environment variables from `childEnv`, never in argv. Outputs are written under a temporary
 * name, fsynced, then renamed. A failure becomes CommandFailedError with the tail of stderr.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { execa } from 'execa';
import type { Profile } from '../../config';
import { pgDumpArgs, pgDumpallGlobalsArgs, parseToolMajor, pgRestoreListArgs, pgRestoreScriptArgs, psqlFileArgs } from '../../core/commands/argv';
import { filterTocList } from '../../core/commands/dump-filter';
import { BASE_FILES } from '../../core/repository/paths';
import { writeFileAtomic } from '../fs/atomic-write';
import { CommandFailedError, NotReadyError } from '../../errors';
import { childEnv, connectProfile } from '../pg/connect';

export type Progress = (p: { bytes: number }) => void;

const KILL_AFTER_MS = 5000;
const STDERR_TAIL = 4000;

/** The program path: `$PGINCR_PG_BIN/<name>` when set, else found on PATH. */
export function toolPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.PGINCR_PG_BIN ? join(env.PGINCR_PG_BIN, name) : name;
}

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function stderrTail(chunks: Buffer[]): string {
  const text = Buffer.concat(chunks).toString('utf8');
  return text.length > STDERR_TAIL ? `…${text.slice(-STDERR_TAIL)}` : text;
}

interface RunOptions {
  profile: Profile;
  program: string;
  args: string[];
  signal?: AbortSignal;
  /** Where stdout goes; without it stdout is discarded. */
  stdout?: (stream: NodeJS.ReadableStream) => Promise<void>;
  stdin?: NodeJS.ReadableStream;
}

/** Runs a program with the profile's environment; rejects with CommandFailedError. */
async function run(o: RunOptions): Promise<void> {
  const child = execa(toolPath(o.program), o.args, {
    env: childEnv(o.profile),
    extendEnv: false,
    buffer: false,
    stdin: o.stdin ? 'pipe' : 'ignore',
    stdout: o.stdout ? 'pipe' : 'ignore',
    stderr: 'pipe',
    ...(o.signal ? { cancelSignal: o.signal } : {}),
    forceKillAfterDelay: KILL_AFTER_MS,
  });
  const stderr: Buffer[] = [];
  let stderrBytes = 0;
  child.stderr?.on('data', (b: Buffer) => {
    stderr.push(b);
    stderrBytes += b.length;
    while (stderrBytes > STDERR_TAIL * 4 && stderr.length > 1) stderrBytes -= stderr.shift()!.length;
  });
  const feeding = o.stdin && child.stdin ? pipeline(o.stdin, child.stdin) : Promise.resolve();
  const consuming = o.stdout && child.stdout ? o.stdout(child.stdout) : Promise.resolve();
  try {
    await Promise.all([child, consuming, feeding]);
  } catch (err) {
    child.kill();
    const e = err as { exitCode?: number; isCanceled?: boolean; message?: string };
    const what = e.isCanceled ? 'was cancelled' : e.exitCode !== undefined ? `failed with exit code ${e.exitCode}` : `failed: ${e.message}`;
    throw new CommandFailedError(`${o.program} ${what}${stderr.length ? `: ${stderrTail(stderr).trim()}` : ''}`, {
      cause: err,
      hint: `the command was: ${o.program} ${o.args.join(' ')}`,
    });
  }
}

/** Fails when the local pg_dump is older than the server (it cannot dump newer servers). */
export async function checkPgDumpVersion(profile: Profile, program = 'pg_dump'): Promise<{ tool: number; server: number }> {
  const out = await execa(toolPath(program), ['--version'], { env: childEnv(profile), extendEnv: false });
  const tool = parseToolMajor(String(out.stdout));
  const client = await connectProfile(profile);
  let server: number;
  try {
    const { rows } = await client.query<{ v: string }>('SHOW server_version_num');
    server = Math.floor(Number(rows[0]!.v) / 10000);
  } finally {
    await client.end();
  }
  if (tool < server) {
    throw new NotReadyError(`${program} is version ${tool} but the server is PostgreSQL ${server}`, {
      hint: `install the PostgreSQL ${server} client programs (e.g. postgresql-client-${server}) or point PGINCR_PG_BIN at them`,
    });
  }
  return { tool, server };
}

/** Counts bytes and reports them at most every 64 MiB. */
function counter(onProgress: Progress | undefined, total: { bytes: number }): Transform {
  let reported = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      total.bytes += chunk.length;
      if (onProgress && total.bytes - reported >= 64 * 1024 * 1024) {
        reported = total.bytes;
        onProgress({ bytes: total.bytes });
      }
      done(null, chunk);
    },
  });
}

export interface PgDumpInput {
  profile: Profile;
  snapshot?: string;
  format: 'plain' | 'directory';
  jobs?: number;
  /** `…/dump.sql.gz` (plain) or `…/dump.dir` (directory). */
  outPath: string;
  /** Directory format: where the restore list goes (`…/dump.list`, for `pg_restore --use-list`). */
  listPath?: string;
  excludeSchema?: string[];
  signal?: AbortSignal;
  onProgress?: Progress;
}

export interface PgDumpResult {
  path: string;
  /** Uncompressed bytes of the script (plain format). */
  bytes: number;
  /** TOC entries left out: pgincr's event and table triggers, and what depends on them. */
  droppedEventTriggers: number;
  /** SHA-256 of the compressed file (plain format). */
  sha256?: string;
  /** The restore list written (directory format). */
  listPath?: string;
}

/**
 * The catalog keys (`<catalog oid> <oid>`, as the TOC names objects) of the triggers and event
 * triggers whose function is in the `pgincr` schema, as of the dump's snapshot.
 */
export async function pgincrTriggerKeys(profile: Profile, snapshot?: string): Promise<Set<string>> {
  if (snapshot !== undefined && !/^[0-9A-Fa-f-]+$/.test(snapshot)) throw new Error(`invalid snapshot name ${JSON.stringify(snapshot)}`);
  const client = await connectProfile(profile);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    if (snapshot) await client.query(`SET TRANSACTION SNAPSHOT '${snapshot}'`);
    const { rows } = await client.query<{ key: string }>(
      `SELECT 'pg_catalog.pg_event_trigger'::pg_catalog.regclass::pg_catalog.oid || ' ' || e.oid AS key
         FROM pg_catalog.pg_event_trigger e JOIN pg_catalog.pg_proc p ON p.oid = e.evtfoid
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'pgincr'
       UNION ALL
       SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::pg_catalog.oid || ' ' || t.oid
         FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'pgincr' AND NOT t.tgisinternal`,
    );
    await client.query('COMMIT');
    return new Set(rows.map((r) => r.key));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Writes the restore list: the TOC listing without pgincr's entries (see core/commands/dump-filter). */
async function writeRestoreList(input: PgDumpInput, listing: string, listPath: string): Promise<number> {
  const drop = await pgincrTriggerKeys(input.profile, input.snapshot);
  const filtered = filterTocList(listing, drop);
  await writeFileAtomic(listPath, Buffer.from(filtered.list, 'latin1'));
  return filtered.dropped.length;
}

/** `pg_restore --list --verbose` of an archive file. */
async function listArchive(input: PgDumpInput, archive: string): Promise<string> {
  const chunks: Buffer[] = [];
  await run({
    profile: input.profile,
    program: 'pg_restore',
    args: pgRestoreListArgs(archive),
    ...(input.signal ? { signal: input.signal } : {}),
    stdout: async (stdout) => {
      for await (const c of stdout) chunks.push(c as Buffer);
    },
  });
  return Buffer.concat(chunks).toString('latin1');
}

/** More than this read before pg_restore has the TOC means something is wrong: stop, with an error. */
const TOC_HOLD_MAX = 256 * 1024 * 1024;

/**
 * Reads the start of a custom-format archive stream until `pg_restore --list` (fed the same
 * bytes) has printed its table of contents; pg_restore stops after the TOC, which pg_dump writes
 * first. Returns the listing, the bytes read so far, and `rest`: the remaining bytes, paused.
 * `archive` (pg_dump's stdout) is piped into `rest` at once and never read directly: paused and
 * left without a 'data' listener, the child's stdout still flowed, and its tail was lost (a
 * small base failed in about one run of three with pg_restore's "could not read from input
 * file: end of file"); nothing but this function touches `rest`.
 */
async function readTocFromStream(
  input: PgDumpInput,
  archive: NodeJS.ReadableStream,
): Promise<{ listing: string; head: Buffer[]; ended: boolean; rest: PassThrough }> {
  const stream = archive.pipe(new PassThrough());
  const lister = execa(toolPath('pg_restore'), pgRestoreListArgs(), {
    env: childEnv(input.profile),
    extendEnv: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    encoding: 'buffer',
    ...(input.signal ? { cancelSignal: input.signal } : {}),
    forceKillAfterDelay: KILL_AFTER_MS,
  });
  lister.stdin?.on('error', () => undefined); // EPIPE: it stops reading after the TOC
  const head: Buffer[] = [];
  let held = 0;
  let ended = false;
  let tooLong = false;
  const onData = (chunk: Buffer) => {
    head.push(chunk);
    held += chunk.length;
    if (held > TOC_HOLD_MAX && !tooLong) {
      tooLong = true;
      lister.kill();
    }
    if (lister.stdin?.writable) lister.stdin.write(chunk);
  };
  const onEnd = () => {
    ended = true;
    lister.stdin?.end();
  };
  stream.on('data', onData);
  stream.once('end', onEnd);
  const result = await lister;
  stream.pause();
  stream.removeListener('data', onData);
  stream.removeListener('end', onEnd);
  if (tooLong) {
    throw new CommandFailedError(
      `pg_restore --list read more than ${TOC_HOLD_MAX} bytes of pg_dump's archive without finding the end of its table of contents`,
      {
        hint: 'check that pg_dump and pg_restore come from the same PostgreSQL installation (PGINCR_PG_BIN)',
      },
    );
  }
  if (result.exitCode !== 0) {
    const stderr = Buffer.from(result.stderr ?? new Uint8Array())
      .toString('utf8')
      .trim()
      .slice(-STDERR_TAIL);
    throw new CommandFailedError(`pg_restore --list failed${result.exitCode !== undefined ? ` with exit code ${result.exitCode}` : ''}: ${stderr}`, {
      hint: 'the command was: pg_dump --format=custom … | pg_restore --list --verbose',
    });
  }
  return { listing: Buffer.from(result.stdout ?? new Uint8Array()).toString('latin1'), head, ended, rest: stream };
}

/**
 * Dumps the database (in the given snapshot) without the `pgincr` schema and without pgincr's
 * triggers, chosen on the archive's table of contents (core/commands/dump-filter.ts).
 * - plain: `pg_dump --format=custom --compress=0` is streamed (no file) into
 *   `pg_restore --list` until its table of contents is known, then into
 *   `pg_restore --use-list=<list> --file=-`, whose SQL script is gzip-compressed into
 *   `dump.sql.gz`: all three run at once, as the plain pg_dump did.
 * - directory: the archive is the base; `listPath` gets the list for `pg_restore --use-list`.
 */
export async function runPgDump(input: PgDumpInput): Promise<PgDumpResult> {
  await checkPgDumpVersion(input.profile);
  const tmp = `${input.outPath}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  const excludeSchemas = input.excludeSchema ?? ['pgincr'];
  const signal = input.signal ? { signal: input.signal } : {};
  const snapshot = input.snapshot ? { snapshot: input.snapshot } : {};
  const total = { bytes: 0 };
  if (input.format === 'directory') {
    const args = pgDumpArgs({ format: 'directory', excludeSchemas, outPath: tmp, ...snapshot, ...(input.jobs ? { jobs: input.jobs } : {}) });
    await run({ profile: input.profile, program: 'pg_dump', args, ...signal });
    const listPath = input.listPath ?? join(dirname(input.outPath), BASE_FILES.dumpList);
    const dropped = await writeRestoreList(input, await listArchive(input, tmp), listPath);
    await rename(tmp, input.outPath);
    await fsyncPath(dirname(input.outPath));
    return { path: input.outPath, bytes: 0, droppedEventTriggers: dropped, listPath };
  }
  const listFile = `${input.outPath}.list.tmp`;
  const hash = createHash('sha256');
  let dropped = 0;
  try {
    await run({
      profile: input.profile,
      program: 'pg_dump',
      ...signal,
      args: pgDumpArgs({ format: 'custom', excludeSchemas, compress: 0, ...snapshot }),
      stdout: async (archive) => {
        const toc = await readTocFromStream(input, archive);
        dropped = await writeRestoreList(input, toc.listing, listFile);
        const feed = new PassThrough();
        const restoring = run({
          profile: input.profile,
          program: 'pg_restore',
          args: pgRestoreScriptArgs({ listFile }),
          stdin: feed,
          ...signal,
          stdout: (script) =>
            pipeline(
              script,
              counter(input.onProgress, total),
              createGzip(),
              new Transform({
                transform(chunk: Buffer, _e, done) {
                  hash.update(chunk);
                  done(null, chunk);
                },
              }),
              createWriteStream(tmp, { mode: 0o600 }),
            ),
        });
        for (const chunk of toc.head) feed.write(chunk);
        // `rest` may have ended (its 'end' emitted) since the TOC was read: then head is everything.
        const feeding = toc.ended || toc.rest.readableEnded ? Promise.resolve(feed.end()).then(() => undefined) : pipeline(toc.rest, feed);
        await Promise.all([feeding, restoring]);
      },
    });
    await fsyncPath(tmp);
    await rename(tmp, input.outPath);
    await fsyncPath(dirname(input.outPath));
    input.onProgress?.({ bytes: total.bytes });
    return { path: input.outPath, bytes: total.bytes, droppedEventTriggers: dropped, sha256: hash.digest('hex') };
  } finally {
    await rm(listFile, { force: true });
  }
}

/** `pg_dumpall --globals-only` into `outPath` (plain SQL). */
export async function runPgDumpall(input: {
  profile: Profile;
  outPath: string;
  noRolePasswords: boolean;
  database?: string;
  signal?: AbortSignal;
}): Promise<{ path: string }> {
  const tmp = `${input.outPath}.tmp`;
  await run({
    profile: input.profile,
    program: 'pg_dumpall',
    args: pgDumpallGlobalsArgs({ noRolePasswords: input.noRolePasswords, ...(input.database ? { database: input.database } : {}) }),
    ...(input.signal ? { signal: input.signal } : {}),
    stdout: (stdout) => pipeline(stdout, createWriteStream(tmp, { mode: 0o600 })),
  });
  await fsyncPath(tmp);
  await rename(tmp, input.outPath);
  await fsyncPath(dirname(input.outPath));
  return { path: input.outPath };
}

/** Replays a SQL script (`.gz` is decompressed on the fly) with psql, ON_ERROR_STOP. */
export async function runPsqlScript(input: { profile: Profile; file: string; signal?: AbortSignal; singleTransaction?: boolean }): Promise<void> {
  const source = createReadStream(input.file);
  const stdin = input.file.endsWith('.gz') ? source.pipe(createGunzip()) : source;
  await run({
    profile: input.profile,
    program: 'psql',
    args: psqlFileArgs('-', { singleTransaction: input.singleTransaction ?? false }),
    stdin,
    ...(input.signal ? { signal: input.signal } : {}),
  });
}

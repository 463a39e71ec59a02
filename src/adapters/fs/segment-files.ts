/**
 * Reading segment files from disk: streaming scans (gzip read transparently, bounded memory),
 * listings of sealed and open segments, and atomic gzip of a sealed segment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { setPriority } from 'node:os';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, pipeline as pipelineCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { SegmentCorruptError } from '../../errors';
import type { Lsn } from '../../core/lsn';
import { PARTIAL_DIR, SEGMENTS_DIR } from '../../core/repository/paths';
import { isDateFolder, parseSegmentName } from '../../core/segment/naming';
import { SegmentScanner, checkScan, type ScanResult } from '../../core/segment/scan';
import { fsyncDir, removeAbandonedTemps, tempPathFor } from './atomic-write';

/** A scan of a file plus the facts about the stored bytes. */
export interface FileScan {
  scan: ScanResult;
  scanner: SegmentScanner;
  /** Size of the stored file. */
  bytes: number;
  /** SHA-256 of the stored file (compressed bytes for `.gz`). */
  sha256: string;
  /** SHA-256 of the uncompressed content. */
  sha256Uncompressed: string;
}

/** Streams a segment file (`.gz` decompressed on the fly) through the scanner. */
export async function scanSegmentFile(path: string): Promise<FileScan> {
  const scanner = new SegmentScanner(path);
  const stored = createHash('sha256');
  const plain = createHash('sha256');
  let bytes = 0;
  const tapStored = new Transform({
    transform(chunk: Buffer, _enc, done) {
      stored.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const sink = new Transform({
    transform(chunk: Buffer, _enc, done) {
      plain.update(chunk);
      scanner.push(chunk);
      done();
    },
  });
  const stages = path.endsWith('.gz') ? [createGunzip()] : [];
  try {
    await pipeline(createReadStream(path), tapStored, ...stages, sink);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw error;
    throw new SegmentCorruptError(`${path}: cannot be read (${(error as Error).message})`, { cause: error });
  }
  const scan = scanner.finish();
  const sha256 = stored.digest('hex');
  return { scan, scanner, bytes, sha256, sha256Uncompressed: path.endsWith('.gz') ? plain.digest('hex') : sha256 };
}

/** Read size of the applier's segment reads (a chunk is referenced until its statements are sent). */
const READ_CHUNK = 256 * 1024;

/**
 * A segment file's bytes in chunks, `.gz` uncompressed on the fly, the first `limit` of them when
 * given (an open segment's planned prefix); `handle` reads an already opened file from its start
 * (the same file whatever is renamed or removed meanwhile). Nothing is held beyond the chunk the
 * reader is at. Errors: ENOENT as is, others as SegmentCorruptError naming the file.
 */
export async function* segmentChunks(path: string, options: { limit?: number; handle?: FileHandle } = {}): AsyncGenerator<Buffer> {
  const source = options.handle ? Readable.from(readFrom(options.handle), { objectMode: false }) : createReadStream(path, { highWaterMark: READ_CHUNK });
  const stream = path.endsWith('.gz') ? pipelineCallback(source, createGunzip({ chunkSize: READ_CHUNK }), () => undefined) : source;
  let left = options.limit ?? Infinity;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (left <= 0) break;
      const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= part.length;
      yield part;
    }
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw error;
    throw new SegmentCorruptError(`${path}: cannot be read (${(error as Error).message})`, {
      cause: error,
      hint: path.endsWith('.gz') ? 'restore the file from a copy; `gzip -t` shows the damage' : 'check the repository file system',
    });
  } finally {
    stream.destroy();
  }
}

/** An open file's bytes from its start, in chunks (the handle stays open: a stream would close it). */
async function* readFrom(handle: FileHandle): AsyncGenerator<Buffer> {
  for (let position = 0; ;) {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** A whole segment file's bytes, uncompressed (tests and benchmarks; the restore streams: {@link segmentChunks}). */
export async function readSegmentFile(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of segmentChunks(path)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Scans and verifies a sealed segment file; throws {@link SegmentCorruptError} naming the offset. */
export async function verifySegmentFile(path: string): Promise<FileScan> {
  const result = await scanSegmentFile(path);
  const checked = checkScan(result.scan, path);
  if (!checked.ok) throw checked.error;
  return result;
}

/** A sealed segment found on disk. */
export interface SealedFile {
  /** Relative to the chain folder: `segments/<date>/<name>`. */
  file: string;
  path: string;
  startLsn: Lsn;
  endLsn: Lsn;
  compressed: boolean;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Sealed segments in start-LSN order. When both `x.sql` and `x.sql.gz` exist (a crash during
 * compression), the `.gz` is listed: it was written atomically, so it is complete.
 */
export async function listSealedSegments(chain: string): Promise<SealedFile[]> {
  const found = new Map<string, SealedFile>();
  for (const date of (await listDir(join(chain, SEGMENTS_DIR))).filter(isDateFolder)) {
    for (const name of await listDir(join(chain, SEGMENTS_DIR, date))) {
      const parsed = parseSegmentName(name);
      if (parsed?.kind !== 'sealed') continue;
      const file = `${SEGMENTS_DIR}/${date}/${name}`;
      const stem = file.replace(/\.gz$/, '');
      if (found.get(stem)?.compressed) continue;
      found.set(stem, { file, path: join(chain, file), startLsn: parsed.startLsn, endLsn: parsed.endLsn, compressed: parsed.compressed });
    }
  }
  return [...found.values()].sort((a, b) => (a.startLsn < b.startLsn ? -1 : a.startLsn > b.startLsn ? 1 : 0));
}

/** The open segment, if any. More than one is a broken invariant and is refused. */
export async function findPartial(chain: string): Promise<{ path: string; startLsn: Lsn } | null> {
  const partials = (await listDir(join(chain, PARTIAL_DIR)))
    .map((name) => ({ name, parsed: parseSegmentName(name) }))
    .filter((p) => p.parsed?.kind === 'partial');
  if (partials.length > 1) {
    throw new SegmentCorruptError(`${join(chain, PARTIAL_DIR)}: ${partials.length} open segments (${partials.map((p) => p.name).join(', ')})`, {
      hint: 'only one capture may write a chain; stop the others, keep the partial with the higher start LSN and move the other away',
    });
  }
  const p = partials[0];
  return p?.parsed ? { path: join(chain, PARTIAL_DIR, p.name), startLsn: p.parsed.startLsn } : null;
}

/** Removes `x.sql` where `x.sql.gz` exists (left by a crash between compression and removal). */
export async function removeCompressedLeftovers(chain: string): Promise<string[]> {
  const removed: string[] = [];
  for (const date of (await listDir(join(chain, SEGMENTS_DIR))).filter(isDateFolder)) {
    const dir = join(chain, SEGMENTS_DIR, date);
    // A gzip's temp file, written when a kill came (the .sql it was made from is still there).
    for (const name of await removeAbandonedTemps(dir)) removed.push(join(dir, name));
    const names = new Set(await listDir(dir));
    for (const name of names) {
      if (name.endsWith('.sql') && names.has(`${name}.gz`)) {
        await unlink(join(dir, name));
        removed.push(join(dir, name));
      }
    }
    if (removed.length > 0) await fsyncDir(dir);
  }
  return removed;
}

/**
 * CPU priority of the gzip process (nice 10): compression is background work, so on a busy
 * host it yields to the database and to the stream it backs up (in-process zlib ran at the
 * worker's priority and took a quarter of the capture's CPU while draining a backlog).
 */
export const GZIP_NICE = 10;

/**
 * gzips `path` into `path.gz` atomically (temp, fsync, rename, fsync folder); returns the .gz
 * size and SHA-256. The compression runs in a `gzip -6 -n` child process at low CPU priority
 * (GZIP_NICE); where no `gzip` program exists, in-process zlib at the same level.
 */
export async function gzipFileAtomic(path: string): Promise<{ path: string; bytes: number; sha256: string }> {
  const target = `${path}.gz`;
  const temp = tempPathFor(target);
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    const child = await spawnGzip(path);
    if (child) {
      const exited = new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code) => resolve(code));
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await pipeline(child.stdout!, tap, createWriteStream(temp, { mode: 0o600, flags: 'wx' }));
      const code = await exited;
      if (code !== 0) throw new Error(`gzip of ${path} exited with code ${code}: ${stderr.trim()}`);
    } else {
      await pipeline(createReadStream(path), createGzip({ level: 6 }), tap, createWriteStream(temp, { mode: 0o600, flags: 'wx' }));
    }
    const handle = await open(temp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await fsyncDir(join(path, '..'));
  return { path: target, bytes, sha256: hash.digest('hex') };
}

/** `gzip -6 -n -c path`, reniced; null when there is no gzip program to run. */
async function spawnGzip(path: string): Promise<ChildProcess | null> {
  const child = spawn('gzip', ['-6', '-n', '-c', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const started = await new Promise<boolean>((resolve, reject) => {
    child.once('spawn', () => resolve(true));
    child.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve(false) : reject(err)));
  });
  if (!started) return null;
  try {
    setPriority(child.pid!, GZIP_NICE);
  } catch {
    // not permitted here: it still works, at normal priority
  }
  return child;
}

/**
 * The last durable end LSN of a chain folder: the end of the last whole transaction in the
 * partial, or else the end LSN of the last sealed segment; null when nothing was written yet.
 * The capture restarts the stream from here.
 */
export async function findResumePoint(chain: string): Promise<{ lsn: Lsn; source: 'partial' | 'sealed'; file: string } | null> {
  const sealed = (await listSealedSegments(chain)).at(-1);
  const partial = await findPartial(chain);
  if (partial) {
    const { scan } = await scanSegmentFile(partial.path);
    const end = scan.transactions.at(-1)?.endLsn ?? scan.header.startLsn;
    if (!sealed || end >= sealed.endLsn) return { lsn: end, source: 'partial', file: partial.path };
  }
  return sealed ? { lsn: sealed.endLsn, source: 'sealed', file: sealed.path } : null;
}

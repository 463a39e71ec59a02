/**
 * The raw files of the decoder_raw capture, in `<chain>/raw/`:
 * - `current.raw`: the file the running pg_recvlogical appends to;
 * - `<seq 12 digits>.raw`: closed files (moved away by a rotation or before a restart), processed
 *   in sequence order. A transaction can span two files (a rotation between its BEGIN and
 *   COMMIT), so pending files are read as one byte sequence, a bounded window at a time; a file
 *   is deleted only once every one of its bytes is in whole transactions written to the segment
 *   (its open tail stays for the next round).
 */
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { rawDir } from '../../core/repository/paths';
import { ensureDir, fsyncDir } from '../../adapters/fs/atomic-write';
import { splitRawMessages } from '../../core/decoding/decoder-raw';

const CLOSED = /^(\d{12})\.raw$/;

export { rawDir };
export const currentRawPath = (chain: string) => join(rawDir(chain), 'current.raw');

export interface ClosedRawFile {
  seq: number;
  path: string;
}

/** Closed raw files, in sequence order. */
export async function listClosedRawFiles(chain: string): Promise<ClosedRawFile[]> {
  await ensureDir(rawDir(chain));
  const names = await readdir(rawDir(chain));
  return names
    .map((n) => CLOSED.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ seq: Number(m[1]), path: join(rawDir(chain), m[0]) }))
    .sort((a, b) => a.seq - b.seq);
}

/** The path for the next closed file. */
export async function nextClosedRawPath(chain: string): Promise<string> {
  const files = await listClosedRawFiles(chain);
  const seq = (files.at(-1)?.seq ?? 0) + 1;
  return join(rawDir(chain), `${String(seq).padStart(12, '0')}.raw`);
}

/**
 * Moves a leftover `current.raw` (no process writes it: the one before crashed or was stopped)
 * to the next closed name, cut after its last whole message (a crash can leave half of one).
 */
export async function closeLeftoverCurrent(chain: string): Promise<boolean> {
  const current = currentRawPath(chain);
  let size = await stat(current).then(
    (s) => s.size,
    () => -1,
  );
  if (size < 0) return false;
  if (size > 0) {
    const whole = splitRawMessages((await readFile(current)).toString('latin1')).at(-1)?.end ?? 0;
    if (whole < size) {
      const handle = await open(current, 'r+');
      await handle.truncate(whole);
      await handle.sync();
      await handle.close();
      size = whole;
    }
  }
  if (size === 0) {
    await unlink(current);
    return false;
  }
  await rename(current, await nextClosedRawPath(chain));
  await fsyncDir(rawDir(chain));
  return true;
}

/** Each pending file's end offset in the pending bytes (the files one after another). */
export async function pendingEnds(files: readonly ClosedRawFile[]): Promise<number[]> {
  const ends: number[] = [];
  let offset = 0;
  for (const f of files) {
    offset += (await stat(f.path)).size;
    ends.push(offset);
  }
  return ends;
}

/**
 * Bytes `[from, from + maxBytes)` of the pending files (as one byte string, latin1: one char
 * per byte, so string offsets are byte offsets). `ends` from {@link pendingEnds}.
 */
export async function readPendingRange(files: readonly ClosedRawFile[], ends: readonly number[], from: number, maxBytes: number): Promise<string> {
  const parts: string[] = [];
  let pos = from;
  const to = Math.min(from + maxBytes, ends.at(-1) ?? 0);
  for (let i = 0; i < files.length && pos < to; i++) {
    const start = i === 0 ? 0 : (ends[i - 1] as number);
    const end = ends[i] as number;
    if (end <= pos) continue;
    const length = Math.min(end, to) - pos;
    const buf = Buffer.alloc(length);
    const handle = await open((files[i] as ClosedRawFile).path, 'r');
    try {
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(buf, got, length - got, pos - start + got);
        if (bytesRead === 0) throw new Error(`${(files[i] as ClosedRawFile).path}: shorter than ${end - start} bytes while being read`);
        got += bytesRead;
      }
    } finally {
      await handle.close();
    }
    parts.push(buf.toString('latin1'));
    pos += length;
  }
  return parts.join('');
}

/** Deletes the files that end at or before `processed` (bytes of the pending text now in segments). */
export async function deleteProcessed(chain: string, files: readonly ClosedRawFile[], ends: readonly number[], processed: number): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < files.length; i++) {
    if ((ends[i] ?? Infinity) > processed) break;
    await unlink((files[i] as ClosedRawFile).path);
    deleted += 1;
  }
  if (deleted > 0) await fsyncDir(rawDir(chain));
  return deleted;
}

/**
 * Calls `scan` on the closed files' bytes, a chunk at a time; chunks overlap by `overlap` bytes
 * so a short pattern across a chunk boundary is seen whole.
 */
export async function scanClosedRawFiles(chain: string, scan: (text: string) => void, chunkBytes = 4 * 1024 * 1024, overlap = 512): Promise<void> {
  const files = await listClosedRawFiles(chain);
  const ends = await pendingEnds(files);
  const total = ends.at(-1) ?? 0;
  for (let from = 0; from < total; from += chunkBytes) {
    scan(await readPendingRange(files, ends, Math.max(0, from - overlap), chunkBytes + (from > 0 ? overlap : 0)));
  }
}

/**
 * Checks a restore plan against the files before anything touches the target: the repository
 * and the chain folder exist, the base's dump is there (and matches its recorded SHA-256), and
 * every planned segment exists and verifies on its own (header, grammar, footer counts, body
 * checksum, and the LSN range the catalog recorded). A missing segment is a gap named by LSN; a
 * damaged or truncated one is refused naming the file and the byte offset. The catalog is a
 * cache, so the files are the authority.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ConfigError, PlanError, SegmentCorruptError } from '../errors';
import { formatLsn, parseLsn } from '../core/lsn';
import type { BaseEntry, SegmentEntry } from '../core/catalog/schema';
import { parseChainDirName } from '../core/repository/paths';
import { firstProblem, type ScanIssue, type ScanResult } from '../core/segment/scan';
import { scanSegmentFile } from '../adapters/fs/segment-files';

const REPOSITORY_HINT = 'check repository in the configuration (or PGINCR_REPOSITORY), and that the backup volume is mounted';

async function kind(path: string): Promise<'dir' | 'file' | 'missing'> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file';
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw new ConfigError(`${path} cannot be read (${code ?? (err as Error).message})`, { cause: err, hint: REPOSITORY_HINT });
  }
}

/** The repository and the chain folder exist; else a ConfigError / PlanError naming the path. */
export async function checkChainFolder(repository: string, chain: string): Promise<void> {
  const repo = await kind(repository);
  if (repo !== 'dir') {
    throw new ConfigError(`repository ${repository} ${repo === 'file' ? 'is a file, not a folder' : 'does not exist'}`, { hint: REPOSITORY_HINT });
  }
  if ((await kind(chain)) === 'dir') return;
  const chains = (await readdir(repository).catch(() => [] as string[])).filter((n) => parseChainDirName(n) !== null);
  throw new PlanError(`no backup chain ${chain} in repository ${repository}`, {
    hint: chains.length
      ? `chains there: ${chains.join(', ')}; is the profile the database that was backed up?`
      : `the repository holds no chain: ${REPOSITORY_HINT}`,
  });
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** The base folder and its dump exist; a plain dump matches the SHA-256 recorded when it was taken. */
export async function checkBaseFiles(chain: string, base: BaseEntry, dumpFile: string): Promise<void> {
  const dir = join(chain, base.dir);
  const path = join(dir, dumpFile);
  if ((await kind(path)) === 'missing') {
    throw new PlanError(`base ${base.id}: ${path} is missing`, {
      hint: 'restore the base folder from a copy, or choose another base with --from-base',
    });
  }
  if (base.format === 'plain' && base.dumpSha256) {
    const actual = await sha256Of(path);
    if (actual !== base.dumpSha256) {
      throw new SegmentCorruptError(`base ${base.id}: ${path} has sha256 ${actual}, recorded ${base.dumpSha256}`, {
        hint: 'the dump is damaged: restore it from a copy, or choose another base with --from-base',
      });
    }
  }
}

/** The stored file of a catalog entry: the recorded name, else its (un)compressed twin. */
async function segmentFile(chain: string, entry: SegmentEntry): Promise<string | null> {
  const recorded = join(chain, entry.file);
  const twin = recorded.endsWith('.gz') ? recorded.slice(0, -3) : `${recorded}.gz`;
  for (const path of [recorded, twin]) if ((await kind(path)) === 'file') return path;
  return null;
}

/** The scanner's problem in words; a checksum mismatch cannot say which byte changed, only the range it covers. */
function describeProblem(problem: ScanIssue): string {
  if (problem.problem.startsWith('body_sha256 mismatch')) {
    return `${problem.problem}: a byte between offset 0 and offset ${problem.offset} (the footer) was changed`;
  }
  return `${problem.problem} at offset ${problem.offset}`;
}

/** Where the chain is still whole before `entry`: a safe `--to-lsn` (never before the base). */
function wholeUpTo(entry: SegmentEntry, baseLsn: string): string {
  return formatLsn(parseLsn(entry.startLsn) > parseLsn(baseLsn) ? parseLsn(entry.startLsn) : parseLsn(baseLsn));
}

/**
 * Verifies every planned segment in order; returns their absolute paths. Throws PlanError for
 * a missing file (a gap from its start to its end LSN) and SegmentCorruptError (file, offset)
 * for a damaged, truncated or mismatching one. `roleLines` gets the segments' `SET ROLE` lines.
 */
export async function checkSegmentFiles(
  chain: string,
  segments: readonly SegmentEntry[],
  baseLsn: string,
  onProgress?: (done: number) => void,
  roleLines?: Set<string>,
): Promise<string[]> {
  const paths: string[] = [];
  for (const [i, entry] of segments.entries()) {
    const safe = `the chain is whole up to ${wholeUpTo(entry, baseLsn)}: restore with --to-lsn ${wholeUpTo(entry, baseLsn)} to stop before it`;
    const path = await segmentFile(chain, entry);
    if (!path) {
      throw new PlanError(`segment ${join(chain, entry.file)} is missing: the chain has a gap from ${entry.startLsn} to ${entry.endLsn}`, {
        hint: `restore the file from a copy; or ${safe}`,
      });
    }
    const damaged = (what: string, cause?: unknown) =>
      new SegmentCorruptError(`segment ${entry.startLsn} to ${entry.endLsn} is damaged: ${what}`, {
        cause,
        hint: `nothing was restored; restore the file from a copy; or ${safe}`,
      });
    let scan: ScanResult;
    try {
      scan = (await scanSegmentFile(path)).scan;
    } catch (err) {
      if (!(err instanceof SegmentCorruptError)) throw err;
      throw damaged(err.message.split('\nhint: ')[0] ?? err.message, err);
    }
    const problem = firstProblem(scan);
    if (problem) throw damaged(`${path}: ${describeProblem(problem)}`);
    const [start, end] = [scan.header.startLsn, scan.footer?.lastEndLsn];
    if (start !== parseLsn(entry.startLsn) || end !== parseLsn(entry.endLsn)) {
      throw damaged(`${path} holds ${formatLsn(start)} to ${end === undefined ? '?' : formatLsn(end)}, not what the catalog recorded (at offset 0)`);
    }
    paths.push(path);
    for (const line of scan.roleLines) roleLines?.add(line);
    onProgress?.(i + 1);
  }
  return paths;
}

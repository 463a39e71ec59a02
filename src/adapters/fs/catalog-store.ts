/**
 * The catalog on disk (`catalog/catalog.json`): load, save atomically, update under a lock
 * (updateCatalog: use it for every load → modify → save), rebuild from the files alone (base
 * `metadata.json`/`checksums.json`, segment headers and footers, checkpoints).
 * Like pgBackRest's `historyLoad` beside the pure `historyParse`: I/O here, rules in core.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigError, SegmentCorruptError } from '../../errors';
import { addBase, addCheckpoint, addSegment, emptyCatalog } from '../../core/catalog/catalog';
import { catalogSchema, type BaseEntry, type Catalog, type SegmentEntry } from '../../core/catalog/schema';
import { fileHexToLsn, formatLsn, parseLsn } from '../../core/lsn';
import {
  BASE_DIR,
  BASE_FILES,
  CHECKPOINTS_DIR,
  baseDir,
  baseRelDir,
  catalogPath,
  checkpointRelPath,
  parseBaseId,
  parseChainDirName,
} from '../../core/repository/paths';
import { normalizeTime } from '../../core/segment/commit-time';
import { checkScan } from '../../core/segment/scan';
import { ensureDir, isTempName, writeFileAtomic } from './atomic-write';
import { withCatalogLock, type CatalogLockOptions } from './catalog-lock';
import { faultPoint } from '../fault-point';
import { listSealedSegments, scanSegmentFile } from './segment-files';

function isMissing(error: unknown): boolean {
  return (error as { code?: string }).code === 'ENOENT';
}

/** Reads and validates the catalog; null when the chain has none yet. */
export async function loadCatalog(chain: string): Promise<Catalog | null> {
  const path = catalogPath(chain);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON`, { cause: error, hint: 'rebuild the catalog from the files (rebuildCatalog)' });
  }
  const parsed = catalogSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`${path}: invalid catalog: ${issues}`, { hint: 'rebuild the catalog from the files (rebuildCatalog)' });
  }
  return parsed.data;
}

/** Validates and writes the catalog atomically (0600, folder 0700). */
export async function saveCatalog(chain: string, catalog: Catalog): Promise<void> {
  const valid = catalogSchema.parse(catalog);
  const path = catalogPath(chain);
  await ensureDir(dirname(path));
  await writeFileAtomic(path, `${JSON.stringify(valid, null, 2)}\n`);
}

/**
 * Load → modify → save under the chain's catalog lock (see catalog-lock.ts), so concurrent
 * updates from activities, processes or hosts all land. `update` gets the current catalog (null
 * when none exists yet) and returns the new one, which is validated and saved; returns it.
 * Keep `update` short: other updaters wait for it.
 */
export function updateCatalog(chain: string, update: (catalog: Catalog | null) => Catalog | Promise<Catalog>, options?: CatalogLockOptions): Promise<Catalog> {
  return withCatalogLock(
    chain,
    async () => {
      const next = await update(await loadCatalog(chain));
      faultPoint('mid-catalog-update');
      await saveCatalog(chain, next);
      return next;
    },
    options,
  );
}

async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

async function folderBytes(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(path)) if (!isTempName(name)) total += await folderBytes(join(path, name));
  return total;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch (error) {
    if (isMissing(error)) return {};
    throw new ConfigError(`${path}: cannot be read as JSON`, { cause: error });
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * Describes a base backup folder for the catalog, from its files: the LSN and time from
 * `metadata.json` (`lsn`, `takenAt`, `dumpSha256`), falling back to the folder name; the
 * format from whether `dump.dir/` exists; the size of every file.
 */
export async function describeBase(chain: string, id: string): Promise<BaseEntry> {
  const dir = baseDir(chain, id);
  const meta = await readJson(join(dir, BASE_FILES.metadata));
  const fromName = parseBaseId(id);
  const lsnText = str(meta['lsn']) ?? (fromName ? formatLsn(fromName.lsn) : undefined);
  const takenAt = str(meta['takenAt']) ?? fromName?.takenAt;
  if (!lsnText || !takenAt) {
    throw new ConfigError(`${dir}: base backup without lsn or takenAt (metadata.json) and the folder name is not <time>_<lsn16>`);
  }
  const isDirectory = await stat(join(dir, BASE_FILES.dumpDirectory)).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const dumpSha256 = str(meta['dumpSha256']);
  return {
    id,
    dir: baseRelDir(id),
    lsn: formatLsn(parseLsn(lsnText)),
    takenAt: normalizeTime(takenAt),
    format: isDirectory ? 'directory' : 'plain',
    bytes: await folderBytes(dir),
    ...(dumpSha256 ? { dumpSha256 } : {}),
    checksumsFile: `${baseRelDir(id)}/${BASE_FILES.checksums}`,
  };
}

/** Describes a sealed segment for the catalog, from its header and footer; throws if it fails verification. */
export async function describeSegment(chain: string, file: string): Promise<SegmentEntry> {
  const path = join(chain, file);
  const result = await scanSegmentFile(path);
  const checked = checkScan(result.scan, path);
  if (!checked.ok) throw checked.error;
  const { scan } = result;
  const first = scan.transactions[0];
  const last = scan.transactions.at(-1);
  if (!first || !last) throw new SegmentCorruptError(`${path}: sealed segment without transactions at offset ${scan.headerLength}`);
  const compressed = file.endsWith('.gz');
  return {
    file,
    startLsn: formatLsn(scan.header.startLsn),
    endLsn: formatLsn(last.endLsn),
    firstCommitTime: first.commitTime,
    lastCommitTime: last.commitTime,
    transactions: scan.transactions.length,
    changes: scan.transactions.reduce((n, t) => n + t.changes, 0),
    bytes: result.bytes,
    sha256: result.sha256,
    compressed,
    ...(compressed ? { sha256Uncompressed: result.sha256Uncompressed } : {}),
  };
}

/**
 * Adds to the catalog every sealed segment file it does not list (by exact file name). A crash
 * between a seal's rename and its catalog entry leaves such a file: it is durable and valid, and
 * without its entry a restore plan would see a gap. The capture calls this before resuming.
 * Returns the files added.
 */
export async function recordUnlistedSegments(chain: string, init: () => Catalog): Promise<string[]> {
  const sealed = await listSealedSegments(chain);
  const listed = new Set((await loadCatalog(chain))?.segments.map((s) => s.file) ?? []);
  if (sealed.every((s) => listed.has(s.file))) return []; // the usual case: no lock, no rewrite
  const added: string[] = [];
  await updateCatalog(chain, async (current) => {
    let catalog = current ?? init();
    const inCatalog = new Set(catalog.segments.map((s) => s.file));
    for (const s of sealed) {
      if (inCatalog.has(s.file)) continue;
      catalog = addSegment(catalog, await describeSegment(chain, s.file));
      added.push(s.file);
    }
    return catalog;
  });
  return added;
}

/**
 * Rebuilds the catalog of a chain folder from the files alone. Verifications are history, not
 * files: they are carried over from the existing catalog when it is readable. A sealed segment
 * that fails verification is left out (the catalog then shows the gap it leaves, invariant 1)
 * and its error (file and byte offset) is pushed to `damaged`: what is whole is recovered.
 * Without `damaged` the first damaged segment throws.
 */
export async function rebuildCatalog(chain: string, damaged?: string[]): Promise<Catalog> {
  const names = parseChainDirName(basename(chain));
  if (!names) throw new ConfigError(`${chain}: not a chain folder (<system_identifier>-<dbname>)`);
  let catalog = emptyCatalog(names.systemIdentifier, names.database);
  for (const id of await listNames(join(chain, BASE_DIR))) {
    if (isTempName(id) || !(await stat(baseDir(chain, id))).isDirectory()) continue;
    catalog = addBase(catalog, await describeBase(chain, id));
  }
  for (const sealed of await listSealedSegments(chain)) {
    try {
      catalog = addSegment(catalog, await describeSegment(chain, sealed.file));
    } catch (error) {
      if (!damaged || !(error instanceof SegmentCorruptError)) throw error;
      damaged.push(error.message.split('\n')[0] ?? error.message);
    }
  }
  for (const name of await listNames(join(chain, CHECKPOINTS_DIR))) {
    const m = /^([0-9A-F]{16})\.json$/.exec(name);
    if (!m) continue;
    const lsn = fileHexToLsn(m[1] as string);
    const json = await readJson(join(chain, CHECKPOINTS_DIR, name));
    const takenAt = str(json['takenAt']) ?? (await stat(join(chain, CHECKPOINTS_DIR, name))).mtime.toISOString();
    catalog = addCheckpoint(catalog, { lsn: formatLsn(lsn), takenAt: normalizeTime(takenAt), file: checkpointRelPath(lsn) });
  }
  const previous = await loadCatalog(chain).catch(() => null);
  if (previous) catalog = { ...catalog, verifications: previous.verifications };
  return catalog;
}

/** The chain's catalog, rebuilt from the files when there is none (a lost or never-written catalog.json). */
export async function loadOrRebuildCatalog(chain: string): Promise<Catalog> {
  return (await loadCatalog(chain)) ?? rebuildCatalog(chain);
}

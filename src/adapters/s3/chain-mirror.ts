/**
 * A chain folder and its copy in an object store (docs/s3-repository.md): push uploads what the
 * bucket lacks, files first and the catalog last (so the bucket's catalog never lists a file the
 * bucket does not hold); pull downloads what the local folder lacks and merges the bucket's
 * catalog into the local one. Files are immutable once written (sealed segments, base files,
 * checkpoints), so "lacks" is by name and size. The catalog, which several workers update, is
 * written with a conditional put (If-Match on the ETag read, If-None-Match for the first one)
 * and merged again when another writer got there first: no entry is ever lost.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isExpiredFile, mergeCatalogs, withExpired } from '../../core/catalog/catalog';
import { catalogSchema, type Catalog } from '../../core/catalog/schema';
import { isMirrored } from '../../core/repository/object-store';
import { CATALOG_FILE, SEGMENTS_DIR } from '../../core/repository/paths';
import { ObjectStoreError } from '../../errors';
import { loadCatalog, updateCatalog } from '../fs/catalog-store';
import type { ObjectStore } from './object-store';

/** Conditional catalog writes tried before giving up (each loss means another writer's update landed). */
const CATALOG_ATTEMPTS = 20;

export interface PushResult {
  uploaded: string[];
  /** The catalog now in the bucket (the local one merged with what other workers wrote). */
  catalog: Catalog | null;
}

/** Files under `chainDir` (paths relative to it, `/`-separated) that belong in the bucket, with their sizes. */
async function localFiles(chainDir: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  let entries;
  try {
    entries = await readdir(chainDir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return files;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const rel = full
      .slice(chainDir.length + 1)
      .split('\\')
      .join('/');
    if (!isMirrored(rel) || rel === CATALOG_FILE) continue;
    files.set(rel, (await stat(full)).size);
  }
  return files;
}

/** Objects of the chain in the bucket (paths relative to the chain folder) with their sizes. */
async function storedFiles(store: ObjectStore, chain: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for await (const o of store.list(chain)) {
    const rel = o.path.slice(chain.length + 1);
    // A key is any string: one with an empty, `.` or `..` part would name a file outside the chain folder here.
    if (rel.split('/').some((part) => part === '' || part === '.' || part === '..')) continue;
    files.set(rel, o.bytes);
  }
  return files;
}

function parseStoredCatalog(store: ObjectStore, path: string, text: string): Catalog {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ObjectStoreError(`${store.describe(path)}: not valid JSON`, { cause, hint: 'rebuild the catalog from the bucket (pgincr catalog rebuild)' });
  }
  const parsed = catalogSchema.safeParse(json);
  if (!parsed.success) {
    throw new ObjectStoreError(`${store.describe(path)}: invalid catalog: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, {
      hint: 'rebuild the catalog from the bucket (pgincr catalog rebuild)',
    });
  }
  return parsed.data;
}

/** The bucket's catalog of a chain (null when it has none). */
export async function loadStoredCatalog(store: ObjectStore, chain: string): Promise<Catalog | null> {
  const path = `${chain}/${CATALOG_FILE}`;
  const stored = await store.getText(path);
  return stored ? parseStoredCatalog(store, path, stored.text) : null;
}

/**
 * Merges `catalog` into the bucket's catalog of `chain` with conditional writes, retrying on a
 * lost race (re-read, re-merge). `replace` writes `catalog` as it is instead of merging (a
 * rebuild or retention, which remove entries). Returns what the bucket now holds.
 */
export async function storeCatalog(store: ObjectStore, chain: string, catalog: Catalog, options: { replace?: boolean } = {}): Promise<Catalog> {
  const path = `${chain}/${CATALOG_FILE}`;
  for (let attempt = 1; attempt <= CATALOG_ATTEMPTS; attempt++) {
    const stored = await store.getText(path);
    const current = stored ? parseStoredCatalog(store, path, stored.text) : null;
    const next = current && !options.replace ? mergeCatalogs(current, catalog) : catalog;
    if (current && JSON.stringify(current) === JSON.stringify(next)) return current;
    const written = await store.putIf(path, `${JSON.stringify(catalogSchema.parse(next), null, 2)}\n`, stored ? (stored.etag ?? null) : null);
    if (written !== null) return next;
    await new Promise((r) => setTimeout(r, Math.min(1000, 20 * attempt + Math.random() * 50))); // another writer won: read its catalog again
  }
  throw new ObjectStoreError(`${store.describe(path)}: ${CATALOG_ATTEMPTS} conditional writes lost to other writers`, {
    hint: 'too many workers update this catalog at once; the update is retried with the activity',
  });
}

/**
 * Uploads every file of the chain folder that the bucket lacks (or holds at another size), then
 * merges the local catalog into the bucket's. `only` limits the files considered (the capture
 * names the segment it just sealed, so it need not list the whole chain). Files retention
 * expired (in either catalog) are never uploaded again: a worker's stale copy stays local.
 */
export async function pushChain(store: ObjectStore, chainDir: string, options: { only?: string[] } = {}): Promise<PushResult> {
  const chain = basename(chainDir);
  const catalog = await loadCatalog(chainDir);
  const local = options.only
    ? new Map(await Promise.all(options.only.map(async (rel) => [rel, (await stat(join(chainDir, rel))).size] as const)))
    : await localFiles(chainDir);
  const stored = options.only ? new Map<string, number>() : await storedFiles(store, chain);
  const storedCatalog = options.only ? null : await loadStoredCatalog(store, chain);
  const expired = catalog ? withExpired(catalog, storedCatalog?.expired) : storedCatalog;
  // A sealed segment goes up once the catalog lists it: before that it may still be compressed (its .sql replaced by .gz).
  const listed = new Set(catalog?.segments.map((s) => s.file) ?? []);
  const uploaded: string[] = [];
  for (const [rel, bytes] of [...local].sort(([a], [b]) => a.localeCompare(b))) {
    if (stored.get(rel) === bytes || (rel.startsWith(`${SEGMENTS_DIR}/`) && !listed.has(rel)) || isExpiredFile(expired, rel)) continue;
    await store.putFile(`${chain}/${rel}`, join(chainDir, rel));
    uploaded.push(rel);
  }
  return { uploaded, catalog: catalog ? await storeCatalog(store, chain, catalog) : await loadStoredCatalog(store, chain) };
}

/**
 * Downloads every object of the chain that the local folder lacks (or holds at another size),
 * except those `skip` names, then merges the bucket's catalog into the local one. Files that
 * retention expired (a retention run on another worker) are neither downloaded nor kept: the
 * local copies are deleted. Returns the paths downloaded (relative to the chain folder).
 */
export async function pullChain(store: ObjectStore, chainDir: string, options: { skip?: (rel: string) => boolean } = {}): Promise<string[]> {
  const chain = basename(chainDir);
  const catalog = await loadStoredCatalog(store, chain);
  const stored = await storedFiles(store, chain);
  const local = await localFiles(chainDir);
  const downloaded: string[] = [];
  for (const [rel, bytes] of [...stored].sort(([a], [b]) => a.localeCompare(b))) {
    if (rel === CATALOG_FILE || !isMirrored(rel) || options.skip?.(rel) || local.get(rel) === bytes || isExpiredFile(catalog, rel)) continue;
    await store.downloadFile(`${chain}/${rel}`, join(chainDir, rel));
    downloaded.push(rel);
  }
  if (catalog) {
    const merged = await updateCatalog(chainDir, (mine) => (mine ? mergeCatalogs(mine, catalog) : catalog));
    await removeExpiredFiles(chainDir, merged, [...local.keys()]);
  }
  return downloaded;
}

/** Deletes the local files (of `files`, relative to the chain folder) that `catalog` records as expired; returns them. */
export async function removeExpiredFiles(chainDir: string, catalog: Catalog, files: readonly string[]): Promise<string[]> {
  const expired = files.filter((rel) => isExpiredFile(catalog, rel));
  for (const rel of expired) await rm(join(chainDir, rel), { force: true });
  return expired;
}

/**
 * Deletes from the bucket every object of the chain that its catalog records as expired
 * (retention: the catalog is written first, so a crash between leaves only unlisted objects,
 * which the next run deletes). Returns the paths deleted (relative to the chain folder).
 */
export async function deleteExpiredObjects(store: ObjectStore, chain: string): Promise<string[]> {
  const catalog = await loadStoredCatalog(store, chain);
  if (!catalog?.expired) return [];
  const deleted: string[] = [];
  for (const rel of (await storedFiles(store, chain)).keys()) {
    if (!isExpiredFile(catalog, rel)) continue;
    await store.delete(`${chain}/${rel}`);
    deleted.push(rel);
  }
  return deleted;
}

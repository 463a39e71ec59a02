/**
 * A chain folder and its copy in an object store (docs/s3-repository.md): push uploads what the
 * bucket lacks, files first and the catalog last (so the bucket's catalog never lists a file the
 * bucket does not hold); pull downloads what the local folder lacks and merges the bucket's
 * catalog into the local one. Files are immutable once written (sealed segments, base files,
 * checkpoints), so "lacks" is by name and size. The catalog, which several workers update, is
 * written with a conditional put (If-Match on the ETag read, If-None-Match for the first one)
 * and merged again when another writer got there first: no entry is ever lost.
 * With encryption (encryption.ts) every file but the catalog is stored as `<name>.age`, encrypted
 * on the way up and decrypted on the way down; the local folder always holds the plaintext.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { isExpiredFile, mergeCatalogs, withExpired } from '../../core/catalog/catalog';
import { catalogSchema, type Catalog } from '../../core/catalog/schema';
import { isMirrored, isSafeChainPath } from '../../core/repository/object-store';
import { ageFileBytes, fileOfStoredName, isEncryptedInStore, storedName } from '../../core/repository/encryption';
import { CATALOG_FILE, SEGMENTS_DIR } from '../../core/repository/paths';
import { EncryptionKeyError, ObjectStoreError } from '../../errors';
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

/** A chain file as the bucket holds it: its stored size, and whether it is an age file (`<file>.age`). */
interface StoredFile {
  /** The object's path relative to the chain folder (`<file>.age` when encrypted). */
  stored: string;
  bytes: number;
  encrypted: boolean;
}

/** Objects of the chain in the bucket, by the chain file they hold (paths relative to the chain folder). */
async function storedFiles(store: ObjectStore, chain: string): Promise<Map<string, StoredFile>> {
  const files = new Map<string, StoredFile>();
  for await (const o of store.list(chain)) {
    const stored = o.path.slice(chain.length + 1);
    // A key is any string: one with an empty, `.` or `..` part would name a file outside the chain folder here.
    if (!isSafeChainPath(stored)) continue;
    const { file, encrypted } = fileOfStoredName(stored);
    if (files.get(file)?.encrypted && !encrypted) continue; // a plain copy beside the age file: being replaced
    files.set(file, { stored, bytes: o.bytes, encrypted });
  }
  return files;
}

/**
 * Whether the bucket's copy of a chain file holds `plainBytes` bytes. An age file's size follows
 * from the plaintext's and the header's (fixed for one set of recipients); one written to other
 * recipients is asked for the plaintext size it recorded.
 */
async function sameSize(store: ObjectStore, chain: string, rel: string, stored: StoredFile, plainBytes: number): Promise<boolean> {
  if (!stored.encrypted) return stored.bytes === plainBytes;
  if (store.cipher?.canEncrypt && stored.bytes === ageFileBytes(plainBytes, await store.cipher.headerBytes())) return true;
  return (await store.plainBytes(`${chain}/${stored.stored}`)) === plainBytes;
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
  const stored = options.only ? new Map<string, StoredFile>() : await storedFiles(store, chain);
  const storedCatalog = options.only ? null : await loadStoredCatalog(store, chain);
  const expired = catalog ? withExpired(catalog, storedCatalog?.expired) : storedCatalog;
  if (!store.cipher && [...stored.values()].some((f) => f.encrypted)) {
    throw new EncryptionKeyError(
      `${store.describe(chain)} holds age-encrypted files and this worker has no encryption configured: it would upload in the clear`,
      {
        hint: 'give this worker the repository\'s recipients (repository.encryption.recipients or PGINCR_AGE_RECIPIENTS; docs/s3-repository.md, "Encryption")',
      },
    );
  }
  // A sealed segment goes up once the catalog lists it: before that it may still be compressed (its .sql replaced by .gz).
  const listed = new Set(catalog?.segments.map((s) => s.file) ?? []);
  const uploaded: string[] = [];
  for (const [rel, bytes] of [...local].sort(([a], [b]) => a.localeCompare(b))) {
    if ((rel.startsWith(`${SEGMENTS_DIR}/`) && !listed.has(rel)) || isExpiredFile(expired, rel)) continue;
    const there = stored.get(rel);
    if (there && (await sameSize(store, chain, rel, there, bytes))) continue;
    if (store.cipher && isEncryptedInStore(rel)) {
      await store.putEncryptedFile(`${chain}/${storedName(rel, true)}`, join(chainDir, rel), store.cipher);
      if (there && !there.encrypted) await store.delete(`${chain}/${rel}`); // the plain copy written before encryption was on
    } else {
      await store.putFile(`${chain}/${rel}`, join(chainDir, rel));
    }
    uploaded.push(rel);
  }
  return { uploaded, catalog: catalog ? await storeCatalog(store, chain, catalog) : await loadStoredCatalog(store, chain) };
}

/**
 * Downloads every object of the chain that the local folder lacks (or holds at another size),
 * except those `skip` names, then merges the bucket's catalog into the local one. Files that
 * retention expired (a retention run on another worker) are neither downloaded nor kept: the
 * local copies are deleted. Returns the paths downloaded (relative to the chain folder). Age
 * files are decrypted on the way: a wrong or missing key fails naming the file before anything
 * of it is written.
 */
export async function pullChain(store: ObjectStore, chainDir: string, options: { skip?: (rel: string) => boolean } = {}): Promise<string[]> {
  const chain = basename(chainDir);
  const catalog = await loadStoredCatalog(store, chain);
  const stored = await storedFiles(store, chain);
  const local = await localFiles(chainDir);
  const downloaded: string[] = [];
  for (const [rel, there] of [...stored].sort(([a], [b]) => a.localeCompare(b))) {
    if (rel === CATALOG_FILE || !isMirrored(rel) || options.skip?.(rel) || isExpiredFile(catalog, rel)) continue;
    const mine = local.get(rel);
    if (mine !== undefined && (await sameSize(store, chain, rel, there, mine))) continue;
    if (there.encrypted) await store.downloadFile(`${chain}/${there.stored}`, join(chainDir, rel), { decrypt: store.cipher ?? noCipher(store, chain, rel) });
    else await store.downloadFile(`${chain}/${there.stored}`, join(chainDir, rel));
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
  for (const [rel, there] of await storedFiles(store, chain)) {
    if (!isExpiredFile(catalog, rel)) continue;
    await store.delete(`${chain}/${there.stored}`);
    deleted.push(rel);
  }
  return deleted;
}

function noCipher(store: ObjectStore, chain: string, rel: string): never {
  throw new EncryptionKeyError(`${store.describe(`${chain}/${storedName(rel, true)}`)} is encrypted with age and this worker has no encryption configured`, {
    hint: 'set PGINCR_AGE_IDENTITY_FILE (or repository.encryption.identityFile) to the age identity file that opens the repository (docs/s3-repository.md, "Encryption")',
  });
}

/**
 * Checks that this worker's identity opens the chain's files, reading one age file's header
 * (the smallest): a restore or a verify refuses a wrong or missing key before it applies
 * anything, even when every file it needs is already in its folder. No-op for a plain chain.
 */
export async function checkDecryptionKey(store: ObjectStore, chain: string): Promise<void> {
  let smallest: { path: string; bytes: number } | undefined;
  for await (const o of store.list(chain)) {
    if (fileOfStoredName(o.path).encrypted && (!smallest || o.bytes < smallest.bytes)) smallest = { path: o.path, bytes: o.bytes };
  }
  if (!smallest) return;
  const cipher = store.cipher ?? noCipher(store, chain, fileOfStoredName(smallest.path.slice(chain.length + 1)).file);
  const object = await store.get(smallest.path);
  if (!object) return; // removed meanwhile (retention): the restore's own downloads check the rest
  const plain = await cipher.decrypt(object.body, store.describe(smallest.path));
  plain.destroy();
  object.body.destroy();
}

/** How the chain folder and the bucket differ (paths relative to the chain folder). */
export interface ChainDivergence {
  onlyLocal: string[];
  onlyInStore: string[];
  /** In both, with different (plaintext) sizes. */
  different: string[];
}

/**
 * Compares the chain folder with the bucket file by file (name and plaintext size), for two
 * repositories (a local one and its copy). Not compared: the catalog, what is never mirrored
 * (the open segment, control and monitor files), a segment not yet in the local catalog (being
 * sealed), and local files younger than `settleMs` that the bucket lacks (their upload is due).
 */
export async function compareChain(store: ObjectStore, chainDir: string, options: { settleMs?: number; now?: number } = {}): Promise<ChainDivergence> {
  const chain = basename(chainDir);
  const [local, stored, catalog] = [await localFiles(chainDir), await storedFiles(store, chain), await loadCatalog(chainDir)];
  const listed = new Set(catalog?.segments.map((e) => e.file) ?? []);
  const settled = (options.now ?? Date.now()) - (options.settleMs ?? 300_000);
  const out: ChainDivergence = { onlyLocal: [], onlyInStore: [], different: [] };
  for (const [rel, bytes] of [...local].sort(([a], [b]) => a.localeCompare(b))) {
    if (rel.startsWith(`${SEGMENTS_DIR}/`) && !listed.has(rel)) continue;
    const there = stored.get(rel);
    if (!there) {
      if ((await stat(join(chainDir, rel))).mtimeMs <= settled) out.onlyLocal.push(rel);
    } else if (!(await sameSize(store, chain, rel, there, bytes))) out.different.push(rel);
  }
  for (const rel of [...stored.keys()].sort()) if (rel !== CATALOG_FILE && isMirrored(rel) && !local.has(rel)) out.onlyInStore.push(rel);
  return out;
}

/**
 * A chain file's content read straight from the bucket (decrypted when it is stored as an age
 * file), for readers that stream without downloading; null when the bucket holds neither name.
 */
export async function openStoredFile(store: ObjectStore, chain: string, rel: string): Promise<Readable | null> {
  const names = isEncryptedInStore(rel) ? (store.cipher ? [storedName(rel, true), rel] : [rel, storedName(rel, true)]) : [rel];
  for (const name of names) {
    const object = await store.get(`${chain}/${name}`);
    if (!object) continue;
    if (!fileOfStoredName(name).encrypted) return object.body;
    if (!store.cipher) {
      object.body.destroy();
      return noCipher(store, chain, rel);
    }
    return store.cipher.decrypt(object.body, store.describe(`${chain}/${name}`));
  }
  return null;
}

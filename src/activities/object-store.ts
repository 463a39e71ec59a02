/**
 * An object-store repository seen from the activities (docs/s3-repository.md): every worker keeps
 * a local folder (the spool) with the bucket's layout; an activity that reads the repository first
 * pulls what its folder lacks, one that writes to it pushes what the bucket lacks when it is done.
 * So any worker with the bucket can run any activity: a capture on one, a restore on another.
 * Without an object store every function here is a no-op and the folder is the repository.
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { ObjectStoreError } from '../errors';
import { ObjectStore } from '../adapters/s3/object-store';
import { checkDecryptionKey, loadStoredCatalog, pullChain, pushChain } from '../adapters/s3/chain-mirror';
import { loadCatalog } from '../adapters/fs/catalog-store';
import type { Catalog } from '../core/catalog/schema';
import { BASE_DIR, BASE_FILES, CONTROL_DIR, rotateRequestPath } from '../core/repository/paths';

const stores = new WeakMap<object, ObjectStore>();

/** The config's object store (one client per config); undefined for a local repository. */
export function objectStoreOf(config: Pick<Config, 'objectStore'>): ObjectStore | undefined {
  const location = config.objectStore;
  if (!location) return undefined;
  let store = stores.get(location);
  if (!store) stores.set(location, (store = new ObjectStore(location)));
  return store;
}

/** Base dumps: a capture needs a base's metadata, never its dump. */
const isDump = (rel: string) => rel.startsWith(`${BASE_DIR}/`) && (rel.includes(`/${BASE_FILES.dumpPlain}`) || rel.includes(`/${BASE_FILES.dumpDirectory}/`));

/**
 * Brings the chain folder up to the bucket (files it lacks, the bucket's catalog merged in).
 * `withoutDumps`: leave base dumps in the bucket (the capture needs none).
 */
export async function pullFromObjectStore(config: Config, chainDir: string, options: { withoutDumps?: boolean; log?: Logger } = {}): Promise<string[]> {
  const store = objectStoreOf(config);
  if (!store) return [];
  try {
    return await pullChain(store, chainDir, options.withoutDumps ? { skip: isDump } : {});
  } catch (error) {
    if (!copyUnavailable(config, error)) throw error;
    options.log?.warn({ err: error, copy: store.describe(basename(chainDir)) }, 'the repository copy cannot be read: using the local repository alone');
    return [];
  }
}

/**
 * Two repositories: the local repository serves what it holds while its copy cannot be reached
 * or read (a restore whose files are all local needs no bucket). A wrong key is never passed over.
 */
function copyUnavailable(config: Config, error: unknown): boolean {
  return config.objectStore?.copy === true && error instanceof ObjectStoreError;
}

/** With an encrypted repository: throws when this worker's identity does not open the chain's files (restore and verify ask first). */
export async function checkRepositoryKey(config: Config, chainDir: string): Promise<void> {
  const store = objectStoreOf(config);
  if (!store) return;
  await checkDecryptionKey(store, basename(chainDir)).catch((error: unknown) => {
    if (!copyUnavailable(config, error)) throw error;
  });
}

/** Uploads what the bucket lacks of the chain folder (`only`: just these files), then merges the catalog. */
export async function pushToObjectStore(config: Config, chainDir: string, only?: string[]): Promise<string[]> {
  const store = objectStoreOf(config);
  if (!store) return [];
  return (await pushChain(store, chainDir, only ? { only } : {})).uploaded;
}

/** The chain's catalog as the repository holds it: the bucket's with an object store, else the folder's. */
export async function repositoryCatalog(config: Config, chainDir: string): Promise<Catalog | null> {
  const store = objectStoreOf(config);
  return store ? loadStoredCatalog(store, basename(chainDir)) : loadCatalog(chainDir);
}

/** The rotate request's key in the bucket: the capture may run on another worker than the one asking. */
const rotateKey = (chainDir: string) => `${basename(chainDir)}/${CONTROL_DIR}/rotate-request`;

/** Asks the running capture to seal its segment: a file in the chain folder, and with an object store an object in the bucket. */
export async function requestRotation(config: Config, chainDir: string): Promise<void> {
  const path = rotateRequestPath(chainDir);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, new Date().toISOString(), { mode: 0o600 });
  const store = objectStoreOf(config);
  if (store) {
    const file = join(dirname(path), '.rotate-request-upload');
    await writeFile(file, new Date().toISOString(), { mode: 0o600 });
    try {
      await store.putFile(rotateKey(chainDir), file);
    } finally {
      await rm(file, { force: true });
    }
  }
}

/** Whether a rotation was asked for (here or, with an object store, from any worker). */
export async function rotationRequested(config: Config, chainDir: string): Promise<boolean> {
  if (
    await stat(rotateRequestPath(chainDir)).then(
      () => true,
      () => false,
    )
  )
    return true;
  const store = objectStoreOf(config);
  if (!store) return false;
  for await (const o of store.list(`${basename(chainDir)}/${CONTROL_DIR}`)) if (o.path === rotateKey(chainDir)) return true;
  return false;
}

/** The capture took the request. */
export async function clearRotation(config: Config, chainDir: string): Promise<void> {
  await rm(rotateRequestPath(chainDir), { force: true });
  await objectStoreOf(config)?.delete(rotateKey(chainDir));
}

/** `<anything>/<system_identifier>-<dbname>/<rest>` of another worker → the same path in this worker's folder. */
export function localChainPath(config: Config, path: string): string {
  const parts = path.split('/');
  let at = parts.length - 1;
  while (at >= 0 && !/^\d+-[^/]+$/.test(parts[at] as string)) at--;
  if (at < 0 || !config.objectStore) return path;
  return join(config.repository, ...parts.slice(at));
}

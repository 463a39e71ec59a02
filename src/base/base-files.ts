/**
 * A base folder's own files as the record of what it is: `metadata.json` says which slot and
 * snapshot it came from, so a re-run of setup can tell "slot with its base" (done) from "slot
 * without a base" (its snapshot is gone: drop and recreate). Registration in the catalog.
 */
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describeBase, updateCatalog } from '../adapters/fs/catalog-store';
import { isTempName } from '../adapters/fs/atomic-write';
import { addBase, emptyCatalog } from '../core/catalog/catalog';
import { BASE_DIR, BASE_FILES, baseDir, parseBaseId, parseChainDirName } from '../core/repository/paths';
import { ConfigError } from '../errors';

/** metadata.json of a base. `lsn` and `takenAt` are what the catalog reads. */
export interface BaseMetadata {
  pgincrVersion: string;
  lsn: string;
  takenAt: string;
  slot: string;
  plugin: string;
  temporarySlot: boolean;
  publication: string | null;
  dumpFormat: 'plain' | 'directory';
  dumpFile: string;
  dumpBytes: number;
  dumpSha256?: string;
  tables: number;
  [key: string]: unknown;
}

export async function readBaseMetadata(dir: string): Promise<BaseMetadata | null> {
  try {
    return JSON.parse(await readFile(join(dir, BASE_FILES.metadata), 'utf8')) as BaseMetadata;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return null;
    throw new ConfigError(`${join(dir, BASE_FILES.metadata)}: cannot be read as JSON`, { cause: err });
  }
}

/** The newest completed base taken from the (permanent) slot `slot`, or null. */
export async function findBaseForSlot(chain: string, slot: string): Promise<{ id: string; dir: string; metadata: BaseMetadata } | null> {
  let names: string[];
  try {
    names = await readdir(join(chain, BASE_DIR));
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return null;
    throw err;
  }
  for (const id of names
    .filter((n) => !isTempName(n) && parseBaseId(n))
    .sort()
    .reverse()) {
    const dir = baseDir(chain, id);
    const metadata = await readBaseMetadata(dir);
    if (metadata && metadata.slot === slot && !metadata.temporarySlot) return { id, dir, metadata };
  }
  return null;
}

/** Adds (or replaces) the base in the chain's catalog. */
export async function registerBase(chain: string, id: string): Promise<void> {
  const names = parseChainDirName(basename(chain));
  if (!names) throw new ConfigError(`${chain}: not a chain folder (<system_identifier>-<dbname>)`);
  const entry = await describeBase(chain, id);
  await updateCatalog(chain, (catalog) => addBase(catalog ?? emptyCatalog(names.systemIdentifier, names.database), entry));
}

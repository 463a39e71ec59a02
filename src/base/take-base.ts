/**
 * The base backup: a slot created with an exported snapshot, then table checksums and pg_dump
 * in that same snapshot, so the base is exactly the database at the slot's consistent LSN (no
 * gap, no overlap with the changes the slot streams). The folder is built under a temporary
 * name and renamed when complete; metadata.json records which slot it came from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ensureDir, fsyncDir, tempPathFor, writeFileAtomic } from '../adapters/fs/atomic-write';
import { NotReadyError } from '../errors';
import { runPgDump } from '../adapters/exec/pg-tools';
import { snapshotChecksums } from '../adapters/pg/checksums';
import { serverIdentity, serverMetadata, type ServerMetadata } from '../adapters/pg/server-info';
import { createSlotWithSnapshot, dropSlot, slotInfo, type CreatedSlot } from '../adapters/pg/slot';
import { formatLsn } from '../core/lsn';
import { BASE_DIR, BASE_FILES, baseDir as baseDirPath, baseId as makeBaseId, chainDir as chainDirPath } from '../core/repository/paths';
import type { ChecksumFile } from '../core/verify/compare';
import { findBaseForSlot, readBaseMetadata, registerBase, type BaseMetadata } from './base-files';
import { profileByName, withProfileClient, type ProfileInput, type SetupDeps } from '../activities/profiles';

export interface TakeBaseInput extends ProfileInput {
  /** Defaults to the chain folder of the profile's database in config.repository. */
  chainDir?: string;
  /** Defaults to capture.slot (permanent) or a fresh `<capture.slot>_base_<n>` (temporary). */
  slot?: string;
  plugin?: 'pgoutput' | 'decoder_raw';
  /** A temporary slot (scheduled full backups) vanishes with the connection. */
  temporary: boolean;
  /** Drop an existing capture slot (and start a new chain) even when it has a base. */
  newChain?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { phase: 'slot' | 'checksums' | 'dump' | 'done'; bytes: number }) => void;
}

export interface TakeBaseResult {
  baseId: string;
  /** Consistent LSN of the snapshot, `X/Y`. */
  lsn: string;
  dir: string;
  chainDir: string;
  slot: string;
  bytes: number;
  tables: number;
  /** True when an existing base of this slot was returned (re-run). */
  reused: boolean;
}

let pgincrVersionCache: string | undefined;
/** pgincr's version, from the package.json above this file. */
export function pgincrVersion(): string {
  if (pgincrVersionCache) return pgincrVersionCache;
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'pgincr' && pkg.version) return (pgincrVersionCache = pkg.version);
  }
  return 'unknown';
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Reuses the slot's base, or clears a slot whose snapshot is gone. Returns a reusable base or null. */
async function prepareSlot(deps: SetupDeps, input: TakeBaseInput, chain: string, slot: string): Promise<TakeBaseResult | null> {
  return withProfileClient(deps, input.profile, async (client) => {
    const existing = await slotInfo(client, slot);
    if (!existing || input.temporary) return null;
    const base = input.newChain ? null : await findBaseForSlot(chain, slot);
    if (base) {
      const m = base.metadata;
      return { baseId: base.id, lsn: m.lsn, dir: base.dir, chainDir: chain, slot, bytes: m.dumpBytes, tables: m.tables, reused: true };
    }
    deps.logger.warn({ slot, chain }, 'slot exists without a base (its snapshot is gone): dropping and recreating it');
    await dropSlot(client, slot);
    return null;
  });
}

async function buildBase(deps: SetupDeps, input: TakeBaseInput, created: CreatedSlot, chain: string, tmp: string): Promise<BaseMetadata> {
  const profile = profileByName(deps.config, input.profile);
  const lsn = formatLsn(created.consistentLsn);
  const takenAt = new Date().toISOString();
  input.onProgress?.({ phase: 'checksums', bytes: 0 });
  const sums = await snapshotChecksums(profile, created.snapshotName);
  const checksums: ChecksumFile = { lsn, takenAt, ...sums };
  await writeFileAtomic(join(tmp, BASE_FILES.checksums), json(checksums));
  const format = deps.config.setup.dumpFormat;
  const dumpFile = format === 'plain' ? BASE_FILES.dumpPlain : BASE_FILES.dumpDirectory;
  const dump = await runPgDump({
    profile,
    snapshot: created.snapshotName,
    format,
    jobs: deps.config.setup.dumpJobs,
    outPath: join(tmp, dumpFile),
    excludeSchema: ['pgincr'],
    listPath: join(tmp, BASE_FILES.dumpList),
    ...(input.signal ? { signal: input.signal } : {}),
    onProgress: (p) => input.onProgress?.({ phase: 'dump', bytes: p.bytes }),
  });
  const metadata: BaseMetadata = {
    pgincrVersion: pgincrVersion(),
    lsn,
    takenAt,
    slot: created.slotName,
    plugin: created.plugin,
    temporarySlot: input.temporary,
    publication: deps.config.capture.decoder === 'pgoutput' ? deps.config.capture.publication : null,
    dumpFormat: format,
    dumpFile,
    dumpBytes: dump.bytes,
    tables: Object.keys(sums.tables).length,
    ...(dump.sha256 ? { dumpSha256: dump.sha256 } : {}),
  };
  await writeFileAtomic(join(tmp, BASE_FILES.metadata), json(metadata));
  deps.logger.info({ chain, lsn, slot: created.slotName, bytes: dump.bytes, droppedEventTriggers: dump.droppedEventTriggers }, 'base dumped');
  return metadata;
}

/**
 * Creates the slot with an exported snapshot and takes the base in it. Re-run safe: a
 * permanent slot that already has its base returns that base; one without (a crash between
 * slot and base) is dropped and recreated, since its snapshot is gone.
 */
export async function takeBase(deps: SetupDeps, input: TakeBaseInput): Promise<TakeBaseResult> {
  const profile = profileByName(deps.config, input.profile);
  const chain =
    input.chainDir ??
    (await withProfileClient(deps, input.profile, async (c) => {
      const id = await serverIdentity(c);
      return chainDirPath(deps.config.repository, id.systemIdentifier, id.database);
    }));
  const slot = input.slot ?? (input.temporary ? `${deps.config.capture.slot}_base_${Date.now().toString(36)}` : deps.config.capture.slot);
  const reused = await prepareSlot(deps, input, chain, slot);
  if (reused) return reused;

  input.onProgress?.({ phase: 'slot', bytes: 0 });
  const created = await createSlotWithSnapshot(profile, { slot, plugin: input.plugin ?? deps.config.capture.decoder, temporary: input.temporary });
  let tmp: string | undefined;
  let baseOnDisk = false;
  try {
    deps.logger.info({ slot, lsn: formatLsn(created.consistentLsn), snapshot: created.snapshotName }, 'slot created with exported snapshot');
    await deps.hooks?.afterSlotCreated?.(created);
    await repositoryDir(deps, join(chain, BASE_DIR));
    const id = makeBaseId(new Date().toISOString(), created.consistentLsn);
    const final = baseDirPath(chain, id);
    tmp = tempPathFor(final);
    await repositoryDir(deps, tmp);
    const metadata = await buildBase(deps, input, created, chain, tmp);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
    tmp = undefined;
    baseOnDisk = true;
    await fsyncDir(dirname(final));
    await registerBase(chain, id);
    input.onProgress?.({ phase: 'done', bytes: metadata.dumpBytes });
    return { baseId: id, lsn: metadata.lsn, dir: final, chainDir: chain, slot, bytes: metadata.dumpBytes, tables: metadata.tables, reused: false };
  } finally {
    await created.close();
    if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    // A permanent slot without its base is useless (its snapshot is gone) and holds WAL: drop it.
    if (!baseOnDisk && !input.temporary) await dropUnfinishedSlot(deps, input.profile, slot);
  }
}

/** Folder errors retrying cannot fix: the repository path is wrong. */
const BAD_PATH = new Set(['ENOTDIR', 'EACCES', 'EPERM', 'EROFS', 'EEXIST']);

async function repositoryDir(deps: SetupDeps, dir: string): Promise<void> {
  try {
    await ensureDir(dir);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!code || !BAD_PATH.has(code)) throw err;
    throw new NotReadyError(`repository ${deps.config.repository}: cannot create ${dir} (${code})`, {
      cause: err,
      hint: 'set repository in the configuration (or PGINCR_REPOSITORY) to a folder the worker can write',
    });
  }
}

/** Drops the slot this attempt created, once its walsender has let go of it; logs (never throws) on failure. */
async function dropUnfinishedSlot(deps: SetupDeps, profileName: string, slot: string): Promise<void> {
  try {
    await withProfileClient(deps, profileName, async (client) => {
      const deadline = Date.now() + 10_000;
      while ((await slotInfo(client, slot))?.active && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await dropSlot(client, slot);
    });
    deps.logger.info({ slot }, 'base failed: dropped the slot created for it');
  } catch (err) {
    deps.logger.warn({ slot, err }, 'base failed and its slot could not be dropped; the next setup drops it');
  }
}

function readme(id: string, m: BaseMetadata, s: ServerMetadata): string {
  const dump =
    m.dumpFormat === 'plain'
      ? `gunzip -c ${m.dumpFile} | psql -X -v ON_ERROR_STOP=1 -d NEWDB`
      : `pg_restore -L ${BASE_FILES.dumpList} -d NEWDB ${m.dumpFile}    # ${BASE_FILES.dumpList}: every entry but pgincr's own triggers`;
  const locale = s.localeProvider === 'icu' ? `--locale-provider=icu --icu-locale=${s.iculocale ?? ''}` : `--lc-collate='${s.collate}' --lc-ctype='${s.ctype}'`;
  return `pgincr base backup ${id}

Database ${s.database} (system identifier ${s.systemIdentifier}, timeline ${s.timeline})
Server: ${s.versionString}
Encoding ${s.encoding}, collate ${s.collate}, ctype ${s.ctype}, locale provider ${s.localeProvider}
Taken at ${m.takenAt} in the snapshot of slot ${m.slot} (${m.plugin}); consistent LSN ${m.lsn}.
Extensions: ${s.extensions.map((e) => `${e.name} ${e.version}`).join(', ') || '(none)'}

Files: ${m.dumpFile} (pg_dump${m.dumpFormat === 'plain' ? ', gzip' : ', directory format'}), globals.sql (pg_dumpall --globals-only),
checksums.json (row count and md5 sum per table at ${m.lsn}), metadata.json (all of the above as JSON).

Restore by hand, without pgincr:
  psql -X -d postgres -f globals.sql          # roles and tablespaces; "already exists" errors are harmless
  createdb -T template0 -E ${s.encoding} ${locale} NEWDB
  ${dump}
Then replay, in file-name order, the segments under ../../segments/ holding transactions with
commit_lsn greater than ${m.lsn} (each transaction's "BEGIN; -- xid … commit_lsn …" line says it):
  psql -X -v ON_ERROR_STOP=1 -d NEWDB -f <segment>.sql
`;
}

/** Adds the server's facts to metadata.json and writes README.txt (both atomically); re-registers the base. */
export async function writeMetadata(deps: SetupDeps, input: ProfileInput & { baseDir: string }): Promise<{ file: string }> {
  const base = await readBaseMetadata(input.baseDir);
  if (!base) throw new Error(`${input.baseDir}: no metadata.json (was takeBase completed?)`);
  const server = await withProfileClient(deps, input.profile, (client) => serverMetadata(client));
  const metadata: BaseMetadata = { ...base, server };
  const file = join(input.baseDir, BASE_FILES.metadata);
  await writeFileAtomic(file, json(metadata));
  const id = basename(input.baseDir);
  await writeFileAtomic(join(input.baseDir, BASE_FILES.readme), readme(id, metadata, server));
  await registerBase(dirname(dirname(input.baseDir)), id);
  return { file };
}

/**
 * Every on-disk path of a repository, in one place (docs/architecture.md "Repository layout"):
 *
 * ```
 * <repository>/<system_identifier>-<dbname>/           chain folder (one per source database)
 *   base/<yyyymmddThhmmssZ>_<lsn16>/                   one base backup; the folder name is its id
 *     dump.sql.gz | dump.dir/                          pg_dump (plain gzip, or directory format)
 *     globals.sql  metadata.json  checksums.json  README.txt
 *   segments/partial/<start16>.sql.partial             the open segment (at most one)
 *   segments/<yyyy-mm-dd>/<start16>_<end16>.sql[.gz]   sealed segments (UTC date of last commit)
 *   checkpoints/<lsn16>.json                           table checksums at an LSN, no dump
 *   catalog/catalog.json                               what exists; rebuildable from the files
 *   catalog/catalog.lock                               while an update holds it
 *   control/rotate-request                             a rotation asked for (the capture seals, then removes it)
 *   monitor/state.json  incidents.json  capture.json   check hints, open incidents, the capture's failure record
 *   raw/<seq12>.raw  raw/current.raw                   decoder_raw's spool (that decoder only)
 * ```
 * `<lsn16>` is the LSN as 16 upper-case hex digits, so names sort in LSN order. The database
 * name is kept readable: bytes outside `[A-Za-z0-9_.-]` are written `%XX`, so any database
 * name gives one safe folder name. Paths in the catalog are relative to the chain folder.
 */
import { join } from 'node:path';
import { fileHexToLsn, lsnToFileHex, type Lsn } from '../lsn';
import { normalizeTime } from '../segment/commit-time';
import { partialSegmentName, sealedSegmentName } from '../segment/naming';

export const BASE_DIR = 'base';
export const SEGMENTS_DIR = 'segments';
export const PARTIAL_DIR = 'segments/partial';
export const CHECKPOINTS_DIR = 'checkpoints';
export const CATALOG_FILE = 'catalog/catalog.json';
export const CONTROL_DIR = 'control';
export const MONITOR_DIR = 'monitor';
export const RAW_DIR = 'raw';

/** File names inside a base folder. */
export const BASE_FILES = {
  dumpPlain: 'dump.sql.gz',
  dumpDirectory: 'dump.dir',
  /** Directory format: the archive's restore list without pgincr's entries (`pg_restore -L`). */
  dumpList: 'dump.list',
  globals: 'globals.sql',
  metadata: 'metadata.json',
  checksums: 'checksums.json',
  readme: 'README.txt',
} as const;

function encodeName(name: string): string {
  return Array.from(Buffer.from(name, 'utf8'))
    .map((b) => (/[A-Za-z0-9_.-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

/** `<system_identifier>-<dbname>` (the database name %-encoded where needed). */
export function chainDirName(systemIdentifier: string, database: string): string {
  if (!/^\d+$/.test(systemIdentifier)) throw new Error(`invalid system identifier ${JSON.stringify(systemIdentifier)}`);
  return `${systemIdentifier}-${encodeName(database)}`;
}

/** Parses a chain folder name back; null when it is not one. */
export function parseChainDirName(name: string): { systemIdentifier: string; database: string } | null {
  const m = /^(\d+)-(.+)$/.exec(name);
  if (!m) return null;
  try {
    return { systemIdentifier: m[1] as string, database: decodeURIComponent(m[2] as string) };
  } catch {
    return null;
  }
}

/** The chain folder of one source database. */
export function chainDir(repository: string, systemIdentifier: string, database: string): string {
  return join(repository, chainDirName(systemIdentifier, database));
}

/** Base backup id (= folder name): `<yyyymmddThhmmssZ>_<lsn16>`. */
export function baseId(takenAt: string, lsn: Lsn): string {
  const t = normalizeTime(takenAt);
  return `${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 10)}T${t.slice(11, 13)}${t.slice(14, 16)}${t.slice(17, 19)}Z_${lsnToFileHex(lsn)}`;
}

/** Parses a base id back into its time (canonical) and LSN; null when it is not one. */
export function parseBaseId(id: string): { takenAt: string; lsn: Lsn } | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z_([0-9A-F]{16})$/.exec(id);
  if (!m) return null;
  return { takenAt: `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000000Z`, lsn: fileHexToLsn(m[7] as string) };
}

/** `base/<id>` relative to the chain folder. */
export function baseRelDir(id: string): string {
  return `${BASE_DIR}/${id}`;
}

/** The folder of one base backup. */
export function baseDir(chain: string, id: string): string {
  return join(chain, BASE_DIR, id);
}

/** The folder that holds the open segment. */
export function partialDir(chain: string): string {
  return join(chain, PARTIAL_DIR);
}

/** The open segment starting at `startLsn`. */
export function partialPath(chain: string, startLsn: Lsn): string {
  return join(chain, PARTIAL_DIR, partialSegmentName(startLsn));
}

/** `segments/<date>` folder for sealed segments whose last commit is on `date` (`yyyy-mm-dd`). */
export function segmentDateDir(chain: string, date: string): string {
  return join(chain, SEGMENTS_DIR, date);
}

/** `segments/<date>/<start16>_<end16>.sql[.gz]` relative to the chain folder (the catalog's `file`). */
export function segmentRelPath(date: string, startLsn: Lsn, endLsn: Lsn, compressed: boolean): string {
  return `${SEGMENTS_DIR}/${date}/${sealedSegmentName(startLsn, endLsn, compressed)}`;
}

/** Absolute path of a sealed segment. */
export function segmentPath(chain: string, date: string, startLsn: Lsn, endLsn: Lsn, compressed: boolean): string {
  return join(chain, segmentRelPath(date, startLsn, endLsn, compressed));
}

/** `checkpoints/<lsn16>.json` relative to the chain folder. */
export function checkpointRelPath(lsn: Lsn): string {
  return `${CHECKPOINTS_DIR}/${lsnToFileHex(lsn)}.json`;
}

/** Absolute path of a checkpoint (checksums at an LSN, without a dump). */
export function checkpointPath(chain: string, lsn: Lsn): string {
  return join(chain, checkpointRelPath(lsn));
}

/** Absolute path of the catalog. */
export function catalogPath(chain: string): string {
  return join(chain, CATALOG_FILE);
}

/** A rotation asked for by `pgincr capture rotate` (or a backup workflow), read by the running capture. */
export function rotateRequestPath(chain: string): string {
  return join(chain, CONTROL_DIR, 'rotate-request');
}

/** `<chain>/monitor/`: what checks and the capture record between runs. */
export function monitorDir(chain: string): string {
  return join(chain, MONITOR_DIR);
}

/** Hints of earlier checks (since when a slot has not advanced). */
export function monitorStatePath(chain: string): string {
  return join(chain, MONITOR_DIR, 'state.json');
}

/** Incidents alerted and not over yet. */
export function incidentsPath(chain: string): string {
  return join(chain, MONITOR_DIR, 'incidents.json');
}

/** The capture's failure record per slot. */
export function captureRecordPath(chain: string): string {
  return join(chain, MONITOR_DIR, 'capture.json');
}

/** With an object store: the capture's upload record (what it last uploaded, failures in a row). */
export function uploadRecordPath(chain: string): string {
  return join(chain, MONITOR_DIR, 'uploads.json');
}

/** decoder_raw's spool folder. */
export function rawDir(chain: string): string {
  return join(chain, RAW_DIR);
}

/**
 * An object-store repository (docs/s3-repository.md): where it is (`s3://bucket/prefix`) and which
 * files of a chain folder are mirrored to it. The bucket holds the same layout as the folder
 * (paths.ts), so a plain download of `<prefix>/` is a repository the manual runbook restores.
 * Pure: the S3 calls are in src/adapters/s3.
 */
import { CONTROL_DIR, MONITOR_DIR, PARTIAL_DIR, RAW_DIR } from './paths';

export interface ObjectStoreLocation {
  bucket: string;
  /** Key prefix without leading or trailing `/` ('' for the bucket's root). */
  prefix: string;
  /** An S3-compatible endpoint (`https://s3.example.net`); the AWS default when absent. */
  endpoint?: string;
  region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
  /**
   * Two repositories: the local folder is a repository of its own and the bucket its copy (a
   * restore uses whichever holds a file; `check` compares them). Otherwise the folder is this
   * worker's spool, a cache of the bucket.
   */
  copy?: boolean;
  /** Client-side age encryption of the chain files (encryption.ts): public keys and the path of the identity file, never a private key. */
  encryption?: { recipients: string[]; identityFile?: string };
}

/** S3 bucket names: 3-63 of a-z, 0-9, `.` and `-`, starting and ending with a letter or digit. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket[/prefix]`; null when `text` is not an s3 URL; throws naming the problem when it is a bad one. */
export function parseS3Url(text: string): { bucket: string; prefix: string } | null {
  if (!text.startsWith('s3://')) return null;
  const rest = text.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (!BUCKET.test(bucket)) throw new Error(`${text}: ${JSON.stringify(bucket)} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')`);
  // No empty, `.` or `..` segment and no control character: every key stays under the prefix as written.
  if (prefix && prefix.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new Error(`${text}: the prefix has an empty, '.' or '..' part`);

  if (/[\u0000-\u001f\u007f\\]/.test(prefix)) throw new Error(`${text}: the prefix holds a control character or a backslash`);
  return { bucket, prefix };
}

/** `s3://bucket/prefix` of a location (for messages). */
export function describeLocation(location: ObjectStoreLocation): string {
  return `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
}

/** The object key of a path relative to the repository root (`<chain>/segments/…`). */
export function objectKey(location: ObjectStoreLocation, relPath: string): string {
  return location.prefix ? `${location.prefix}/${relPath}` : relPath;
}

/** The path relative to the repository root of an object key under the location's prefix; null for a key outside it. */
export function relativeKey(location: ObjectStoreLocation, key: string): string | null {
  if (!location.prefix) return key;
  const head = `${location.prefix}/`;
  return key.startsWith(head) ? key.slice(head.length) : null;
}

/**
 * Whether a file of a chain folder (path relative to the chain folder) belongs in the bucket.
 * Not mirrored: the open segment (`segments/partial/`: a segment is visible in the bucket only
 * once sealed), control requests and monitor state (one worker's), decoder_raw's spool, the
 * catalog lock and temporary files of atomic writes.
 */
export function isMirrored(chainRelPath: string): boolean {
  const local = [PARTIAL_DIR, CONTROL_DIR, RAW_DIR, MONITOR_DIR];
  if (local.some((dir) => chainRelPath === dir || chainRelPath.startsWith(`${dir}/`))) return false;
  if (chainRelPath === 'catalog/catalog.lock') return false;
  const name = chainRelPath.slice(chainRelPath.lastIndexOf('/') + 1);
  return !name.startsWith('.'); // temporary files of atomic writes (atomic-write.ts)
}

/**
 * Whether an object's path relative to the chain folder can be a file pgincr wrote there: no
 * empty, `.` or `..` part, no backslash or control character. Anyone with write access to the
 * bucket can create any key; a download must never land outside the chain folder.
 */
export function isSafeChainPath(chainRelPath: string): boolean {
  if (!chainRelPath || /[\u0000-\u001f\u007f\\]/.test(chainRelPath)) return false;
  return chainRelPath.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

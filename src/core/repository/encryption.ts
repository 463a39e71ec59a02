/**
 * Encryption at rest of an object-store repository (docs/s3-repository.md, "Encryption"): which
 * objects are age files and what they are called, and the sizes the age format gives them.
 * Pure: the cipher is src/adapters/s3/age-cipher.ts.
 *
 * Every mirrored file of a chain is stored as `<name>.age` (an age v1 file that `age -d` decrypts
 * without pgincr), except the catalog: it holds no row data (file names, LSNs, times, counts,
 * SHA-256 of the plaintext files), and workers merge it with conditional writes on its stored
 * bytes, so it stays plain JSON that retention and check read without a key.
 */
import { CATALOG_FILE } from './paths';

export const AGE_SUFFIX = '.age';

/** age's payload: 64 KiB chunks, each with a 16-byte Poly1305 tag, after a 16-byte nonce. */
const AGE_CHUNK = 64 * 1024;
const AGE_TAG = 16;
const AGE_NONCE = 16;

/** age X25519 recipients (`age-keygen`'s public keys): the kind any age implementation decrypts. */
const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

/** Whether a chain file (path relative to the chain folder) is encrypted when the repository is. */
export function isEncryptedInStore(chainRelPath: string): boolean {
  return chainRelPath !== CATALOG_FILE;
}

/** The stored name of a chain file: `<name>.age` when encrypted. */
export function storedName(chainRelPath: string, encrypted: boolean): string {
  return encrypted && isEncryptedInStore(chainRelPath) ? `${chainRelPath}${AGE_SUFFIX}` : chainRelPath;
}

/** A stored name back to the chain file it holds, and whether it is an age file. */
export function fileOfStoredName(stored: string): { file: string; encrypted: boolean } {
  return stored.endsWith(AGE_SUFFIX) ? { file: stored.slice(0, -AGE_SUFFIX.length), encrypted: true } : { file: stored, encrypted: false };
}

/**
 * Bytes of an age file holding `plainBytes`, given its header's length (fixed for a set of X25519
 * recipients): header, nonce, the plaintext and one tag per chunk (one chunk for an empty file).
 */
export function ageFileBytes(plainBytes: number, headerBytes: number): number {
  const chunks = Math.max(1, Math.ceil(plainBytes / AGE_CHUNK));
  return headerBytes + AGE_NONCE + plainBytes + chunks * AGE_TAG;
}

/** Problems with configured recipients (empty when they are all X25519 public keys). */
export function recipientProblems(recipients: string[]): string[] {
  return recipients.flatMap((r, i) => {
    if (/^AGE-SECRET-KEY-/i.test(r)) return [`recipients[${i}] is a private key (AGE-SECRET-KEY-…): give the public key (age1…, age-keygen -y)`];
    return RECIPIENT.test(r) ? [] : [`recipients[${i}] ${JSON.stringify(r.slice(0, 80))} is not an age X25519 public key (age1… as age-keygen prints)`];
  });
}

/** Splits `PGINCR_AGE_RECIPIENTS` (space, comma or newline separated; `#` comments as in a recipients file). */
export function splitRecipients(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .flatMap((line) => line.split(/[\s,]+/))
    .filter(Boolean);
}

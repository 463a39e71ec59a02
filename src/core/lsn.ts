/**
 * Log sequence numbers as first-class values. An LSN is a 64-bit WAL position written by
 * PostgreSQL as two hex halves, `16/B374D848`. We keep it as a `bigint` in memory and as the
 * canonical upper-case text form on disk and in Temporal payloads (bigint is not JSON).
 */
export type Lsn = bigint;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses `X/Y` into a bigint; throws on anything else. */
export function parseLsn(text: string): Lsn {
  const m = LSN_TEXT.exec(text.trim());
  if (!m) throw new Error(`invalid lsn ${JSON.stringify(text)}: expected two hex halves like 0/16B3748`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Formats as PostgreSQL does (`0/16B3748`), upper-case hex, no padding. */
export function formatLsn(lsn: Lsn): string {
  // Every BEGIN and COMMIT line formats two: number arithmetic where it is exact (below 2^53,
  // 8 PiB of WAL), bigint beyond.
  if (lsn >= 0n && lsn <= MAX_SAFE) {
    const n = Number(lsn);
    const hi = Math.floor(n / 4_294_967_296);
    return `${hi.toString(16).toUpperCase()}/${(n - hi * 4_294_967_296).toString(16).toUpperCase()}`;
  }
  const hi = lsn >> 32n;
  const lo = lsn & 0xffffffffn;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** Zero-padded 16-hex-digit form: sorts lexicographically in LSN order (file names). */
export function lsnToFileHex(lsn: Lsn): string {
  return lsn.toString(16).toUpperCase().padStart(16, '0');
}

export function fileHexToLsn(hex: string): Lsn {
  if (!/^[0-9A-Fa-f]{16}$/.test(hex)) throw new Error(`invalid lsn file name part ${JSON.stringify(hex)}`);
  return BigInt(`0x${hex}`);
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}

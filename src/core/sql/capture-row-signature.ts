/**
 * Signatures of the capture-table rows that become SQL in a segment (capture schema version 5,
 * docs/security.md): `pgincr.ddl_history` and `pgincr.sequence_positions` rows carry
 * `sig = hex(sha256(key || sha256(key || canonical)))`, set by their BEFORE INSERT trigger
 * with the database's key (`pgincr.secret`). canonical is the fields that decide what is
 * replayed, in a fixed order, each as `<byte length>:<bytes>` (the bytes in the database
 * encoding, the length in ASCII decimal) or `-` for NULL. Values are byte strings as decoded
 * (docs/architecture.md "Byte strings"), in their text output form, exactly what the SQL side
 * signs (`pgincr.ddl_history_canonical`, `::text` of each column).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The ddl_history columns signed, in order (the SQL side: migration 5's DDL_SIGNED_FIELDS). */
export const DDL_HISTORY_SIGNED_COLUMNS: readonly string[] = [
  'xid',
  'role_name',
  'session_user_name',
  'search_path',
  'command_tag',
  'object_identities',
  'query',
  'phase',
  'statement_ordinal',
  'timezone',
  'datestyle',
  'intervalstyle',
  'extra_float_digits',
  'bytea_output',
  'standard_conforming_strings',
  'check_function_bodies',
  'transform_null_equals',
  'array_nulls',
  'volatile_rewrites',
];

/** The sequence_positions columns signed. */
export const SEQUENCE_POSITIONS_SIGNED_COLUMNS: readonly string[] = ['positions'];

/** The canonical form of a list of field values (byte strings, null for NULL). */
export function canonicalForm(values: ReadonlyArray<string | null>): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    if (v === null) {
      parts.push(Buffer.from('-', 'latin1'));
      continue;
    }
    const bytes = Buffer.from(v, 'latin1');
    parts.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes);
  }
  return Buffer.concat(parts);
}

/** hex(sha256(key || sha256(key || canonical))) */
export function rowSignature(key: Buffer, values: ReadonlyArray<string | null>): string {
  const inner = createHash('sha256').update(key).update(canonicalForm(values)).digest();
  return createHash('sha256').update(key).update(inner).digest('hex');
}

/** Whether `sig` (the row's column, a byte string or null) is the signature of `values`. */
export function signatureValid(key: Buffer, values: ReadonlyArray<string | null>, sig: string | null): boolean {
  if (sig === null || !/^[0-9a-f]{64}$/.test(sig)) return false;
  return timingSafeEqual(Buffer.from(rowSignature(key, values), 'latin1'), Buffer.from(sig, 'latin1'));
}

/**
 * A golden vector for capture-row signatures (docs/security.md), checked against the TypeScript
 * implementation (test/core/sql/capture-row-signature.test.ts) and against the SQL one
 * (pgincr.canonical_field, test/integration/security/trust-boundary.test.ts).
 */
import { createHash } from 'node:crypto';

/** sha256('pgincr golden key') */
export const GOLDEN_KEY = createHash('sha256').update('pgincr golden key').digest();

/** Field values as byte strings (the 7th holds UTF-8 "ä"), one NULL, one empty. */
export const GOLDEN_VALUES: ReadonlyArray<string | null> = [
  '742',
  'alice',
  null,
  '"$user", public',
  'CREATE TABLE',
  '{public.t}',
  Buffer.from('CREATE TABLE "tä" (a int)', 'utf8').toString('latin1'),
  'end',
  '0',
  '',
];

/** The canonical form of GOLDEN_VALUES, as UTF-8 text. */
export const GOLDEN_CANONICAL = '3:7425:alice-15:"$user", public12:CREATE TABLE10:{public.t}26:CREATE TABLE "tä" (a int)3:end1:00:';

export const GOLDEN_SIGNATURE = 'acc2fdc0e69ec61feb525f9627cad83bd6c43ca2235c5f19ebc4170231dda858';

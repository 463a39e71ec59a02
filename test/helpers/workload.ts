/** A mixed workload over many types and identity kinds, and source-vs-restore comparison. */
import type { PgCluster } from './pg-cluster';
import { databaseChecksums } from '../../src/adapters/pg/checksums';

export const MIXED_SCHEMA = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE public.users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, email text UNIQUE,
  created timestamptz DEFAULT now(), score numeric, ratio float8, flags bit varying(8), tags text[], doc jsonb, raw bytea,
  m mood, p pair, dom positive, r int4range, ip inet, mac macaddr, u uuid, iv interval, d date, pt point, x xml);
CREATE TABLE public.orders (id serial PRIMARY KEY, user_id bigint REFERENCES users, total numeric(12,2), note text);
CREATE TABLE public.keyless (a int, b text, j json);
ALTER TABLE public.keyless REPLICA IDENTITY FULL;
CREATE TABLE public.by_index (code text NOT NULL, v int);
CREATE UNIQUE INDEX by_index_code ON public.by_index (code);
ALTER TABLE public.by_index REPLICA IDENTITY USING INDEX by_index_code;
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed Case" ("Key" int PRIMARY KEY, "va""lue" text);
CREATE TABLE public.gen (id int PRIMARY KEY, a int, twice int GENERATED ALWAYS AS (a * 2) STORED);
`;

export const BASE_DATA = `
INSERT INTO users (name, email, score, ratio, tags, doc, raw, m, p, dom, r, ip, mac, u, iv, d, pt, x)
  SELECT 'user ' || g, 'u' || g || '@x', g * 1.5, g / 3.0, ARRAY['a', NULL, 'c'], jsonb_build_object('g', g), '\\x00ff',
    'ok', ROW(g, 'p')::pair, g, int4range(g, g + 10), '10.0.0.1', '08:00:2b:01:02:03', gen_random_uuid(), '1 day', '2026-01-01', point(g, g), '<a/>'
  FROM generate_series(1, 50) g;
INSERT INTO orders (user_id, total, note) SELECT (g % 50) + 1, g * 2.5, 'order ' || g FROM generate_series(1, 100) g;
INSERT INTO keyless VALUES (1, 'dup', '{"a":1}'), (1, 'dup', '{"a":1}'), (2, NULL, NULL);
INSERT INTO by_index VALUES ('a', 1), ('b', 2);
INSERT INTO "Odd Schema"."Mixed Case" VALUES (1, 'it''s'), (2, E'line\\nbreak');
INSERT INTO gen (id, a) VALUES (1, 10), (2, 20);
`;

/** Changes after the base: every statement kind, DDL between DML, TRUNCATE, sequences. */
export const CHANGES = [
  `INSERT INTO users (name, email, ratio, raw, tags) VALUES ('new', 'new@x', 'NaN', '\\x', '{}'), (E'quote'' back\\\\slash', NULL, '-Infinity', NULL, '{{1,2},{3,4}}')`,
  `UPDATE users SET name = name || ' updated', score = score + 1 WHERE id % 3 = 0`,
  `DELETE FROM orders WHERE id % 7 = 0`,
  `BEGIN; INSERT INTO orders (user_id, total) VALUES (1, 1.23); ALTER TABLE orders ADD COLUMN status text DEFAULT 'new'; UPDATE orders SET status = 'paid' WHERE id < 10; COMMIT`,
  `DELETE FROM keyless WHERE a = 1 AND b = 'dup'`,
  `UPDATE keyless SET b = 'was null' WHERE a = 2`,
  `UPDATE by_index SET code = 'c', v = 3 WHERE code = 'a'`,
  `UPDATE "Odd Schema"."Mixed Case" SET "va""lue" = 'üñí ☃' WHERE "Key" = 1`,
  `UPDATE gen SET a = 11 WHERE id = 1`,
  `TRUNCATE by_index`,
  `INSERT INTO by_index VALUES ('z', 26)`,
  `CREATE TABLE later (id int PRIMARY KEY, v text)`,
  `INSERT INTO later SELECT g, 'v' || g FROM generate_series(1, 20) g`,
  `SELECT nextval('orders_id_seq'); SELECT nextval('orders_id_seq')`,
];

export async function runStatements(pg: PgCluster, db: string, statements: readonly string[]): Promise<void> {
  const client = await pg.connect(db);
  try {
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Table checksums of a database (rows + content hash per table). */
export async function tableSums(pg: PgCluster, db: string): Promise<Record<string, unknown>> {
  const sums = await databaseChecksums(pg.profile(db));
  return sums.tables;
}

export async function sequenceValues(pg: PgCluster, db: string): Promise<Record<string, string>> {
  const rows = await pg.query<{ name: string; v: string }>(
    `SELECT schemaname || '.' || sequencename AS name, coalesce(last_value, 0)::text AS v FROM pg_sequences WHERE schemaname <> 'pgincr' ORDER BY 1`,
    [],
    db,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.v]));
}

/** Changes after the recorded point in time P of the round trip. */
export const AFTER_P = [`UPDATE orders SET note = 'after P' WHERE id < 20`, `DELETE FROM users WHERE id > 50`, `INSERT INTO later VALUES (100, 'after P')`];

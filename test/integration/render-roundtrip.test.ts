/**
 * Exactness against a real server: changes decoded from real pgoutput payloads (taken with
 * pg_logical_slot_get_binary_changes under the pinned output settings) are rendered to SQL,
 * replayed with psql into a second database that has the same schema, and both databases are
 * compared row by row as text.
 */
import fc from 'fast-check';
import type { Client } from 'pg';
import type { PgoutputMessage } from '../../src/core/decoding/model';
import { extractDdl, initDdlParser } from '../../src/core/ddl/extract';
import { parsePgoutput } from '../../src/core/decoding/pgoutput';
import { quoteIdent, quoteLiteral } from '../../src/core/sql/quote';
import { renderDelete, renderInsert, renderTruncate, renderUpdate, type RelationInfo } from '../../src/core/sql/render';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';

const PINNED = "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET bytea_output = 'hex';";
const HEADER = `SET client_encoding = 'UTF8'; SET standard_conforming_strings = on; ${PINNED} SET search_path = '';\n`;

const SCHEMA = `
CREATE TYPE mood AS ENUM ('sad', 'happy', 'it''s');
CREATE TYPE pair AS (n int, label text);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TABLE all_types (
  id int PRIMARY KEY,
  i2 smallint, i4 int, i8 bigint, num numeric, num_p numeric(10,3), f4 real, f8 double precision, b boolean,
  t text, vc varchar(20), ch char(5), "Odd ""Name"" é" text, by bytea, bt bit(4), vb varbit,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid,
  j json, jb jsonb, x xml, ai int[], at text[], a2 int[][], r int4range, tr tstzrange, nr numrange,
  c pair, e mood, dm posint, ip inet, cd cidr, mac macaddr, mac8 macaddr8, m money,
  pt point, ln line, ls lseg, bx box, pa path, pg polygon, ci circle, tv tsvector, tq tsquery
);
CREATE TABLE dup (a int, b text, c float8, d boolean, e char(3), f inet, g json, h numeric, i point) ;
ALTER TABLE dup REPLICA IDENTITY FULL;
CREATE TABLE toasty (id int PRIMARY KEY, big text, small text);
CREATE TABLE ga (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text, g int GENERATED ALWAYS AS (length(v)) STORED);
CREATE TABLE idx (a int NOT NULL, b text NOT NULL, v text);
CREATE UNIQUE INDEX idx_ab ON idx (a, b);
ALTER TABLE idx REPLICA IDENTITY USING INDEX idx_ab;
CREATE TABLE parent (id int PRIMARY KEY, v text);
CREATE TABLE child (PRIMARY KEY (id)) INHERITS (parent);
`;

const WORKLOAD = `
INSERT INTO all_types (id) VALUES (1);
INSERT INTO all_types VALUES (2, -32768, 2147483647, -9223372036854775808, 123456789012345678901234567890.000000000001, 1.5,
  0.1, 0.1::float8 + 0.2::float8, true, E'it''s a \\\\ "q"\\n\\r\\tline ☃ 🎉', '', 'ab', 'x', '\\x00ff27005c'::bytea, B'1010', B'1',
  '2024-02-29', '24:00:00', '12:34:56.789+05:30', '2000-01-01 00:00:00.000001', '1999-12-31 23:59:59.999999-08',
  '1 year 2 mons -3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  E'{"a": "x\\\\ny",  "b": [1, 2.50]}', E'{"a": "x\\\\ny",  "b": [1, 2.50]}', '<a x="1">b &amp; c</a>',
  '{1,NULL,3}', E'{"a\\\\"b",NULL,"NULL","","é"}', '{{1,2},{3,4}}', '[1,5)', '[2024-01-01,infinity)', 'empty',
  ROW(1, 'a "b", (c)'), 'it''s', 5, '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', 1234.56,
  '(1,2)', '{1,2,3}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1)]', '((0,0),(1,0),(0,1))', '<(0,0),1>',
  'a fat cat''s', 'fat & rat');
INSERT INTO all_types (id, num, f4, f8, b, t, d, ts, tstz, j, jb, x, ai, at, nr, iv, c)
  VALUES (3, 'NaN', 'NaN', '-Infinity', false, '', 'infinity', '-infinity', 'infinity', 'null', '"str"', E'<a>\\n</a>', '{}', '{}', '(,)', '-00:00:01', ROW(NULL, NULL));
INSERT INTO all_types (id, f8, t, f4) VALUES (4, '-0', E'\\\\', 'Infinity');
UPDATE all_types SET t = E'new\\nline', e = 'sad' WHERE id = 2;
DELETE FROM all_types WHERE id = 4;
UPDATE all_types SET id = 40 WHERE id = 3;

INSERT INTO dup VALUES (1, 'x', 0.5, true, 'ab', '1.2.3.4', '{"k": 1}', 1.0, '(1,2)'), (1, 'x', 0.5, true, 'ab', '1.2.3.4', '{"k": 1}', 1.0, '(1,2)'),
  (1, 'x', 0.5, true, 'ab', '1.2.3.4', '{"k": 1}', 1.0, '(1,2)'), (1, 'x', 0.5, true, 'ab', '1.2.3.4', '{"k": 1}', 1.00, '(1,2)'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE dup SET b = 'y' WHERE ctid = (SELECT ctid FROM dup WHERE a = 1 AND h::text = '1.0' LIMIT 1);
DELETE FROM dup WHERE ctid = (SELECT ctid FROM dup WHERE a = 1 AND b = 'x' AND h::text = '1.0' LIMIT 1);
DELETE FROM dup WHERE h::text = '1.00';
UPDATE dup SET c = 2.5 WHERE a = 2;

INSERT INTO toasty SELECT 1, string_agg(md5(i::text), '') , 's' FROM generate_series(1, 2000) i;
UPDATE toasty SET small = 'changed' WHERE id = 1;
UPDATE toasty SET id = 2 WHERE id = 1;
INSERT INTO toasty SELECT 3, string_agg(md5(i::text), '') , 's' FROM generate_series(1, 2000) i;
DELETE FROM toasty WHERE id = 3;

INSERT INTO ga (v) VALUES ('one'), ('three');
UPDATE ga SET v = 'seven' WHERE id = 1;

INSERT INTO idx VALUES (1, 'a', 'v1'), (2, 'b', 'v2');
UPDATE idx SET v = 'w' WHERE a = 1;
UPDATE idx SET b = 'c' WHERE a = 2;
DELETE FROM idx WHERE a = 1;

INSERT INTO parent VALUES (1, 'p');
INSERT INTO child VALUES (1, 'c');
UPDATE parent SET v = 'p2' WHERE id = 1 AND tableoid = 'parent'::regclass;
INSERT INTO parent VALUES (2, 'p');
INSERT INTO child VALUES (2, 'c');
TRUNCATE ONLY parent;
`;

/** A tiny capture: real pgoutput payloads → SQL transactions, as the capture activity will do. */
async function captureAsSql(client: Client): Promise<string> {
  const { rows } = await client.query<{ data: Buffer }>(
    "SELECT data FROM pg_logical_slot_get_binary_changes('s', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub')",
  );
  const rels = new Map<number, RelationInfo>();
  let out = HEADER;
  for (const { data } of rows) {
    const msg: PgoutputMessage = parsePgoutput(data);
    switch (msg.tag) {
      case 'begin':
        out += `BEGIN; -- xid ${msg.xid}\n`;
        break;
      case 'commit':
        out += `COMMIT;\n`;
        break;
      case 'relation': {
        const { rows: atts } = await client.query<{ attname: string; attidentity: string; attgenerated: string }>(
          'SELECT attname, attidentity, attgenerated FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped',
          [msg.relationId],
        );
        const names = (pred: (a: (typeof atts)[number]) => boolean) => new Set(atts.filter(pred).map((a) => Buffer.from(a.attname, 'utf8').toString('latin1')));
        const { tag: _tag, ...relation } = msg;
        rels.set(msg.relationId, { ...relation, identityAlways: names((a) => a.attidentity === 'a'), generated: names((a) => a.attgenerated === 's') });
        break;
      }
      case 'insert':
        out += renderInsert(rels.get(msg.relationId)!, msg.newTuple);
        break;
      case 'update': {
        const old = msg.keyTuple ? { kind: 'key' as const, tuple: msg.keyTuple } : msg.oldTuple ? { kind: 'old' as const, tuple: msg.oldTuple } : undefined;
        out += renderUpdate(rels.get(msg.relationId)!, msg.newTuple, old);
        break;
      }
      case 'delete': {
        const old = msg.keyTuple ? { kind: 'key' as const, tuple: msg.keyTuple } : { kind: 'old' as const, tuple: msg.oldTuple! };
        out += renderDelete(rels.get(msg.relationId)!, old);
        break;
      }
      case 'truncate':
        out += renderTruncate(
          msg.relationIds.map((id) => rels.get(id)!),
          msg,
        );
        break;
      default:
        break;
    }
  }
  return out;
}

async function tableText(pg: PgCluster, db: string, table: string): Promise<string[]> {
  const client = await pg.connect(db);
  try {
    await client.query(PINNED);
    const { rows } = await client.query<{ r: string }>(`SELECT x::text AS r FROM ${table} x ORDER BY 1`);
    return rows.map((r) => r.r);
  } finally {
    await client.end();
  }
}

describe('rendered SQL replays exactly', () => {
  let pg: PgCluster;
  let sql = '';
  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('src');
    await pg.createDatabase('dst');
    pg.psql(['-q'], 'src', SCHEMA);
    pg.psql(['-q'], 'dst', SCHEMA);
    await pg.query('CREATE PUBLICATION pub FOR ALL TABLES', [], 'src');
    await pg.query("SELECT pg_create_logical_replication_slot('s', 'pgoutput')", [], 'src');
    pg.psql(['-q'], 'src', WORKLOAD);
    const client = await pg.connect('src');
    try {
      await client.query(PINNED);
      sql = await captureAsSql(client);
    } finally {
      await client.end();
    }
    pg.psql(['-q', '-f', '-'], 'dst', Buffer.from(sql, 'latin1').toString('utf8'));
  }, 180_000);
  afterAll(async () => {
    await pg?.stop();
  }, 60_000);

  it.each(['all_types', 'dup', 'toasty', 'ga', 'idx', 'parent', 'child'])('%s matches the source row for row', async (table) => {
    const [src, dst] = [await tableText(pg, 'src', table), await tableText(pg, 'dst', table)];
    if (table !== 'parent') expect(src.length).toBeGreaterThan(0); // parent was emptied by TRUNCATE ONLY
    expect(dst).toEqual(src);
  });

  it('wrote what the rules say', () => {
    const lines = sql.split('\n');
    const about = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).map((l) => (l.length > 200 ? `${l.slice(0, 200)}…` : l));
    expect(about('INSERT INTO public.ga ')).toEqual([
      "INSERT INTO public.ga (id, v) OVERRIDING SYSTEM VALUE VALUES ('1', 'one');",
      "INSERT INTO public.ga (id, v) OVERRIDING SYSTEM VALUE VALUES ('2', 'three');",
    ]);
    expect(about('UPDATE ONLY public.ga ')).toEqual(["UPDATE ONLY public.ga SET v = 'seven' WHERE id = '1';"]);
    // unchanged toast values are left out of SET, also when the key changes
    expect(about('UPDATE ONLY public.toasty ')).toEqual([
      "UPDATE ONLY public.toasty SET small = 'changed' WHERE id = '1';",
      "UPDATE ONLY public.toasty SET id = '2', small = 'changed' WHERE id = '1';",
    ]);
    expect(about('DELETE FROM ONLY public.dup ')).toHaveLength(2);
    expect(about('DELETE FROM ONLY public.dup ')[0]).toMatch(
      /^DELETE FROM ONLY public\.dup WHERE ctid = \(SELECT ctid FROM ONLY public\.dup WHERE a = '1'::integer AND b = 'x'::text AND format\('%s', b\) = 'x' /,
    );
    expect(about('TRUNCATE ')).toEqual(['TRUNCATE ONLY public.parent;']);
    // no raw line break inside any statement: every line is a whole statement or a marker
    expect(lines.filter((l) => l !== '' && !/^(SET|BEGIN|COMMIT|INSERT|UPDATE|DELETE|TRUNCATE)\b.*;( -- .*)?$/.test(l))).toEqual([]);
  });

  it('quoteLiteral and quoteIdent round-trip through the server', async () => {
    const client = await pg.connect('src');
    try {
      const str = fc.string({ unit: 'binary', maxLength: 30 }).map((s) => s.replace(/\0/g, ''));
      await fc.assert(
        fc.asyncProperty(str, async (s) => {
          const b = Buffer.from(s, 'utf8').toString('latin1');
          const q = Buffer.from(`SELECT ${quoteLiteral(b)} AS v`, 'latin1').toString('utf8');
          const { rows } = await client.query<{ v: string }>(q);
          expect(rows[0]!.v).toBe(s);
        }),
        { numRuns: 150 },
      );
      const ident = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\0'));
      await fc.assert(
        fc.asyncProperty(ident, async (s) => {
          const { fields } = await client.query(`SELECT 1 AS ${quoteIdent(s)}`);
          expect(fields[0]!.name).toBe(s);
        }),
        { numRuns: 150 },
      );
      for (const kw of ['select', 'user', 'natural', 'between', 'name', 'type', 'json', 'Mixed']) {
        const { fields } = await client.query(`SELECT 1 AS ${quoteIdent(kw)}`);
        expect(fields[0]!.name).toBe(kw);
      }
    } finally {
      await client.end();
    }
  }, 120_000);

  it('rewritten DDL runs inside a transaction and creates the same columns, without rows', async () => {
    await initDdlParser();
    const source = [
      ['CREATE TABLE AS', 'CREATE TABLE ctas AS SELECT id, t, ai, c FROM all_types WITH DATA'],
      ['SELECT INTO', 'SELECT id, num_p AS "Nü", e INTO UNLOGGED TABLE sel_into FROM all_types WHERE id > 1'],
      ['CREATE INDEX', 'CREATE INDEX CONCURRENTLY ctas_id ON ctas (id)'],
      ['DROP INDEX', 'DROP INDEX CONCURRENTLY ctas_id'],
    ] as const;
    const replay = source.map(([commandTag, query]) => {
      const r = extractDdl({ query: Buffer.from(query, 'utf8').toString('latin1'), commandTag, ordinal: 0 });
      if (r.kind !== 'statement') throw new Error(`not a statement: ${JSON.stringify(r)}`);
      return Buffer.from(r.text, 'latin1').toString('utf8');
    });
    pg.psql(['-q'], 'dst', `BEGIN;\n${replay.join(';\n')};\nCOMMIT;\n`);
    for (const [, query] of source.slice(0, 2)) pg.psql(['-q'], 'src', `${query};`);
    const shape = async (db: string, table: string) =>
      pg.query<{ d: string }>(
        `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) AS d FROM pg_attribute WHERE attrelid = '${table}'::regclass AND attnum > 0`,
        [],
        db,
      );
    for (const table of ['ctas', 'sel_into']) {
      expect(await shape('dst', table)).toEqual(await shape('src', table));
      expect(await pg.query(`SELECT count(*)::int AS n FROM ${table}`, [], 'dst')).toEqual([{ n: 0 }]);
    }
    const persistence = await pg.query(`SELECT relpersistence FROM pg_class WHERE relname = 'sel_into'`, [], 'dst');
    expect(persistence).toEqual([{ relpersistence: 'u' }]);
  }, 60_000);
});

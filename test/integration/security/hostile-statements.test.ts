/**
 * Statements and names written to break the capture, end to end (setup → base → capture → stop
 * → restore, through the real activities):
 * - DDL sent with `standard_conforming_strings = off` whose plain string holds `\'`: read with
 *   the setting on, the text is two DDL statements (one a function nobody created); the segment
 *   must hold the one statement the server ran, and the restore run it as it ran;
 * - schema, table, column, type and sequence names holding a line break followed by a
 *   transaction marker (`COMMIT; -- xid …`, `BEGIN; -- xid …`) and other control characters:
 *   the capture never stops on them, and the restore equals the source.
 * - generated multi-statement query strings run on the server under both settings: the DDL the
 *   server ran (its ddl_history rows) is the generator's, and each row's statement, cut out with
 *   the recorded setting, is the statement the generator wrote (the server is the reference).
 * The first two fail on the code before identifiers were written as `U&"…"` and before DDL was
 * split with the session's setting; the third for the setting off.
 */
import fc from 'fast-check';
import { migrate } from '../../../src/adapters/pg/migrations';
import { extractDdl, initDdlParser } from '../../../src/core/ddl/extract';
import { expectedDdl, queryText } from '../../helpers/ddl-text';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { captureAndStop, expectRestoreEqualsSource, sealedSegmentText, setUpChain, tearDownChain, type DirectChain } from '../../helpers/direct-pipeline';

jest.setTimeout(300_000);

let pg: PgCluster;

beforeAll(async () => {
  pg = await startCluster();
  await pg.query('CREATE ROLE mallory LOGIN'); // no privileges beyond what each test grants
});
afterAll(async () => {
  await pg?.stop();
});

/** Runs each string as one simple-protocol query, in order, on one session (of `user`). */
async function run(db: string, queries: string[], user?: string): Promise<void> {
  const c = await pg.connect(db, user ? { user } : {});
  try {
    for (const q of queries) await c.query(q);
  } finally {
    await c.end();
  }
}

test('DDL sent by an ordinary role under standard_conforming_strings = off replays as the statement the server ran', async () => {
  const chain: DirectChain = await setUpChain(pg, 'scsoff', 'CREATE TABLE keep (id int PRIMARY KEY); GRANT CREATE ON SCHEMA public TO mallory');
  // As psql sends the script: the SET, then everything up to the `;` that ends a statement with
  // the setting off (the `\'` does not end the string), then the last line.
  const script = [
    'SET standard_conforming_strings = off',
    "CREATE TABLE t1 (a text DEFAULT '\\'); CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$; --')\n;",
    'CREATE TABLE t2 (b int)',
    "INSERT INTO t1 DEFAULT VALUES; INSERT INTO t1 VALUES ('x\\\\y\\'z')",
  ];
  await run('scsoff', script, 'mallory'); // an ordinary role
  const longDefault = "'); CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$; --";
  const defaultOf = async (db: string) =>
    (await pg.query<{ d: string }>("SELECT pg_get_expr(adbin, adrelid) AS d FROM pg_attrdef WHERE adrelid = 'public.t1'::regclass", [], db))[0]?.d;
  expect(await defaultOf('scsoff')).toBe(`${quoteText(longDefault)}::text`);
  try {
    await captureAndStop(pg, chain);
    const segments = sealedSegmentText(chain);
    expect(segments).toMatch(/^SELECT .*pg_catalog\.set_config\('standard_conforming_strings', 'off', true\);$/m);
    // one CREATE TABLE t1, its default the long string: the function is text inside it
    expect(segments).toContain("DO $pgincr$ BEGIN EXECUTE E'CREATE TABLE t1 (a text DEFAULT ''\\\\''); CREATE FUNCTION public.evil()");
    await expectRestoreEqualsSource(pg, chain, 'scsoff_r');
    expect(await defaultOf('scsoff_r')).toBe(`${quoteText(longDefault)}::text`);
    expect(await pg.query("SELECT to_regclass('public.t2') IS NOT NULL AS t2, to_regproc('public.evil') IS NULL AS no_evil", [], 'scsoff_r')).toEqual([
      { t2: true, no_evil: true },
    ]);
    const values = (await pg.query<{ a: string }>('SELECT a FROM t1', [], 'scsoff_r')).map((r) => r.a).sort();
    expect(values).toEqual([longDefault, "x\\y'z"].sort());
  } finally {
    await tearDownChain(pg, chain, 'scsoff_r');
  }
});

/** `'…'` as pg_get_expr shows a text constant (quotes doubled; backslashes as they are). */
function quoteText(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

test('names with line breaks before transaction markers and other control characters, from an ordinary role, are captured and restored equal', async () => {
  const schema = 's\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1';
  const table = 'x\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1';
  const column = 'c\nBEGIN; -- xid 2 commit_lsn 0/1 committed 2026-01-01 00:00:00.000000+00';
  const type = 'e\r\nBEGIN; -- xid 3 commit_lsn 0/1 committed 2026-01-01 00:00:00.000000+00';
  const other = 'tab\there\u0001 \\ "q" \u007f\n-- end of segment: transactions 1';
  const q = (n: string) => `"${n.replace(/"/g, '""')}"`;
  const chain: DirectChain = await setUpChain(pg, 'ctlnames', 'GRANT CREATE ON DATABASE ctlnames TO mallory; GRANT CREATE ON SCHEMA public TO mallory');
  const s = q(schema);
  const t = `${s}.${q(table)}`;
  await run(
    'ctlnames',
    [
      `CREATE SCHEMA ${s}`,
      `CREATE TYPE ${s}.${q(type)} AS ENUM ('a', 'b')`,
      `CREATE TABLE ${t} (id serial PRIMARY KEY, ${q(column)} ${s}.${q(type)}, ${q(other)} text)`,
      `INSERT INTO ${t} (${q(column)}, ${q(other)}) VALUES ('a', 'one'), ('b', 'two'), ('a', 'three')`,
      `UPDATE ${t} SET ${q(other)} = 'updated', ${q(column)} = 'b' WHERE id = 1`,
      `DELETE FROM ${t} WHERE id = 2`,
      `CREATE TABLE public.${q(other)} (k int PRIMARY KEY)`,
      `INSERT INTO public.${q(other)} VALUES (1), (2)`,
      `TRUNCATE public.${q(other)}`,
      `INSERT INTO public.${q(other)} VALUES (3)`,
      `ALTER TABLE ${t} RENAME ${q(other)} TO ${q(`${other}2`)}`,
      `INSERT INTO ${t} (${q(column)}) VALUES ('b')`,
    ],
    'mallory',
  );
  try {
    await captureAndStop(pg, chain); // never stops on the names
    const segments = sealedSegmentText(chain);
    expect(segments).toContain('INSERT INTO U&"s\\000ACOMMIT; -- xid 1 end_lsn 0/1 changes 1".U&"x\\000ACOMMIT; -- xid 1 end_lsn 0/1 changes 1"');
    expect(segments).toContain('TRUNCATE ONLY public.U&"tab\\0009here\\0001 \\\\ ""q"" \\007F\\000A-- end of segment: transactions 1"');
    expect(segments).toContain("DO $pgincr$ BEGIN EXECUTE E'CREATE TABLE");
    expect(segments).toContain(
      `SELECT pg_catalog.setval(E'"s\\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1"."x\\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1_id_seq"', 4, true);`,
    );
    // every marker-like line is a real marker
    const lines = segments.split('\n');
    expect(lines.filter((l) => /^(BEGIN|COMMIT); -- xid [123] /.test(l))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('-- end of segment: transactions 1') && !/body_sha256 [0-9a-f]{64}$/.test(l))).toEqual([]);
    await expectRestoreEqualsSource(pg, chain, 'ctlnames_r');
    const rows = (db: string) => pg.query(`SELECT * FROM ${t} ORDER BY id`, [], db);
    expect(await rows('ctlnames_r')).toEqual(await rows('ctlnames'));
    expect((await rows('ctlnames')).length).toBe(3);
  } finally {
    await tearDownChain(pg, chain, 'ctlnames_r');
  }
});

test('generated query strings: the statement cut out of each ddl_history row is the one the server ran', async () => {
  await initDdlParser();
  await pg.createDatabase('split');
  const c = await pg.connect('split');
  const bytes = (x: string) => Buffer.from(x, 'utf8').toString('latin1');
  try {
    await migrate(c);
    await c.query('CREATE TABLE base (a text)');
    await c.query("SET check_function_bodies = off; SET client_min_messages = 'error'");
    for (const scs of [true, false]) {
      await c.query(`SET standard_conforming_strings = ${scs ? 'on' : 'off'}`);
      let exact = 0;
      await fc.assert(
        fc.asyncProperty(queryText(scs, true), async (q) => {
          await c.query('BEGIN');
          try {
            const last = (await c.query<{ last: string }>('SELECT coalesce(max(id), 0)::text AS last FROM pgincr.ddl_history')).rows[0]!.last;
            await c.query(q.text);
            const { rows } = await c.query<{ tag: string; query: string; ordinal: number; scs: string }>(
              `SELECT command_tag AS tag, convert_to(query, 'UTF8') AS query, statement_ordinal AS ordinal, standard_conforming_strings AS scs
                 FROM pgincr.ddl_history WHERE id > $1 AND query = $2 ORDER BY id`,
              [last, q.text],
            );
            const want = expectedDdl(q.stmts);
            expect(rows.map((r) => r.tag)).toEqual(want.map((w) => w.tag)); // the server split it as the generator did
            for (const [i, r] of rows.entries()) {
              const text = (r.query as unknown as Buffer).toString('latin1');
              const input = { query: text, commandTag: r.tag, ordinal: r.ordinal, standardConformingStrings: r.scs !== 'off' };
              const got = extractDdl(input);
              if (got.kind === 'unreplayable') expect(got.reason).toMatch(/which one ran is not known/);
              else {
                expect(got).toEqual({ kind: 'statement', text: bytes(want[i]!.text), rewritten: false });
                exact++;
              }
            }
          } finally {
            await c.query('ROLLBACK');
          }
        }),
        { numRuns: 60 },
      );
      expect(exact).toBeGreaterThan(30);
    }
  } finally {
    await c.end();
  }
});

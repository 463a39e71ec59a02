/**
 * "The seed's five tests": decoder_raw's own regression test (pg_plugins decoder_raw/sql/basic.sql)
 * — replica identity DEFAULT with a primary key, DEFAULT without one, USING INDEX, USING INDEX on
 * a second column, FULL, NOTHING; booleans; numeric/float NaN and ±Infinity; an unchanged TOAST
 * value (SET STORAGE EXTERNAL) — run as round trips through pgincr, for both decoders on the same
 * statements: setup → the statements → capture → restore equals the source (schema, data,
 * sequences), plus what the segment text must show (no placeholder, no `= null`).
 *
 * The statements are basic.sql's, with one table per case instead of one `aa` dropped after
 * each (so the restore checks every case), and one addition marked below (a NULL in a FULL
 * table, where decoder_raw writes `= null`). Where a case cannot be captured as written, the
 * test asserts the documented refusal (docs/decoders.md, "The seed's tests"):
 * - NOTHING under pgoutput: PostgreSQL refuses the UPDATE/DELETE (the table is published);
 * - NOTHING under decoder_raw: pgincr refuses the ALTER TABLE (decoder_raw would drop the
 *   UPDATE/DELETE silently), so the table keeps its primary key identity and its changes are
 *   captured.
 * The decoder_raw half runs only where the plugin is installed (raw-cluster.ts).
 */
import type { PgCluster } from '../../helpers/pg-cluster';
import { startCluster } from '../../helpers/pg-cluster';
import { expectRestoreEqualsSource, sealedSegmentText, type DirectChain } from '../../helpers/direct-pipeline';
import { decoderRawInstalled, describeRaw, startRawCluster } from './raw-cluster';
import { captureUntilConfirmed, setUpDecoderChain, type Decoder } from './raw-chain';

jest.setTimeout(300_000);

interface Step {
  sql: string;
  /** The statement fails, with this message, under these decoders (documented behaviour). */
  refused?: Partial<Record<Decoder, RegExp>>;
}

/** basic.sql's four UPDATE/DELETE statements of the identity cases. */
const identityDml = (t: string): Step[] => [
  { sql: `INSERT INTO ${t} VALUES (1, 'aa'), (2, 'bb')` },
  { sql: `UPDATE ${t} SET b = 'cc' WHERE a = 1` }, // a non-selective column
  { sql: `UPDATE ${t} SET a = 3 WHERE a = 1` }, // only the selective column
  { sql: `UPDATE ${t} SET a = 4, b = 'dd' WHERE a = 2` }, // both
  { sql: `DELETE FROM ${t} WHERE a = 4` },
];

const NO_IDENTITY = /cannot (update|delete from) table "aa_nothing" because it does not have a replica identity and publishes (updates|deletes)/;

const SEED_CASES: Record<string, Step[]> = {
  'DEFAULT with a primary key': [{ sql: 'CREATE TABLE aa_pk (a int primary key, b text NOT NULL)' }, ...identityDml('aa_pk')],
  'DEFAULT without a primary key (setup gives it FULL)': [
    { sql: 'CREATE TABLE aa_nopk (a int, b text NOT NULL)' },
    ...identityDml('aa_nopk'),
    // pgincr's addition: a NULL in the old row of a FULL table (decoder_raw writes `a = null`).
    { sql: `INSERT INTO aa_nopk VALUES (NULL, 'nn')` },
    { sql: `UPDATE aa_nopk SET b = 'nn2' WHERE a IS NULL` },
    { sql: `DELETE FROM aa_nopk WHERE b = 'nn2'` },
  ],
  'USING INDEX': [
    { sql: 'CREATE TABLE aa_index (a int NOT NULL, b text)' },
    { sql: 'CREATE UNIQUE INDEX aa_index_i ON aa_index(a)' },
    { sql: 'ALTER TABLE aa_index REPLICA IDENTITY USING INDEX aa_index_i' },
    ...identityDml('aa_index'),
  ],
  'USING INDEX on a second column': [
    { sql: 'CREATE TABLE aa_index2 (b text, a int NOT NULL)' },
    { sql: 'CREATE UNIQUE INDEX aa_index2_i ON aa_index2(a)' },
    { sql: 'ALTER TABLE aa_index2 REPLICA IDENTITY USING INDEX aa_index2_i' },
    { sql: `INSERT INTO aa_index2 VALUES ('aa', 1), ('bb', 2)` },
    ...identityDml('aa_index2').slice(1),
  ],
  FULL: [{ sql: 'CREATE TABLE aa_full (a int primary key, b text NOT NULL)' }, { sql: 'ALTER TABLE aa_full REPLICA IDENTITY FULL' }, ...identityDml('aa_full')],
  NOTHING: [
    { sql: 'CREATE TABLE aa_nothing (a int primary key, b text NOT NULL)' },
    { sql: 'ALTER TABLE aa_nothing REPLICA IDENTITY NOTHING', refused: { decoder_raw: /"public"."aa_nothing" would have no usable replica identity/ } },
    { sql: `INSERT INTO aa_nothing VALUES (1, 'aa'), (2, 'bb')` },
    { sql: `UPDATE aa_nothing SET b = 'cc' WHERE a = 1`, refused: { pgoutput: NO_IDENTITY } },
    { sql: `UPDATE aa_nothing SET a = 3 WHERE a = 1`, refused: { pgoutput: NO_IDENTITY } },
    { sql: `DELETE FROM aa_nothing WHERE a = 4`, refused: { pgoutput: NO_IDENTITY } },
  ],
  'boolean true and false': [
    { sql: 'CREATE TABLE bool_vals (a boolean)' },
    { sql: 'INSERT INTO bool_vals VALUES (true)' },
    { sql: 'INSERT INTO bool_vals VALUES (false)' },
  ],
  'numeric and float NaN and ±Infinity': [
    { sql: 'CREATE TABLE num_vals (a numeric, b float4, c float8)' },
    { sql: `INSERT INTO num_vals VALUES ('Nan'::numeric, 'Nan'::float4, 'Nan'::float8)` },
    { sql: `INSERT INTO num_vals VALUES (1.0, '+Infinity'::float4, '+Infinity'::float8)` },
    { sql: `INSERT INTO num_vals VALUES (2.0, '-Infinity'::float4, '-Infinity'::float8)` },
    { sql: 'INSERT INTO num_vals VALUES (3.0, 4.0, 5.0)' },
  ],
  'unchanged TOAST value': [
    { sql: 'CREATE TABLE tt (a int primary key, t text)' },
    { sql: 'ALTER TABLE tt ALTER COLUMN t SET STORAGE EXTERNAL' },
    { sql: `INSERT INTO tt VALUES (1, 'foo')` },
    { sql: `INSERT INTO tt VALUES (2, repeat('x', 3000))` },
    { sql: 'UPDATE tt SET t=t WHERE a=1' },
    { sql: 'UPDATE tt SET t=t WHERE a=2' },
  ],
};

async function runSteps(pg: PgCluster, db: string, decoder: Decoder): Promise<string[]> {
  const outcomes: string[] = [];
  const c = await pg.connect(db);
  try {
    for (const [name, steps] of Object.entries(SEED_CASES)) {
      for (const step of steps) {
        const refused = step.refused?.[decoder];
        const error = await c.query(step.sql).then(
          () => null,
          (err: Error) => err.message,
        );
        if (refused ? !error || !refused.test(error) : error) outcomes.push(`${name}: ${step.sql}: ${error ?? 'succeeded, expected a refusal'}`);
      }
    }
  } finally {
    await c.end();
  }
  return outcomes;
}

function seedSuite(decoder: Decoder, cluster: () => PgCluster) {
  let chain: DirectChain;
  let text: string;

  beforeAll(async () => {
    const pg = cluster();
    const db = `seed_${decoder}`;
    chain = await setUpDecoderChain(pg, db, '', decoder);
    expect(await runSteps(pg, db, decoder)).toEqual([]);
    await captureUntilConfirmed(pg, chain, decoder);
    text = sealedSegmentText(chain);
  });
  afterAll(() => chain?.env.cleanup());

  it('restores every case exactly (schema, data, sequences)', async () => {
    await expectRestoreEqualsSource(cluster(), chain, `seed_${decoder}_restored`);
    expect(await cluster().query('SELECT a, b FROM aa_nothing ORDER BY a', [], `seed_${decoder}_restored`)).toEqual(
      decoder === 'decoder_raw'
        ? [
            { a: 2, b: 'bb' },
            { a: 3, b: 'cc' },
          ]
        : [
            { a: 1, b: 'aa' },
            { a: 2, b: 'bb' },
          ],
    );
    expect(await cluster().query('SELECT a, length(t) AS n FROM tt ORDER BY a', [], `seed_${decoder}_restored`)).toEqual([
      { a: 1, n: 3 },
      { a: 2, n: 3000 },
    ]);
  });

  it('writes no placeholder and no `= null`, and every change of every case', () => {
    expect(text).toMatch(new RegExp(`decoder: ${decoder}`));
    expect(text).not.toMatch(/unchanged|toast-datum/i);
    expect(text).not.toMatch(/= ?null/i);
    // The NULL in the FULL table's old row is compared with IS NULL.
    expect(text).toMatch(/^UPDATE ONLY public\.aa_nopk SET b = 'nn2' WHERE .*\ba IS NULL\b.*;$/m);
    expect(text).toMatch(/^DELETE FROM ONLY public\.aa_nopk WHERE .*\ba IS NULL\b.*;$/m);
    // The unchanged TOAST value is not written: the update of row 2 leaves t out.
    const toastUpdates = text.split('\n').filter((l) => l.startsWith('UPDATE ONLY public.tt '));
    expect(toastUpdates).toEqual([`UPDATE ONLY public.tt SET t = 'foo' WHERE a = '1';`, `UPDATE ONLY public.tt SET a = a WHERE a = '2';`]);
    // Every UPDATE of the identity cases is there (decoder_raw drops them where it lacks an identity).
    const updates = (t: string) => text.split('\n').filter((l) => l.startsWith(`UPDATE ONLY public.${t} `)).length;
    expect(['aa_pk', 'aa_nopk', 'aa_index', 'aa_index2', 'aa_full', 'aa_nothing'].map(updates)).toEqual([3, 4, 3, 3, 3, decoder === 'decoder_raw' ? 2 : 0]);
    expect(text).toMatch(/'NaN'/);
    expect(text).toMatch(/'-Infinity'/);
  });

  if (decoder === 'decoder_raw') {
    it('refuses every DDL that would leave a captured table without a usable replica identity', async () => {
      const c = await cluster().connect(`seed_${decoder}`);
      try {
        const refused = async (sql: string) =>
          c.query(sql).then(
            () => 'done',
            (err: Error) => err.message,
          );
        const unusable = /would have no usable replica identity/;
        expect(await refused('ALTER TABLE aa_pk REPLICA IDENTITY NOTHING')).toMatch(unusable);
        // Dropping the key or the identity index: the replica-identity guard (which fires first) gives FULL.
        expect(await refused('ALTER TABLE aa_pk DROP CONSTRAINT aa_pk_pkey')).toBe('done');
        expect(await refused('ALTER TABLE aa_full REPLICA IDENTITY DEFAULT')).toBe('done'); // it has a primary key
        expect(await refused('DROP INDEX aa_index_i')).toBe('done');
        expect(await refused('ALTER TABLE aa_index REPLICA IDENTITY DEFAULT')).toMatch(unusable); // the user's choice, no primary key
        expect(await refused('CREATE TABLE keyless (x int)')).toBe('done'); // the new-table guard gives it FULL
        expect(
          await cluster().query(
            `SELECT relname, relreplident FROM pg_class WHERE relname IN ('aa_pk', 'aa_index', 'aa_full', 'keyless') ORDER BY 1`,
            [],
            `seed_${decoder}`,
          ),
        ).toEqual([
          { relname: 'aa_full', relreplident: 'd' },
          { relname: 'aa_index', relreplident: 'f' },
          { relname: 'aa_pk', relreplident: 'f' },
          { relname: 'keyless', relreplident: 'f' },
        ]);
      } finally {
        await c.end();
      }
    });
  }
}

describe("the seed's tests (decoder_raw basic.sql) round trip through pgincr", () => {
  let pg: PgCluster;
  beforeAll(async () => {
    pg = decoderRawInstalled ? await startRawCluster() : await startCluster();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  describe('pgoutput', () => seedSuite('pgoutput', () => pg));
  describeRaw('decoder_raw', () => seedSuite('decoder_raw', () => pg));
});

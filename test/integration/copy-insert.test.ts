/**
 * The applier sends merged INSERT runs as COPY (core/restore/copy-text.ts). Property, against a
 * real server: for rows of random values over many column types — typmods, arrays, bytea, json,
 * domains, NULLs, backslashes, tabs and line breaks, and values some types refuse — COPY of
 * `copyRows` stores exactly what the renderer's INSERT stores (every column's text), or both fail
 * (not always with the same SQLSTATE: with several bad values in a row, the INSERT reports an input
 * error before a typmod error of an earlier column, COPY the first column's; a failed merged batch
 * is applied as written, which reports the statement's own error). And the target catalog's `copy` flag: set for these columns, not where
 * a domain's typmod is out of reach.
 */
import fc from 'fast-check';
import type { Client } from 'pg';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { parseChangeLine, type InsertChange } from '../../src/core/restore/change-lines';
import { copyRows, copyStatement } from '../../src/core/restore/copy-text';
import { quoteLiteral } from '../../src/core/sql/quote';
import { queryWithCopies } from '../../src/restore/apply-copy';
import { TableShapes } from '../../src/restore/table-shapes';

jest.setTimeout(300_000);

/** Per column: its type, values it takes (edge cases included), and values it refuses. */
const text = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', "'", '\\', '\t', '\n', '\r', '.', 'N', ',', '"', '{', '}', 'é', '😀') });
const digits = fc.stringMatching(/^-?[0-9]{1,4}(\.[0-9]{1,4})?$/);
const COLUMNS: Array<[string, string, fc.Arbitrary<string>, string[]]> = [
  ['t', 'text', text, []],
  [
    'vc',
    'varchar(5)',
    fc.oneof(
      text.filter((v) => v.length <= 5),
      fc.constantFrom('abc  ', 'abcde   ', 'ab\\  '),
    ),
    ['abcdef'],
  ],
  [
    'ch',
    'char(4)',
    fc.oneof(
      text.filter((v) => v.length <= 4),
      fc.constantFrom('ab', 'abcd ', ''),
    ),
    ['abcde'],
  ],
  ['n', 'numeric(6,2)', fc.oneof(digits, fc.constantFrom('NaN', '1e3', '1234.567', ' 7 ', '-0.005')), ['Infinity', '12345.678', '1e5']],
  ['nn', 'numeric', fc.oneof(digits, fc.constantFrom('1.000', '-0', 'NaN', 'Infinity')), ['1..2']],
  [
    'b',
    'bytea',
    fc.oneof(
      fc.uint8Array({ maxLength: 8 }).map((a) => `\\x${Buffer.from(a).toString('hex')}`),
      fc.constantFrom('a\\\\b', 'plain', '\\001\\377'),
    ),
    ['\\x0', '\\9'],
  ],
  [
    'ia',
    'int[]',
    fc.array(fc.option(fc.integer({ min: -99, max: 99 }), { nil: null })).map((a) => `{${a.map((v) => (v === null ? 'NULL' : v)).join(',')}}`),
    ['{1,x}', '{{1,2},{3}}'],
  ],
  ['ta', 'text[]', fc.array(text, { maxLength: 3 }).map((a) => `{${a.map((v) => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',')}}`), ['{"a}']],
  ['va', 'varchar(3)[]', fc.constantFrom('{ab,"c d"}', '{"ab  "}', '{}', '{NULL,x}'), ['{abcd}']],
  [
    'ts',
    'timestamptz(0)',
    fc.constantFrom('2026-01-01 10:00:00.6+00', 'infinity', '2026-06-01 12:34:56.789123+02', '2026-01-01 23:59:59.5-01'),
    ['2026-02-30 00:00:00+00'],
  ],
  ['tp', 'timestamp(2)', fc.constantFrom('2026-01-01 10:00:00.555', 'epoch', '1999-12-31 23:59:59.999'), ['2026-13-01']],
  ['tm', 'time(1)', fc.constantFrom('10:00:00.55', '24:00:00', '23:59:59.96'), ['25:00:00']],
  ['iv', 'interval day to second(0)', fc.constantFrom('1 day 02:03:04.6', '1 year 2 months', '-3 hours', 'P1DT2H', '5'), ['1 fortnight']],
  ['bt', 'bit(3)', fc.constantFrom('101', '000'), ['1', '1011', 'x01']],
  ['vb', 'varbit(4)', fc.constantFrom('1', '0000', ''), ['10101']],
  [
    'j',
    'json',
    fc.constantFrom(
      '{"a": "b\\\
"}',
      '[1, 2.50]',
      '"tab\t"',
      '{"a": 1, "a": 2}',
    ),
    ['{"a":'],
  ],
  ['jb', 'jsonb', fc.constantFrom('{"b": 1, "a": [true, null]}', '"\\u00e9"', '1.0'), ['{1}']],
  ['bo', 'bool', fc.constantFrom('t', 'yes', 'off', ' 0 '), ['maybe']],
  ['d3', 'public.short3', fc.constantFrom('ab', 'abc ', 'abc  '), ['abcd']],
  ['dc', 'public.checked', fc.constantFrom('ok', 'ok\n', ''), ['bad']],
];
/** A row of good values (some NULL), and one bad value in some rows. */
const rowArb = fc
  .tuple(fc.tuple(...COLUMNS.map(([, , good]) => fc.option(good, { nil: null, freq: 6 }))), fc.option(fc.nat({ max: 1_000_000 }), { nil: null, freq: 3 }))
  .map(([values, bad]) => {
    if (bad === null) return values;
    const at = bad % COLUMNS.length;
    const choices = (COLUMNS[at] as [string, string, unknown, string[]])[3];
    if (choices.length === 0) return values;
    return values.map((v, i) => (i === at ? (choices[Math.floor(bad / COLUMNS.length) % choices.length] as string) : v));
  });

const DDL = `CREATE DOMAIN public.short3 AS varchar(3);
  CREATE DOMAIN public.checked AS text CHECK (VALUE <> 'bad');
  CREATE DOMAIN public.short3_again AS public.short3;`;
const table = (name: string) => `CREATE TABLE public.${name} (${COLUMNS.map(([c, type]) => `${c} ${type}`).join(', ')})`;

async function outcome(client: Client, run: () => Promise<unknown>, tableName: string): Promise<string> {
  await client.query('SAVEPOINT s');
  try {
    await run();
    const r = await client.query<{ row: string }>(
      // Sorted: a heap scan's order is where the rows landed, which the dead rows of earlier rolled-back tries can change.
      `SELECT json_agg(r ORDER BY r::text)::text AS row FROM (SELECT json_build_array(${COLUMNS.map(([c]) => `${c}::text`).join(', ')}) AS r FROM public.${tableName}) s`,
    );
    await client.query('ROLLBACK TO SAVEPOINT s');
    return `stored ${r.rows[0]?.row}`;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT s');
    const code = (error as { code?: string }).code;
    // A server error of data (class 22) or of a check (23): anything else is a bug of the test or of COPY.
    return code && /^2[23]/.test(code) ? 'error' : `unexpected ${code ?? ''} ${(error as Error).message}`;
  }
}

describe('COPY of merged INSERTs', () => {
  let pg: PgCluster;
  let client: Client;

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('copy');
    client = await pg.connect('copy');
    await client.query(`${DDL}; ${table('via_insert')}; ${table('via_copy')};
      CREATE TABLE public.deep (id int PRIMARY KEY, v public.short3_again);
      CREATE TABLE public.ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)`);
    await client.query("SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'");
  });

  afterAll(async () => {
    await client?.end();
    await pg?.stop();
  });

  it('stores exactly what the INSERT stores, or fails as it does (property)', async () => {
    let stored = 0;
    let failed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { minLength: 1, maxLength: 3 }), async (rows) => {
        const names = COLUMNS.map(([c]) => c).join(', ');
        const lines = rows.map(
          (values) => `INSERT INTO public.via_copy (${names}) VALUES (${values.map((v) => (v === null ? 'NULL' : quoteLiteral(v))).join(', ')});`,
        );
        const parsed = lines.map((l) => parseChangeLine(l) as InsertChange);
        expect(parsed.every((p) => p?.kind === 'insert')).toBe(true);
        await client.query('BEGIN');
        try {
          const viaInsert = await outcome(
            client,
            async () => {
              for (const l of lines) await client.query(l.replace('public.via_copy', 'public.via_insert'));
            },
            'via_insert',
          );
          const viaCopy = await outcome(
            client,
            () => queryWithCopies(client, copyStatement(parsed[0] as InsertChange), [copyRows(parsed.map((p) => p.row))]),
            'via_copy',
          );
          expect(viaCopy).toBe(viaInsert);
          if (viaInsert.startsWith('stored')) stored += 1;
          else failed += 1;
        } finally {
          await client.query('ROLLBACK');
        }
      }),
      { numRuns: 300 },
    );
    // Both kinds of outcome were compared, not only one.
    expect(stored).toBeGreaterThan(20);
    expect(failed).toBeGreaterThan(20);
  });

  it('the catalog allows COPY for these columns, not for a domain over a domain, and flags GENERATED ALWAYS identity', async () => {
    const shapes = new TableShapes();
    const t = (name: string) => [`public.${name}`, { schema: 'public', table: name }] as const;
    await shapes.load(client, new Map([t('via_copy'), t('deep'), t('ident')]));
    expect(shapes.get('public.via_copy')?.copy).toBe(true);
    expect(shapes.get('public.deep')?.copy).toBe(false);
    expect(shapes.get('public.ident')).toMatchObject({ copy: true, identityAlways: true });
    expect(shapes.get('public.via_copy')?.identityAlways).toBe(false);
  });

  it('a COPY statement without its data fails the query, and data without a COPY is refused', async () => {
    await expect(queryWithCopies(client, 'BEGIN; COPY public.via_copy (t) FROM STDIN; COMMIT;', [])).rejects.toThrow(/no data for this COPY/);
    await client.query('ROLLBACK');
    await expect(queryWithCopies(client, 'SELECT 1', [Buffer.from('x\n')])).rejects.toThrow(/1 COPY data sets prepared, 0 COPY statements ran/);
  });
});

/**
 * A partial restore's base without the data of tables left out (core/restore/base-data-filter.ts):
 * COPY blocks dropped up to their `\.`, whatever the chunking; kept tables, partitions attached
 * to them and everything else passed byte for byte; lookalike lines never read as data.
 */
import { BaseDataFilter, filterEncoding, skippedDataGuard } from '../../../src/core/restore/base-data-filter';
import { parseSelection } from '../../../src/core/restore/table-selection';

const header = (name: string, schema = 'public') => `--\n-- Data for Name: ${name}; Type: TABLE DATA; Schema: ${schema}; Owner: app\n--\n\n`;

const SCRIPT = [
  "SET client_encoding = 'UTF8';",
  'CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$',
  'COPY public.big (id) FROM stdin;',
  '$$;',
  'CREATE TABLE public.events (id integer) PARTITION BY LIST (id);',
  'CREATE TABLE public.events_a (id integer);',
  'ALTER TABLE ONLY public.events ATTACH PARTITION public.events_a FOR VALUES IN (1);',
  'ALTER TABLE ONLY public.big ATTACH PARTITION public.big_a FOR VALUES IN (1);',
  '',
  header('big') + 'COPY public.big (id, v) FROM stdin;',
  '1\tCOPY public.x (a) FROM stdin;',
  '2\t\\\\.',
  '\\.',
  '',
  header('orders') + 'COPY public.orders (id) FROM stdin;',
  '1',
  '\\.',
  '',
  header('events_a') + 'COPY public.events_a (id) FROM stdin;',
  '\\.',
  '',
  header('we"ird.na\nme') + 'COPY public."we""ird.na',
  'me" (id) FROM stdin;',
  '7',
  '\\.',
  '',
  header('Ünï') + 'COPY public."Ünï" (id) FROM stdin;',
  '8',
  '\\.',
  '',
  header('big_a') + 'COPY public.big_a (id) FROM stdin;',
  '9',
  '\\.',
  '',
  "SELECT pg_catalog.setval('public.s', 1, true);",
  'CREATE INDEX i ON public.big (id);',
  '',
].join('\n');

function run(script: string, tables: string[], chunk: number): { out: string; filter: BaseDataFilter } {
  const filter = new BaseDataFilter(parseSelection(tables, []), 'utf8');
  const bytes = Buffer.from(script, 'utf8');
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(...filter.push(bytes.subarray(i, i + chunk)));
  parts.push(...filter.end());
  return { out: Buffer.concat(parts).toString('utf8'), filter };
}

describe('BaseDataFilter', () => {
  it.each([1, 2, 3, 7, 64, 1 << 20])('drops the data of tables left out, in chunks of %i bytes', (chunk) => {
    const { out, filter } = run(SCRIPT, ['public.orders', 'public.events', 'public."we""ird.na\nme"', 'public."Ünï"'], chunk);
    // Kept: every statement, the chosen tables' data, a partition attached to a chosen table.
    const expected = SCRIPT.replace('COPY public.big (id, v) FROM stdin;\n1\tCOPY public.x (a) FROM stdin;\n2\t\\\\.\n\\.\n', '').replace(
      'COPY public.big_a (id) FROM stdin;\n9\n\\.\n',
      '',
    );
    expect(out).toBe(expected);
    expect(filter.skipped).toEqual([
      { schema: 'public', name: 'big' },
      { schema: 'public', name: 'big_a' },
    ]);
    expect(filter.skippedBytes).toBe(Buffer.byteLength('1\tCOPY public.x (a) FROM stdin;\n2\t\\\\.\n\\.\n9\n\\.\n'));
  });

  it('keeps every table of a chosen schema, and passes a script without pg_dump headers unchanged', () => {
    const filter = new BaseDataFilter(parseSelection([], ['public']), 'utf8');
    const out = Buffer.concat([...filter.push(Buffer.from(SCRIPT)), ...filter.end()]).toString();
    expect(out).toBe(SCRIPT);
    const bare = 'COPY public.big (id) FROM stdin;\n1\n\\.\n';
    const f2 = new BaseDataFilter(parseSelection(['public.orders'], []), 'utf8');
    expect(Buffer.concat([...f2.push(Buffer.from(bare)), ...f2.end()]).toString()).toBe(bare);
  });

  it('writes a guard that names nothing in SQL text: names as hex', () => {
    const sql = skippedDataGuard(parseSelection(['public."x\'; DROP TABLE y; --"'], []), [{ schema: 'public', name: "a'b" }], 'utf8');
    expect(sql).not.toContain("a'b");
    expect(sql).not.toContain('DROP TABLE');
    expect(sql).toContain(Buffer.from("a'b").toString('hex'));
    expect(skippedDataGuard(parseSelection(['a.b'], []), [], 'utf8')).toBe('');
    expect(filterEncoding('UTF8')).toBe('utf8');
    expect(filterEncoding('EUC_JP')).toBeNull();
  });
});

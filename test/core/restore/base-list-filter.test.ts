/**
 * A partial restore of a directory base (core/restore/base-list-filter.ts): the list's data
 * entries of tables left out are commented out, named through the schema script's exact names
 * (line breaks, quotes, spaces), and anything uncertain (an OID without a name, a name seen two
 * ways, a list text that disagrees) stays in.
 */
import { filterDataEntries, TableOids } from '../../../src/core/restore/base-list-filter';
import type { QualifiedName } from '../../../src/core/restore/table-selection';

/** What `pg_restore -v --section=pre-data -f -` prints for these tables (pg_dump 15, verbatim shapes). */
const PRE_DATA = [
  '-- TOC entry 215 (class 1259 OID 16388)',
  '-- Name: a b; Type: TABLE; Schema: public; Owner: postgres',
  '--',
  '',
  'CREATE TABLE public."a b" (',
  '    id integer',
  ');',
  '-- TOC entry 214 (class 1259 OID 16385)',
  '-- Name: we"ird.na me; Type: TABLE; Schema: public; Owner: postgres',
  '--',
  '',
  'CREATE TABLE public."we""ird.na',
  'me" (',
  '    id integer',
  ');',
  '-- TOC entry 216 (class 1259 OID 16391)',
  'CREATE UNLOGGED TABLE sales.big (',
  '    id integer',
  ');',
  // A function body that looks like an entry: it gives 16391 a second name, so 16391 stays uncertain.
  '-- TOC entry 230 (class 1255 OID 16400)',
  'CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$',
  '-- TOC entry 216 (class 1259 OID 16391)',
  'CREATE TABLE public.orders (',
  '$$;',
  '-- TOC entry 217 (class 1259 OID 16394)',
  'CREATE TABLE public.orders (',
  '    id integer',
  ');',
  '-- TOC entry 218 (class 1259 OID 16397)',
  'CREATE TABLE public.old (',
  ');',
];

const LIST = [
  ';',
  '; Archive created at 2026-12-06 21:00:00 UTC',
  '215; 1259 16388 TABLE public a b postgres',
  '3352; 0 16388 TABLE DATA public a b postgres',
  '3351; 0 16385 TABLE DATA public we"ird.na me postgres',
  '3353; 0 16391 TABLE DATA sales big postgres',
  '3354; 0 16394 TABLE DATA public orders postgres',
  '3355; 0 16399 TABLE DATA public unknown postgres',
  // The list's text for 16397 disagrees with the script's name: kept.
  '3356; 0 16397 TABLE DATA public other postgres',
  ';3357; 0 16385 TABLE DATA public we"ird.na me postgres',
  '',
].join('\n');

function oids(): TableOids {
  const o = new TableOids();
  for (const line of PRE_DATA) o.line(line);
  return o;
}

describe('filterDataEntries', () => {
  it('comments out the data entries of tables left out, by their exact names', () => {
    const keep = (t: QualifiedName) => t.schema === 'public' && t.name === 'orders';
    const r = filterDataEntries(LIST, oids(), keep);
    expect(r.left).toEqual([
      { schema: 'public', name: 'a b' },
      { schema: 'public', name: 'we"ird.na\nme' },
    ]);
    expect(r.dumpIds).toEqual(['3352', '3351']);
    expect(r.list.split('\n')).toEqual([
      ';',
      '; Archive created at 2026-12-06 21:00:00 UTC',
      '215; 1259 16388 TABLE public a b postgres',
      ';3352; 0 16388 TABLE DATA public a b postgres',
      ';3351; 0 16385 TABLE DATA public we"ird.na me postgres',
      '3353; 0 16391 TABLE DATA sales big postgres',
      '3354; 0 16394 TABLE DATA public orders postgres',
      '3355; 0 16399 TABLE DATA public unknown postgres',
      '3356; 0 16397 TABLE DATA public other postgres',
      ';3357; 0 16385 TABLE DATA public we"ird.na me postgres',
      '',
    ]);
  });

  it('keeps a chosen name with a line break and a quote', () => {
    const keep = (t: QualifiedName) => t.name === 'we"ird.na\nme';
    const r = filterDataEntries(LIST, oids(), keep);
    expect(r.left.map((t) => t.name)).toEqual(['a b', 'orders']);
    expect(r.list).toContain('\n3351; 0 16385 TABLE DATA public we"ird.na me postgres\n');
  });

  it('an OID named two ways, or never named, is never left out', () => {
    const o = oids();
    expect(o.get('16391')).toBeUndefined();
    expect(o.get('16399')).toBeUndefined();
    expect(o.get('16394')).toEqual({ schema: 'public', name: 'orders' });
    expect(filterDataEntries(LIST, o, () => false).left.map((t) => t.name)).toEqual(['a b', 'we"ird.na\nme', 'orders']);
  });
});

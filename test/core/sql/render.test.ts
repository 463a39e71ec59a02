import type { Tuple, TupleValue } from '../../../src/core/decoding/model';
import { renderDelete, renderInsert, renderTruncate, renderUpdate, type RelationInfo } from '../../../src/core/sql/render';
import { RenderError } from '../../../src/core/sql/render-error';

const t = (value: string): TupleValue => ({ kind: 'text', value });
const NULL: TupleValue = { kind: 'null' };
const U: TupleValue = { kind: 'unchanged' };
/** UTF-8 text as the byte string the decoder produces. */
const bytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
/** Rendered byte string back to text, for readable expectations. */
const text = (s: string) => Buffer.from(s, 'latin1').toString('utf8');

function rel(cols: Array<[string, boolean?]>, extra: Partial<RelationInfo> = {}): RelationInfo {
  return {
    relationId: 1,
    schema: 'public',
    table: 't',
    replicaIdentity: 'd',
    columns: cols.map(([name, isKey]) => ({ name, typeOid: 25, typeMod: -1, isKey: isKey ?? false })),
    identityAlways: new Set(),
    generated: new Set(),
    ...extra,
  };
}

describe('renderInsert: every type family as an untyped literal of its text form', () => {
  // [column, text output with the pinned settings, literal written]
  const cases: Array<[string, string | null, string]> = [
    ['int', '-9223372036854775808', "'-9223372036854775808'"],
    ['numeric', '1.50', "'1.50'"],
    ['numeric_nan', 'NaN', "'NaN'"],
    ['float_nan', 'NaN', "'NaN'"],
    ['float_inf', '-Infinity', "'-Infinity'"],
    ['float_exact', '0.30000000000000004', "'0.30000000000000004'"],
    ['bool', 't', "'t'"],
    ['text', 'it\'s a \\ "q"', "'it''s a \\ \"q\"'"],
    ['text_nl', 'line1\r\nline2\\', "E'line1\\r\\nline2\\\\'"],
    ['text_unicode', bytes('snow ☃ 🎉'), bytes("'snow ☃ 🎉'")],
    ['empty', '', "''"],
    ['null', null, 'NULL'],
    ['bytea', '\\x00ff27', "'\\x00ff27'"],
    ['bit', '101', "'101'"],
    ['date_inf', 'infinity', "'infinity'"],
    ['ts', '2024-02-29 23:59:59.999999+00', "'2024-02-29 23:59:59.999999+00'"],
    ['time', '24:00:00', "'24:00:00'"],
    ['interval', '1 year 2 mons -3 days +04:05:06.789', "'1 year 2 mons -3 days +04:05:06.789'"],
    ['uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
    ['json', '{"a": "x\\ny", "b": \'q\'}', '\'{"a": "x\\ny", "b": \'\'q\'\'}\''],
    ['xml', '<a x="1">b &amp; c</a>', '\'<a x="1">b &amp; c</a>\''],
    ['arr', '{{1,NULL},{3,4}}', "'{{1,NULL},{3,4}}'"],
    ['arr_text', '{"a\\"b",NULL,"NULL",""}', '\'{"a\\"b",NULL,"NULL",""}\''],
    ['range', '[1,5)', "'[1,5)'"],
    ['composite', '(1,"a b",)', '\'(1,"a b",)\''],
    ['enum', 'happy', "'happy'"],
    ['inet', '192.168.0.1', "'192.168.0.1'"],
    ['money', '$1,234.56', "'$1,234.56'"],
    ['point', '(1,2)', "'(1,2)'"],
    ['tsvector', "'a' 'it''s':1", "'''a'' ''it''''s'':1'"],
  ];
  it.each(cases)('%s', (name, value, literal) => {
    const r = rel([[`c_${name}`]]);
    const sql = renderInsert(r, [value === null ? NULL : t(value)]);
    expect(sql).toBe(`INSERT INTO public.t (c_${name}) VALUES (${literal});\n`);
    expect(sql.slice(0, -1)).not.toMatch(/[\r\n]/);
  });

  it('writes a whole row, leaving generated columns out', () => {
    const r = rel([['id', true], ['Name'], ['total']], { generated: new Set(['total']) });
    expect(renderInsert(r, [t('1'), t(bytes('Zoë')), t('3')])).toBe(bytes("INSERT INTO public.t (id, \"Name\") VALUES ('1', 'Zoë');\n"));
  });

  it('adds OVERRIDING SYSTEM VALUE for identity ALWAYS columns', () => {
    const r = rel([['id', true], ['v']], { identityAlways: new Set(['id']) });
    expect(renderInsert(r, [t('7'), NULL])).toBe("INSERT INTO public.t (id, v) OVERRIDING SYSTEM VALUE VALUES ('7', NULL);\n");
  });

  it('uses DEFAULT VALUES when no column is writable', () => {
    const r = rel([['g']], { generated: new Set(['g']) });
    expect(renderInsert(r, [t('1')])).toBe('INSERT INTO public.t DEFAULT VALUES;\n');
  });

  it('refuses unchanged toast values and arity mismatches', () => {
    expect(() => renderInsert(rel([['a']]), [U])).toThrow(RenderError);
    expect(() => renderInsert(rel([['a'], ['b']]), [t('1')])).toThrow(/has 1 values but the relation has 2 columns/);
  });
});

describe('renderUpdate / renderDelete: replica identity DEFAULT and INDEX', () => {
  const r = rel([['id', true], ['name'], ['doc']]);

  it('key unchanged: WHERE from the new row, key not re-set, unchanged toast left out', () => {
    expect(renderUpdate(r, [t('1'), t("O'Brien"), U])).toBe("UPDATE ONLY public.t SET name = 'O''Brien' WHERE id = '1';\n");
  });

  it('NULL is written as NULL in SET, never for unchanged toast', () => {
    expect(renderUpdate(r, [t('1'), NULL, U])).toBe("UPDATE ONLY public.t SET name = NULL WHERE id = '1';\n");
  });

  it('key changed: WHERE from the old key, new key set', () => {
    const key: Tuple = [t('1'), NULL, NULL];
    expect(renderUpdate(r, [t('2'), t('x'), t('big')], { kind: 'key', tuple: key })).toBe(
      "UPDATE ONLY public.t SET id = '2', name = 'x', doc = 'big' WHERE id = '1';\n",
    );
  });

  it('composite key under INDEX identity', () => {
    const ri = rel([['a', true], ['b', true], ['v']], { replicaIdentity: 'i' });
    expect(renderUpdate(ri, [t('1'), t('2'), t('v')])).toBe("UPDATE ONLY public.t SET v = 'v' WHERE a = '1' AND b = '2';\n");
    expect(renderDelete(ri, { kind: 'key', tuple: [t('1'), t('2'), NULL] })).toBe("DELETE FROM ONLY public.t WHERE a = '1' AND b = '2';\n");
  });

  it('an update that writes nothing still is one no-op statement', () => {
    const keysOnly = rel([
      ['a', true],
      ['b', true],
    ]);
    expect(renderUpdate(keysOnly, [t('1'), t('2')])).toBe("UPDATE ONLY public.t SET a = a WHERE a = '1' AND b = '2';\n");
  });

  it('identity ALWAYS columns are never SET; changing one is an error', () => {
    const ra = rel([['id', true], ['v']], { identityAlways: new Set(['id']) });
    expect(renderUpdate(ra, [t('1'), t('x')])).toBe("UPDATE ONLY public.t SET v = 'x' WHERE id = '1';\n");
    expect(() => renderUpdate(ra, [t('5'), t('x')], { kind: 'key', tuple: [t('1'), NULL] })).toThrow(
      /changes identity column id \(generated always\) from '1' to '5'/,
    );
  });

  it('partitioned roots are addressed without ONLY', () => {
    const rp = rel([['id', true], ['v']], { partitioned: true });
    expect(renderDelete(rp, { kind: 'key', tuple: [t('1'), NULL] })).toBe("DELETE FROM public.t WHERE id = '1';\n");
  });

  it('refuses tables without identity', () => {
    expect(() => renderDelete(rel([['a']]), { kind: 'key', tuple: [t('1')] })).toThrow(/has no replica identity columns/);
    expect(() => renderUpdate(rel([['a']], { replicaIdentity: 'n' }), [t('1')])).toThrow(/replica identity nothing/);
    expect(() => renderUpdate(r, [U, t('x'), U])).toThrow(/unchanged toast value for column id/);
  });
});

describe('renderUpdate / renderDelete: replica identity FULL', () => {
  const r = rel(
    [
      ['a', true],
      ['b', true],
      ['c', true],
    ],
    { replicaIdentity: 'f' },
  );
  const typed = (oids: number[], extra: Partial<RelationInfo> = {}): RelationInfo => ({
    ...r,
    columns: r.columns.map((c, i) => ({ ...c, typeOid: oids[i]! })),
    ...extra,
  });

  it('finds exactly one row by typed equality, IS NULL for nulls, text rechecked where = is looser than the text', () => {
    expect(renderDelete(r, { kind: 'old', tuple: [t('1'), NULL, t('x\ny')] })).toBe(
      "DELETE FROM ONLY public.t WHERE ctid = (SELECT ctid FROM ONLY public.t WHERE a = '1'::text AND format('%s', a) = '1' AND b IS NULL AND c = E'x\\ny'::text AND format('%s', c) = E'x\\ny' LIMIT 1);\n",
    );
    // integer: = is "same text", no recheck; numeric: 1.0 = 1.00, rechecked; json: no equality, text only
    expect(renderDelete(typed([23, 1700, 114]), { kind: 'old', tuple: [t('7'), t('1.0'), t('{"k": 1}')] })).toBe(
      "DELETE FROM ONLY public.t WHERE ctid = (SELECT ctid FROM ONLY public.t WHERE a = '7'::integer AND b = '1.0'::numeric AND format('%s', b) = '1.0' AND format('%s', c) = '{\"k\": 1}' LIMIT 1);\n",
    );
  });

  it('types that are not built in: as the catalog said, else by text', () => {
    const mood = { cast: 'public.mood', exact: true };
    const rt = typed([16385, 16390, 2950], {
      matchTypes: new Map([
        [16385, mood],
        [16390, null],
      ]),
    });
    expect(renderDelete(rt, { kind: 'old', tuple: [t('sad'), t('x'), t('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')] })).toBe(
      "DELETE FROM ONLY public.t WHERE ctid = (SELECT ctid FROM ONLY public.t WHERE a = 'sad'::public.mood AND format('%s', b) = 'x' AND c = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid LIMIT 1);\n",
    );
    // a built-in type without an equality entry (regclass) and an unknown OID: text
    expect(renderDelete(typed([2205, 16399, 0]), { kind: 'old', tuple: [t('t'), t('x'), t('y')] })).toBe(
      "DELETE FROM ONLY public.t WHERE ctid = (SELECT ctid FROM ONLY public.t WHERE format('%s', a) = 't' AND format('%s', b) = 'x' AND format('%s', c) = 'y' LIMIT 1);\n",
    );
  });

  it('sets only the columns that changed, skips unchanged toast in SET and WHERE', () => {
    expect(renderUpdate(typed([23, 23, 23]), [t('1'), t('2'), U], { kind: 'old', tuple: [t('1'), NULL, U] })).toBe(
      "UPDATE ONLY public.t SET b = '2' WHERE ctid = (SELECT ctid FROM ONLY public.t WHERE a = '1'::integer AND b IS NULL LIMIT 1);\n",
    );
  });

  it('partitioned roots use (tableoid, ctid)', () => {
    const rp = { ...r, partitioned: true };
    expect(renderDelete(rp, { kind: 'old', tuple: [t('1'), t('2'), t('3')] })).toMatch(
      /^DELETE FROM public\.t WHERE \(tableoid, ctid\) = \(SELECT tableoid, ctid FROM public\.t WHERE /,
    );
  });

  it('needs the old row', () => {
    expect(() => renderUpdate(r, [t('1'), t('2'), t('3')])).toThrow(/came without the old row/);
  });
});

describe('per-relation plans', () => {
  it('renders a relation the same way every time, and a changed copy by its own facts', () => {
    const r = rel([['id', true], ['v'], ['g']], { generated: new Set(['g']) });
    for (let i = 0; i < 3; i++) {
      expect(renderInsert(r, [t(String(i)), t('x'), t('y')])).toBe(`INSERT INTO public.t (id, v) VALUES ('${i}', 'x');\n`);
    }
    const changed = { ...r, generated: new Set<string>(), identityAlways: new Set(['id']), partitioned: true };
    expect(renderInsert(changed, [t('1'), t('x'), t('y')])).toBe("INSERT INTO public.t (id, v, g) OVERRIDING SYSTEM VALUE VALUES ('1', 'x', 'y');\n");
    expect(renderDelete(changed, { kind: 'key', tuple: [t('1'), NULL, NULL] })).toBe("DELETE FROM public.t WHERE id = '1';\n");
    expect(renderDelete(r, { kind: 'key', tuple: [t('1'), NULL, NULL] })).toBe("DELETE FROM ONLY public.t WHERE id = '1';\n");
  });
});

describe('renderTruncate', () => {
  it('names each table with ONLY, with RESTART IDENTITY and CASCADE as sent', () => {
    const a = rel([['x']]);
    const b = { ...rel([['y']]), schema: 'S', table: 'b' };
    expect(renderTruncate([a, b], { cascade: false, restartIdentity: false })).toBe('TRUNCATE ONLY public.t, ONLY "S".b;\n');
    expect(renderTruncate([a], { cascade: true, restartIdentity: true })).toBe('TRUNCATE ONLY public.t RESTART IDENTITY CASCADE;\n');
    expect(text(renderTruncate([{ ...a, partitioned: true }], { cascade: false, restartIdentity: false }))).toBe('TRUNCATE public.t;\n');
  });
});

import fc from 'fast-check';
import { parseChangeLine, type InsertChange } from '../../../src/core/restore/change-lines';
import { copyRows, copyStatement, overridesIdentity } from '../../../src/core/restore/copy-text';
import { quoteLiteral } from '../../../src/core/sql/quote';

/** COPY text format's reading of one line (what the server does with a field), for the property below. */
function readCopyLine(line: string): Array<string | null> {
  expect(line.endsWith('\n')).toBe(true);
  expect(line.slice(0, -1)).not.toMatch(/\n/);
  return line
    .slice(0, -1)
    .split('\t')
    .map((field) => {
      if (field === '\\N') return null;
      return field.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\' })[c] ?? `<bad escape ${c}>`);
    });
}

const insertOf = (values: Array<string | null>) =>
  parseChangeLine(
    `INSERT INTO public.t (${values.map((_, i) => `c${i}`).join(', ')}) VALUES (${values.map((v) => (v === null ? 'NULL' : quoteLiteral(v))).join(', ')});`,
  ) as InsertChange;

/** COPY's reading of data made of several lines. */
function readCopyData(data: Buffer): Array<Array<string | null>> {
  const text = data.toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => readCopyLine(`${line}\n`));
}

const copyLine = (row: string): string => copyRows([row]).toString('utf8');

describe('copyRows', () => {
  it.each<[string, Array<string | null>, string]>([
    ['NULL and the empty string', [null, ''], '\\N\t\n'],
    ['a doubled quote', ["it's"], "it's\n"],
    ['a backslash in a plain literal', ['a\\b'], 'a\\\\b\n'],
    ['a tab', ['a\tb'], 'a\\tb\n'],
    ['line breaks (an E literal): its escapes kept, its doubled quote undone', ["x'\n\r\\y"], "x'\\n\\r\\\\y\n"],
    ['a tab inside an E literal', ['\t\n'], '\\t\\n\n'],
    ['the text NULL and \\N as values', ['NULL', '\\N'], 'NULL\t\\\\N\n'],
    ['a lone period and backslash-period', ['.', '\\.'], '.\t\\\\.\n'],
    ['bytea hex and array text', ['\\x00ff', '{"a b",NULL,"c\\"d"}'], '\\\\x00ff\t{"a b",NULL,"c\\\\"d"}\n'],
  ])('%s', (_, values, expected) => {
    const line = copyLine(insertOf(values).row);
    expect(line).toBe(expected);
    expect(readCopyLine(line)).toEqual(values);
  });

  it('reads back every string the renderer can write (property)', () => {
    const value = fc.option(fc.string({ unit: fc.constantFrom('a', "'", '\\', '\t', '\n', '\r', '.', 'N', ',', ' ', '(', ')', 'é', '✓', '😀') }), {
      nil: null,
    });
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 6 }), (values) => {
        expect(readCopyLine(copyLine(insertOf(values).row))).toEqual(values);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back rows of any Unicode text, latin1-decoded bytes and long values, many rows in one buffer (property)', () => {
    const unit = fc.oneof(
      fc.constantFrom("'", '\\', '\t', '\n', '\r', '.', 'N', ','),
      fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
      fc.string({ unit: 'grapheme', maxLength: 1 }),
    );
    const value = fc.option(fc.string({ unit, maxLength: 40 }), { nil: null });
    const rows = fc.array(fc.array(value, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(rows, (values) => {
        const data = copyRows(values.map((v) => insertOf(v).row));
        expect(readCopyData(data)).toEqual(values);
      }),
      { numRuns: 1000 },
    );
  });

  it('never writes a line that reads as the end-of-data marker', () => {
    const data = copyRows([insertOf(['\\.', null]).row, insertOf(['\\.\n\\.', '.']).row]).toString('utf8');
    expect(data.split('\n')).not.toContain('\\.');
    expect(data).toBe('\\\\.\t\\N\n\\\\.\\n\\\\.\t.\n');
  });

  it('grows its buffer for huge values and values that double when escaped', () => {
    const huge = 'x\t\\é😀'.repeat(200_000);
    const values: Array<Array<string | null>> = [
      ['a', null],
      [huge, '\t'.repeat(300_000)],
      ['b', 'c'],
    ];
    const data = copyRows(values.map((v) => insertOf(v).row));
    expect(readCopyData(data)).toEqual(values);
  });

  it('refuses a row that is not in the parsed form', () => {
    expect(() => copyLine("('a' 'b')")).toThrow(/unexpected text/);
    expect(() => copyLine('(1)')).toThrow(/no literal/);
    expect(() => copyLine("('a)")).toThrow(/unterminated/);
    expect(() => copyLine("'a')")).toThrow(/must start with/);
  });
});

describe('copyStatement', () => {
  it("names the INSERT's table and columns as written, without OVERRIDING SYSTEM VALUE", () => {
    const plain = parseChangeLine('INSERT INTO "we""ird"."a) (b" ("x) y", z) VALUES (\'1\', NULL);') as InsertChange;
    expect(copyStatement(plain)).toBe('COPY "we""ird"."a) (b" ("x) y", z) FROM STDIN;');
    expect(overridesIdentity(plain.head)).toBe(false);
    const over = parseChangeLine("INSERT INTO public.t (id, v) OVERRIDING SYSTEM VALUE VALUES ('1', 'a');") as InsertChange;
    expect(copyStatement(over)).toBe('COPY public.t (id, v) FROM STDIN;');
    expect(overridesIdentity(over.head)).toBe(true);
  });
});

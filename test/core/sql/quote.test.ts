import { renderSequencePositions } from '../../../src/core/sql/capture-tables';
import { commentText, qualifiedName, quoteIdent, quoteLiteral, regclassText } from '../../../src/core/sql/quote';

describe('quoteIdent', () => {
  it('leaves plain lower-case non-reserved identifiers bare', () => {
    expect(quoteIdent('users')).toBe('users');
    expect(quoteIdent('_a1')).toBe('_a1');
    expect(quoteIdent('name')).toBe('name'); // unreserved keyword
    expect(quoteIdent('type')).toBe('type');
  });
  it('quotes upper case, spaces, quotes, digits first, non-ASCII bytes and reserved keywords', () => {
    expect(quoteIdent('Users')).toBe('"Users"');
    expect(quoteIdent('a b')).toBe('"a b"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteIdent('1a')).toBe('"1a"');
    expect(quoteIdent('a$b')).toBe('"a$b"');
    expect(quoteIdent(Buffer.from('tä', 'utf8').toString('latin1'))).toBe('"t\u00c3\u00a4"');
    expect(quoteIdent('select')).toBe('"select"');
    expect(quoteIdent('user')).toBe('"user"');
    expect(quoteIdent('natural')).toBe('"natural"'); // type/function-name keyword
    expect(quoteIdent('between')).toBe('"between"'); // column-name keyword
    expect(quoteIdent('')).toBe('""');
  });
  it('writes a name holding a control character as a U&"…" escape: one line, other bytes raw', () => {
    expect(quoteIdent('x\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1')).toBe('U&"x\\000ACOMMIT; -- xid 1 end_lsn 0/1 changes 1"');
    expect(quoteIdent('a\r\n\tb\u007f\u0001')).toBe('U&"a\\000D\\000A\\0009b\\007F\\0001"');
    // `\` doubled (the escape character), `"` doubled, non-ASCII bytes (here UTF-8 of ä) kept raw
    expect(quoteIdent('q"\\0041\n\u00c3\u00a4')).toBe('U&"q""\\\\0041\\000A\u00c3\u00a4"');
    for (const name of ['x\nBEGIN; -- xid 7', 'c\r', 'tab\there']) expect(quoteIdent(name)).not.toMatch(/[\x00-\x1f\x7f]/);
    expect(qualifiedName('s\nx', 't')).toBe('U&"s\\000Ax".t');
    // without a control character: the plain form, as before
    expect(quoteIdent('a\\b')).toBe('"a\\b"');
  });
  it('writes regclass input text without the U& form (that input does not read it)', () => {
    expect(regclassText('public', 'seq')).toBe('public.seq');
    expect(regclassText('S', 'x\ny"z')).toBe('"S"."x\ny""z"');
    expect(regclassText('public', 'select')).toBe('public."select"');
  });
  it('names a sequence whose name holds a line break in setval as regclass reads it, on one line', () => {
    const json = JSON.stringify([{ schema: 's', name: 'q\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1', last_value: '5', is_called: true }]);
    expect(renderSequencePositions(json)).toBe(`SELECT pg_catalog.setval(E's."q\\nCOMMIT; -- xid 1 end_lsn 0/1 changes 1"', 5, true);\n`);
  });
  it('qualifies, leaving out an empty schema', () => {
    expect(qualifiedName('public', 'Order')).toBe('public."Order"');
    expect(qualifiedName('', 't')).toBe('t');
  });
});

describe('quoteLiteral', () => {
  it('doubles single quotes and keeps backslashes as they are (standard_conforming_strings)', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral('C:\\dir')).toBe("'C:\\dir'");
    expect(quoteLiteral('')).toBe("''");
  });
  it('uses E-strings only for CR/LF, so no raw line break is ever written', () => {
    expect(quoteLiteral('a\nb')).toBe("E'a\\nb'");
    expect(quoteLiteral("x\r\n'\\")).toBe("E'x\\r\\n''\\\\'");
    expect(quoteLiteral('tab\there')).toBe("'tab\there'");
    expect(quoteLiteral('a\nb')).not.toMatch(/[\r\n]/);
  });
  it('passes non-ASCII bytes through', () => {
    const bytes = Buffer.from('日本\n', 'utf8').toString('latin1');
    expect(Buffer.from(quoteLiteral(bytes), 'latin1').toString('utf8')).toBe("E'日本\\n'");
  });
});

describe('commentText', () => {
  it('keeps comments on one line', () => {
    expect(commentText('a\nb\rc')).toBe('a\\nb\\rc');
  });
});

import { commentText, qualifiedName, quoteIdent, quoteLiteral } from '../../../src/core/sql/quote';

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

import { DDL_BLOCK_END, ddlRegionEnd, isDdlHeader } from '../../../src/core/restore/ddl-region';

const HEADER = '-- ddl: CREATE FUNCTION public.f() role alice at 2026-11-27 14:00:00+00';
const PATH = "SELECT pg_catalog.set_config('search_path', '\"$user\", public', true);";
const AFTER = "INSERT INTO public.t (a) VALUES ('1');";

/** The end index of the block at line 0 of `lines` (with one line after it). */
const endOf = (lines: string[]) => ddlRegionEnd([...lines, AFTER, ''], 0);

describe('ddlRegionEnd', () => {
  it('recognises the header', () => {
    expect(isDdlHeader(HEADER)).toBe(true);
    expect(isDdlHeader('-- pgincr marker: full-backup at 0/1')).toBe(false);
  });

  it('a plain block ends after its search_path reset line', () => {
    expect(endOf([HEADER, PATH, 'CREATE TABLE t (a int);', DDL_BLOCK_END])).toBe(4);
  });

  it('settings lines before and after the DDL, and warning comments after the header', () => {
    const set = (v: string) => `SELECT pg_catalog.set_config('TimeZone', '${v}', true);`;
    expect(
      endOf([HEADER, '-- WARNING pgincr: x', '-- WARNING pgincr: y', PATH, set('Europe/Paris'), 'ALTER TABLE t ADD b int;', set('UTC'), DDL_BLOCK_END]),
    ).toBe(8);
  });

  it('the comment-only form ends at its "not replayed" line', () => {
    expect(endOf([HEADER, '-- not replayed: temporary object'])).toBe(2);
    expect(endOf([HEADER, '-- WARNING pgincr: x', '-- not replayed: ran inside a function'])).toBe(3);
  });

  it('an empty recorded search_path: the first line looks like the end but is not', () => {
    expect(endOf([HEADER, DDL_BLOCK_END, 'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$', DDL_BLOCK_END, AFTER, '$$;', DDL_BLOCK_END])).toBe(7);
  });

  const bodies: Array<[string, string[]]> = [
    [
      'dollar quotes (tagged, with a nested other tag)',
      ['CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN', '  RETURN $x$ $f $x$;', DDL_BLOCK_END, AFTER, 'END $f$;'],
    ],
    ['a multi-line literal', ["COMMENT ON TABLE t IS 'a;", DDL_BLOCK_END, "it''s';"]],
    ['an E literal with escaped quotes', ["COMMENT ON TABLE t IS E'\\';", DDL_BLOCK_END, "\\\\';"]],
    ['a quoted identifier', ['CREATE TABLE "a;', DDL_BLOCK_END, '" (x int);']],
    ['nested block comments', ['CREATE TABLE t (/* x /* y */', DDL_BLOCK_END, '*/ a int);']],
    ['parentheses of a multi-action rule', ['CREATE RULE r AS ON INSERT TO t DO ALSO (', 'INSERT INTO public.u (a) VALUES (1);', DDL_BLOCK_END, ');']],
    ['a -- comment holding a quote', ["CREATE TABLE t ( -- it's", 'a int);']],
  ];
  it.each(bodies)('skips statement ends inside %s', (_what, ddl) => {
    expect(endOf([HEADER, PATH, ...ddl, DDL_BLOCK_END])).toBe(ddl.length + 3);
  });

  it('a dollar sign inside an identifier or a parameter does not open a dollar quote', () => {
    expect(endOf([HEADER, PATH, 'CREATE TABLE a$b$ (x int DEFAULT $1);', DDL_BLOCK_END])).toBe(4);
  });

  const unsure: Array<[string, string[]]> = [
    [
      'BEGIN ATOMIC (its semicolons are bare)',
      [HEADER, PATH, 'CREATE FUNCTION g() RETURNS void LANGUAGE sql BEGIN ATOMIC SELECT 1;', DDL_BLOCK_END, AFTER, 'END;', DDL_BLOCK_END],
    ],
    ['no end line', [HEADER, PATH, 'CREATE TABLE t (a int);']],
    ['an unterminated literal', [HEADER, PATH, "COMMENT ON TABLE t IS 'x;", DDL_BLOCK_END]],
    ['two statements', [HEADER, PATH, 'CREATE TABLE t (a int);', 'CREATE TABLE u (a int);', DDL_BLOCK_END]],
    ['something else after the header', [HEADER, 'CREATE TABLE t (a int);', DDL_BLOCK_END]],
    ['a search_path line that is not whole', [HEADER, `${PATH} SELECT 1;`, 'CREATE TABLE t (a int);', DDL_BLOCK_END]],
    ['the end line sharing its line', [HEADER, PATH, `CREATE TABLE t (a int); ${DDL_BLOCK_END}`]],
  ];
  it.each(unsure)('is unsure (runs to the end of the body) with %s', (_what, lines) => {
    const all = [...lines, AFTER, AFTER, ''];
    expect(ddlRegionEnd(all, 0)).toBe(all.length);
  });
});

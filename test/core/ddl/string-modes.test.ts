/**
 * Statement splitting under both `standard_conforming_strings` settings. The property generates
 * multi-statement query strings from known statements (quotes, backslashes, E'' strings, string
 * continuations, dollar quotes, `--` and nested block comments between and inside statements),
 * written as the server reads them with the given setting; the generator is the reference: each
 * DDL statement must come back exactly, never another statement in its place.
 */
import fc from 'fast-check';
import { expectedDdl as expected, queryText as query } from '../../helpers/ddl-text';
import { extractDdl, initDdlParser } from '../../../src/core/ddl/extract';
import { scannerText, stringConstants } from '../../../src/core/ddl/string-modes';

const bytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const utf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');

beforeAll(async () => {
  await initDdlParser();
});

describe('statements split as the server splits them', () => {
  for (const scs of [true, false]) {
    it(`returns each DDL statement exactly (standard_conforming_strings ${scs ? 'on' : 'off'})`, () => {
      fc.assert(
        fc.property(query(scs, false), (q) => {
          for (const e of expected(q.stmts)) {
            const r = extractDdl({ query: bytes(q.text), commandTag: e.tag, ordinal: e.ordinal, standardConformingStrings: scs });
            expect(r).toEqual({ kind: 'statement', text: bytes(e.text), rewritten: false });
          }
        }),
        { numRuns: 200 },
      );
    });

    it(`never puts another statement in a slot; with DML around, says when it cannot know (${scs ? 'on' : 'off'})`, () => {
      let exact = 0;
      let total = 0;
      fc.assert(
        fc.property(query(scs, true), (q) => {
          for (const e of expected(q.stmts)) {
            total++;
            const r = extractDdl({ query: bytes(q.text), commandTag: e.tag, ordinal: e.ordinal, standardConformingStrings: scs });
            if (r.kind === 'unreplayable') expect(r.reason).toMatch(/may have changed the setting: which one ran is not known/);
            else {
              expect(r).toEqual({ kind: 'statement', text: bytes(e.text), rewritten: false });
              exact++;
            }
          }
        }),
        { numRuns: 200 },
      );
      expect(exact).toBeGreaterThan(total * 0.6); // not vacuous
    });
  }
});

describe('scannerText', () => {
  it('makes each escaped quote of an escape-reading constant two quotes, keeping every offset', () => {
    const q = "CREATE TABLE t1 (a text DEFAULT '\\'); CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$; --')\n;";
    const c = scannerText(q, false)!;
    expect(c).toBe(q.replace("'\\'", "'''"));
    expect(c.length).toBe(q.length);
    expect(scannerText(q, true)).toBe(q);
    expect(scannerText("SELECT E'\\\\', '\\\\'", false)).toBe("SELECT E'\\\\', '\\\\'"); // an escaped backslash, then the end
  });

  it('blanks a comment between the parts of a continued constant, byte for byte', () => {
    expect(scannerText("SELECT 'a' -- ü\n'b'", true)).toBe("SELECT 'a'      \n'b'");
    expect(scannerText("SELECT 'a'; -- c\n'b'", true)).toBe("SELECT 'a'; -- c\n'b'");
  });

  it('finds constants as the server lexes them: prefixes only at a token start, no escapes in B/X strings', () => {
    const kinds = (t: string, scs: boolean) => stringConstants(t, scs)?.map((k) => [k.kind, t.slice(k.start, k.end)]);
    expect(kinds("SELECT abe'x', 1e'y', 1e5'z', n'w', B'0\\', x'f'", false)).toEqual([
      ['plain', "'x'"],
      ['escape', "e'y'"],
      ['plain', "'z'"],
      ['plain', "n'w'"],
      ['bits', "B'0\\'"],
      ['bits', "x'f'"],
    ]);
    expect(kinds("SELECT 'a\\' -- c\n  'b', \"q\\\"", true)).toEqual([['plain', "'a\\' -- c\n  'b'"]]);
    expect(kinds("SELECT $a$ ' $b$ ' $a$, a$b$c, '$a$'", false)).toEqual([['plain', "'$a$'"]]);
    expect(kinds("SELECT /* ' /* ' */ ' */ 'x'", false)).toEqual([['plain', "'x'"]]);
    expect(stringConstants("SELECT U&'x'", false)).toBeNull(); // the server refuses it with the setting off
    expect(stringConstants("SELECT 'x", false)).toBeNull();
  });
});

describe('control characters', () => {
  it('in quoted names and literals do not stop the split', () => {
    const q = `CREATE TABLE "a\u0001b\u001f" (x int DEFAULT '\u0002'); CREATE TABLE "\u000bc" ()`;
    const r = extractDdl({ query: bytes(q), commandTag: 'CREATE TABLE', ordinal: 1 });
    expect(r).toEqual({ kind: 'statement', text: 'CREATE TABLE "\u000bc" ()', rewritten: false });
  });
});

describe('the recorded setting and the setting the server read the string with', () => {
  const q = (s: string) => ({ query: bytes(s), commandTag: 'CREATE TABLE', ordinal: 0 });

  it('splits the reproduced script as the server did with the setting off', () => {
    const text = "CREATE TABLE t1 (a text DEFAULT '\\'); CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$; --')\n;";
    const r = extractDdl({ ...q(text), standardConformingStrings: false });
    expect(r.kind === 'statement' && utf8(r.text)).toBe(text.slice(0, text.indexOf('\n'))); // one statement, to the `)` after `--'`
    expect(extractDdl({ ...q(text), commandTag: 'CREATE FUNCTION', ordinal: 1, standardConformingStrings: false }).kind).toBe('in-function');
    // read with the setting on, it is the short statement (and the function is a statement of its own)
    const on = extractDdl(q(text));
    expect(on.kind === 'statement' && on.text).toBe("CREATE TABLE t1 (a text DEFAULT '\\')");
  });

  it('refuses to guess when a SET in the same string may have changed the setting', () => {
    const text =
      "SET standard_conforming_strings = off; CREATE TABLE t1 (a text DEFAULT '\\'); CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$; --')";
    const r = extractDdl({ ...q(text), standardConformingStrings: false });
    expect(r).toMatchObject({
      kind: 'unreplayable',
      reason: expect.stringMatching(/standard_conforming_strings off \(recorded at the firing\) and standard_conforming_strings on/),
    });
    // a backslash in a plain constant reads differently: the same statement text is no proof either
    const same = "SET standard_conforming_strings = off; CREATE TABLE t2 (a text DEFAULT 'a\\nb')";
    expect(extractDdl({ ...q(same), standardConformingStrings: false }).kind).toBe('unreplayable');
    // nor when the statement itself calls a function, which may change the setting before its firing
    const call = "CREATE INDEX i ON t ((f(a || 'x\\'))); CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$; --'))";
    expect(extractDdl({ ...q(call), commandTag: 'CREATE INDEX', standardConformingStrings: false }).kind).toBe('unreplayable');
    const expr = "CREATE INDEX i ON t ((a || 'x\\')); CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$; --'))";
    expect(extractDdl({ ...q(expr), commandTag: 'CREATE INDEX', standardConformingStrings: false }).kind).toBe('statement');
    // without a statement that may change it, the recorded setting is the one the string was read with
    expect(extractDdl({ ...q("CREATE TABLE t2 (a text DEFAULT 'a\\nb')"), standardConformingStrings: false }).kind).toBe('statement');
    expect(extractDdl({ ...q("SET search_path = x; CREATE TABLE t2 (a text DEFAULT 'a\\nb')"), standardConformingStrings: false }).kind).toBe('statement');
  });
});

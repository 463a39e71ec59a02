/**
 * Multi-statement query strings for statement-splitting tests, built from known statements, so
 * the generator is the reference for how the server splits them: string constants valid with
 * the given `standard_conforming_strings` (quotes, backslashes, `E''`, continued constants,
 * dollar quotes holding `;`, `'` and comment starts), `--` and nested block comments between
 * and inside statements, `;` runs. Unicode text is decoded (encode with UTF-8 for the server).
 */
import fc from 'fast-check';

/** Content of a constant read with escapes (E'…', or '…' with the setting off): every `\` paired. */
const escapedPiece = fc.constantFrom('a', '\\\\', "\\'", "''", ';', '--', '/*', '*/', '$$', '"', '\n', '\\n', ' ', 'é', '\\x41');
/** Content of a plain '…' with the setting on: a backslash is an ordinary character. */
const plainPiece = fc.constantFrom('a', '\\', "''", ';', '--', '/*', '*/', '$$', '"', '\n', ' ', '日');
const commentPiece = fc.constantFrom('a', "'", '\\', ';', '$$', '"', "E'", ' ', 'ü');

const content = (piece: fc.Arbitrary<string>) => fc.array(piece, { maxLength: 6 }).map((a) => a.join(''));

/** A string constant valid with the setting, and its continuation across a line break sometimes. */
function constant(scs: boolean): fc.Arbitrary<string> {
  const plain = content(scs ? plainPiece : escapedPiece).map((c) => `'${c}'`);
  const escape = content(escapedPiece).map((c) => `E'${c}'`);
  const dollar = content(fc.constantFrom("'", '\\', ';', '$', '--', '*/', '/*', '"', ' ')).map((c) => `$q$${c}$q$`);
  const single = fc.oneof(plain, escape, dollar);
  // a continued part reads as its first part does (escapes after E'…')
  const continued = fc
    .tuple(fc.boolean(), content(scs ? plainPiece : escapedPiece), content(escapedPiece), fc.constantFrom('\n', ' \n  ', ' -- c\n'))
    .map(([e, a, b, g]) => (e ? `E'${b}'${g}'${b}'` : `'${a}'${g}'${a}'`));
  return fc.oneof({ weight: 4, arbitrary: single }, { weight: 1, arbitrary: continued });
}

const lineComment = content(commentPiece).map((c) => `-- ${c}\n`);
const blockComment = fc.tuple(content(commentPiece), content(commentPiece)).map(([a, b]) => `/* ${a} /* ${b} */ ${a} */`);
const gap = fc.oneof(
  { weight: 3, arbitrary: fc.constant(' ') },
  { weight: 1, arbitrary: fc.constantFrom('\n', ' \n') },
  { weight: 1, arbitrary: lineComment },
  { weight: 1, arbitrary: blockComment },
);

export interface Stmt {
  text: string;
  /** The event trigger's command tag, or null for a statement that is not DDL. */
  tag: string | null;
}

function statement(scs: boolean, withDml: boolean): fc.Arbitrary<Stmt> {
  const lit = constant(scs);
  const ddl: Array<fc.Arbitrary<Stmt>> = [
    fc.tuple(lit, fc.constantFrom(' ', ' /* x; */ ')).map(([l, g]) => ({ text: `CREATE TABLE t#${g}(a text DEFAULT ${l})`, tag: 'CREATE TABLE' })),
    lit.map((l) => ({ text: `COMMENT ON TABLE base IS ${l}`, tag: 'COMMENT' })),
    lit.map((l) => ({ text: `CREATE FUNCTION f#() RETURNS text LANGUAGE sql AS ${l}`, tag: 'CREATE FUNCTION' })),
    fc.tuple(lit, gap).map(([l, g]) => ({ text: `CREATE VIEW v# AS SELECT${g}${l} AS c`, tag: 'CREATE VIEW' })),
  ];
  const dml: Array<fc.Arbitrary<Stmt>> = [
    lit.map((l) => ({ text: `SELECT ${l}`, tag: null })),
    lit.map((l) => ({ text: `INSERT INTO base VALUES (${l})`, tag: null })),
  ];
  return fc.oneof(...ddl, ...(withDml ? dml : []));
}

/**
 * A query string of statements, separated by `;` with comments and blanks around. The objects
 * it creates are named by the statement's position (`t0`, `f1`, `v2`); it comments on and
 * inserts into a table `base (a text)`.
 */
export function queryText(scs: boolean, withDml: boolean): fc.Arbitrary<{ text: string; stmts: Stmt[] }> {
  return fc
    .tuple(fc.array(fc.tuple(gap, statement(scs, withDml), fc.constantFrom(';', ';', ' ;', ';;')), { minLength: 1, maxLength: 5 }), fc.boolean())
    .map(([parts, trailing]) => {
      const stmts = parts.map(([, s], i) => ({ ...s, text: s.text.replace('#', String(i)) }));
      let text = parts.map(([g, , sep], i) => `${g}${stmts[i]!.text}${sep}`).join('');
      if (!trailing) text = text.replace(/;+$/, '');
      return { text, stmts };
    });
}

/** Each DDL statement with its ordinal among the statements of its tag's verb. */
export function expectedDdl(stmts: Stmt[]): Array<{ tag: string; ordinal: number; text: string }> {
  const seen = new Map<string, number>();
  return stmts.flatMap((s) => {
    if (!s.tag) return [];
    const verb = s.tag.split(' ')[0]!;
    const n = seen.get(verb) ?? 0;
    seen.set(verb, n + 1);
    return [{ tag: s.tag, ordinal: n, text: s.text }];
  });
}

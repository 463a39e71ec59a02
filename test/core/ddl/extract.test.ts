import { DdlOrdinals, extractDdl, initDdlParser, type DdlExtraction } from '../../../src/core/ddl/extract';

const bytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const utf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');

/** Extracts from a UTF-8 query and returns the statement text decoded for readability. */
function stmt(query: string, commandTag: string, ordinal = 0): string {
  const r = extractDdl({ query: bytes(query), commandTag, ordinal });
  if (r.kind !== 'statement') throw new Error(`expected a statement, got ${JSON.stringify(r)}`);
  return utf8(r.text);
}

function kind(query: string, commandTag: string, ordinal = 0): DdlExtraction['kind'] {
  return extractDdl({ query: bytes(query), commandTag, ordinal }).kind;
}

beforeAll(async () => {
  await initDdlParser();
});

describe('extractDdl', () => {
  it('returns a single statement as written, without the semicolon or surrounding comments', () => {
    expect(stmt('  -- make it\nCREATE TABLE t (id int) ; -- done\n', 'CREATE TABLE')).toBe('CREATE TABLE t (id int)');
  });

  it('picks the n-th DDL statement of the tag verb in a multi-statement string', () => {
    const q = 'BEGIN; CREATE TABLE a (x int); INSERT INTO a VALUES (1); ALTER TABLE a ADD y int; CREATE INDEX ON a (x); COMMIT;';
    expect(stmt(q, 'CREATE TABLE', 0)).toBe('CREATE TABLE a (x int)');
    expect(stmt(q, 'ALTER TABLE', 0)).toBe('ALTER TABLE a ADD y int');
    expect(stmt(q, 'CREATE INDEX', 1)).toBe('CREATE INDEX ON a (x)');
    expect(kind(q, 'CREATE INDEX', 2)).toBe('in-function');
  });

  it('skips DML, utility and global-object statements when counting', () => {
    const q =
      "SET search_path = s; CREATE ROLE r; GRANT SELECT ON t TO r; GRANT CONNECT ON DATABASE d TO r; VACUUM t; COMMENT ON DATABASE d IS 'x'; COMMENT ON TABLE t IS 'y'";
    expect(stmt(q, 'GRANT', 0)).toBe('GRANT SELECT ON t TO r');
    expect(kind(q, 'GRANT', 1)).toBe('in-function');
    expect(stmt(q, 'COMMENT', 0)).toBe("COMMENT ON TABLE t IS 'y'");
  });

  it('reports DDL run inside a DO block or a function as in-function', () => {
    expect(extractDdl({ query: "DO $$ BEGIN EXECUTE 'CREATE TABLE x ()'; END $$", commandTag: 'CREATE TABLE', ordinal: 0 })).toEqual({
      kind: 'in-function',
      commandTag: 'CREATE TABLE',
      query: "DO $$ BEGIN EXECUTE 'CREATE TABLE x ()'; END $$",
    });
    expect(kind('SELECT make_tables()', 'CREATE TABLE')).toBe('in-function');
    expect(kind('CALL p()', 'ALTER TABLE')).toBe('in-function');
  });

  it('keeps function bodies, quoting and newlines exactly', () => {
    const q = "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $body$\n  SELECT 'a;b' -- not a comment end\n$body$;\nSELECT f();";
    expect(stmt(q, 'CREATE FUNCTION')).toBe(q.slice(0, q.indexOf(';\nSELECT f()')));
  });

  it('maps byte offsets of multi-byte UTF-8 text back exactly', () => {
    const q = 'CREATE TABLE "tä🎉ble" (naïve text DEFAULT \'日本\'); CREATE TABLE "ü" ();';
    expect(stmt(q, 'CREATE TABLE', 0)).toBe('CREATE TABLE "tä🎉ble" (naïve text DEFAULT \'日本\')');
    expect(stmt(q, 'CREATE TABLE', 1)).toBe('CREATE TABLE "ü" ()');
    // the result is the server's bytes
    const r = extractDdl({ query: bytes(q), commandTag: 'CREATE TABLE', ordinal: 1 });
    expect(r).toEqual({ kind: 'statement', text: bytes('CREATE TABLE "ü" ()'), rewritten: false });
  });

  it('reads non-UTF8 server encodings byte for byte', () => {
    const latin1Query = 'CREATE TABLE "t\u00e4" (); CREATE TABLE "\u00fc" ()'; // LATIN1 bytes
    const r = extractDdl({ query: latin1Query, commandTag: 'CREATE TABLE', ordinal: 1, encoding: 'LATIN1' });
    expect(r).toEqual({ kind: 'statement', text: 'CREATE TABLE "\u00fc" ()', rewritten: false });
  });

  it('rewrites CREATE TABLE AS to WITH NO DATA (its rows are in the stream)', () => {
    expect(stmt('CREATE TABLE c AS SELECT * FROM t -- all\n;', 'CREATE TABLE AS')).toBe('CREATE TABLE c AS SELECT * FROM t WITH NO DATA');
    expect(stmt('create table c as select 1 with data', 'CREATE TABLE AS')).toBe('create table c as select 1 WITH NO DATA');
    expect(stmt('CREATE TABLE c AS SELECT 1 WITH NO DATA', 'CREATE TABLE AS')).toBe('CREATE TABLE c AS SELECT 1 WITH NO DATA');
    expect(kind('CREATE TABLE c AS EXECUTE p(1)', 'CREATE TABLE AS')).toBe('unreplayable');
  });

  it('replays materialized views as they are', () => {
    expect(stmt('CREATE MATERIALIZED VIEW m AS SELECT 1', 'CREATE MATERIALIZED VIEW')).toBe('CREATE MATERIALIZED VIEW m AS SELECT 1');
    expect(stmt('REFRESH MATERIALIZED VIEW m', 'REFRESH MATERIALIZED VIEW')).toBe('REFRESH MATERIALIZED VIEW m');
  });

  it('converts SELECT INTO to CREATE TABLE AS … WITH NO DATA', () => {
    expect(stmt('SELECT a, b INTO s."Nü" FROM t WHERE a > 1', 'SELECT INTO')).toBe('CREATE TABLE s."Nü" AS SELECT a, b FROM t WHERE a > 1 WITH NO DATA');
    expect(stmt('select 1 as x into unlogged table u', 'SELECT INTO')).toBe('CREATE UNLOGGED TABLE u AS select 1 as x WITH NO DATA');
    expect(kind('SELECT 1 INTO TEMP t', 'SELECT INTO')).toBe('temporary');
  });

  it('does not replay temporary objects', () => {
    expect(extractDdl({ query: 'CREATE TEMP TABLE x (a int)', commandTag: 'CREATE TABLE', ordinal: 0 })).toEqual({
      kind: 'temporary',
      text: 'CREATE TEMP TABLE x (a int)',
    });
    expect(kind('CREATE TEMPORARY TABLE y AS SELECT 1', 'CREATE TABLE AS')).toBe('temporary');
  });

  it('drops CONCURRENTLY, which cannot run in a transaction block', () => {
    expect(stmt('CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)', 'CREATE INDEX')).toBe('CREATE UNIQUE INDEX i ON t (a)');
    expect(stmt('DROP INDEX CONCURRENTLY IF EXISTS i', 'DROP INDEX')).toBe('DROP INDEX IF EXISTS i');
    expect(stmt('ALTER TABLE p DETACH PARTITION c CONCURRENTLY', 'ALTER TABLE')).toBe('ALTER TABLE p DETACH PARTITION c');
    expect(stmt('CREATE INDEX "concurrently" ON t (a)', 'CREATE INDEX')).toBe('CREATE INDEX "concurrently" ON t (a)');
  });

  it('reports a query that does not parse', () => {
    const r = extractDdl({ query: 'CREATE TABLE (', commandTag: 'CREATE TABLE', ordinal: 0 });
    expect(r).toMatchObject({ kind: 'unreplayable', reason: expect.stringMatching(/^query does not parse: /) });
  });
});

describe('DdlOrdinals', () => {
  it('counts firings per tag verb and query text', () => {
    const o = new DdlOrdinals();
    expect(o.next('q1', 'CREATE TABLE')).toBe(0);
    expect(o.next('q1', 'CREATE INDEX')).toBe(1);
    expect(o.next('q1', 'ALTER TABLE')).toBe(0);
    expect(o.next('q2', 'CREATE TABLE')).toBe(0);
    o.reset();
    expect(o.next('q1', 'CREATE TABLE')).toBe(0);
  });
});

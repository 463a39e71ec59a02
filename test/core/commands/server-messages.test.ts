import { stderrWithoutRowValues } from '../../../src/core/commands/server-messages';

describe('stderr without row values', () => {
  it("drops psql's DETAIL, CONTEXT and LINE excerpts, keeps the ERROR lines", () => {
    const stderr = [
      'psql:<stdin>:5: ERROR:  duplicate key value violates unique constraint "t_pkey"',
      'DETAIL:  Key (id)=(tok-SECRET-1) already exists.',
      'CONTEXT:  COPY t, line 2: "tok-SECRET-1\tother"',
      'psql:<stdin>:3: ERROR:  new row for relation "t" violates check constraint "t_s_check"',
      'DETAIL:  Failing row contains (1, tok-SECRET-2).',
      'psql:<stdin>:2: ERROR:  invalid input syntax for type integer: "tok-SECRET-3"',
      "LINE 1: SELECT 'tok-SECRET-3'::int + ",
      '               ^',
      'psql:<stdin>:9: ERROR:  value "99999999999-SECRET-4" is out of range for type integer',
      'pg_restore: error: COPY failed for table "t": ERROR:  duplicate key value violates unique constraint "t_pkey"',
      'DETAIL:  Key (id)=(tok-SECRET-5) already exists.',
      'CONTEXT:  COPY t, line 1',
    ].join('\n');
    const out = stderrWithoutRowValues(stderr);
    expect(out).not.toMatch(/SECRET/);
    expect(out).toContain('psql:<stdin>:5: ERROR:  duplicate key value violates unique constraint "t_pkey"');
    expect(out).toContain('violates check constraint "t_s_check"');
    expect(out).toContain('invalid input syntax for type integer: "…"');
    expect(out).toContain('value "…" is out of range for type integer');
    expect(out).toContain('COPY failed for table "t"');
    expect(out).toMatch(/left out/);
  });

  it('leaves stderr without such lines as it is', () => {
    expect(stderrWithoutRowValues('psql: error: connection to server failed\n')).toBe('psql: error: connection to server failed');
  });
});

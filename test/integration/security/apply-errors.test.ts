/**
 * A transaction the target refuses fails the restore with an error that goes into the workflow
 * history (and the worker's log): it names the table, the LSNs and the SQLSTATE, and carries no
 * row values, neither in its message nor anywhere in the failure Temporal records (causes and
 * stack traces included).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DefaultFailureConverter, defaultPayloadConverter } from '@temporalio/common';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { Recorder } from '../../helpers/restore-fixture';
import { formatLsn, parseLsn } from '../../../src/core/lsn';
import { applySegments } from '../../../src/restore/apply-segments';
import { restoreBase } from '../../../src/restore/restore-base';

jest.setTimeout(300_000);

const BASE_LSN = parseLsn('0/3000000');

describe('apply errors carry no row values', () => {
  let pg: PgCluster;
  let dir: string;
  let n = 0;

  beforeAll(async () => {
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-apply-errors-'));
  });

  afterAll(async () => {
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Applies one segment of `txns` to a fresh target prepared with `targetSql`; returns the error. */
  async function failure(targetSql: string, txns: string[][]): Promise<Error & { sqlState?: string }> {
    const id = `e${++n}`;
    await pg.createDatabase(id);
    await pg.query(targetSql, [], id);
    const recorder = new Recorder(null as never, join(dir, id), BASE_LSN);
    for (const statements of txns) recorder.record(statements);
    recorder.cut(true);
    const error = await applySegments({
      profile: pg.profile(id),
      restoreId: id,
      segments: recorder.segments.map((s) => s.path),
      stopAt: { kind: 'latest' },
      startLsn: formatLsn(BASE_LSN),
    }).then(
      () => null,
      (err: unknown) => err as Error,
    );
    if (!error) throw new Error('expected the apply to fail');
    return error;
  }

  /** The failure as Temporal records it in the history: message, stack and every cause. */
  const recorded = (error: Error) => JSON.stringify(new DefaultFailureConverter().errorToFailure(error, defaultPayloadConverter));

  it('a unique violation names the table and SQLSTATE, not the key', async () => {
    const secret = 'sk_live_UNIQUE_5f3a9c';
    const error = await failure(
      "CREATE TABLE public.api_keys (token text PRIMARY KEY, owner text); INSERT INTO public.api_keys VALUES ('sk_live_UNIQUE_5f3a9c', 'a')",
      [["INSERT INTO public.api_keys (token, owner) VALUES ('other', 'b')"], [`INSERT INTO public.api_keys (token, owner) VALUES ('${secret}', 'c')`]],
    );
    expect(error.name).toBe('ApplyFailedError');
    expect(error.sqlState).toBe('23505');
    expect(error.message).toMatch(/xid \d+ commit_lsn 0\/[0-9A-F]+ end_lsn 0\/[0-9A-F]+/);
    expect(error.message).toContain('public.api_keys');
    expect(error.message).toContain('23505');
    expect(error.message).toContain('api_keys_pkey');
    expect(recorded(error)).not.toContain(secret);
    expect(recorded(error)).not.toContain('UNIQUE_5f3a9c');
  });

  it('a check violation names the table and SQLSTATE, not the row', async () => {
    const secret = '4111-1111-SECRET-0042';
    const error = await failure('CREATE TABLE public.cards (id int PRIMARY KEY, pan text CHECK (length(pan) < 12))', [
      [`INSERT INTO public.cards (id, pan) VALUES ('1', '${secret}')`],
    ]);
    expect(error.sqlState).toBe('23514');
    expect(error.message).toContain('public.cards');
    expect(error.message).toContain('23514');
    expect(error.message).toContain('cards_pan_check');
    expect(recorded(error)).not.toContain('SECRET-0042');
  });

  it('a value the target cannot read is not quoted, nor the statement around it', async () => {
    // The target's column has another type than the source's: the server's message and the
    // statement text would both quote the value.
    const secret = 'PIN-SECRET-8812';
    const error = await failure('CREATE TABLE public.pins (id int PRIMARY KEY, pin int)', [
      [`UPDATE public.pins SET pin = '${secret}' WHERE id = '1'`, "INSERT INTO public.pins (id, pin) VALUES ('2', '7')"],
    ]);
    expect(error.sqlState).toBe('22P02');
    expect(error.message).toContain('public.pins');
    expect(error.message).toContain('22P02');
    expect(recorded(error)).not.toContain('SECRET-8812');
  });

  it('a base that fails to load names the constraint, not the rows', async () => {
    const dump = join(dir, 'dup.sql.gz');
    writeFileSync(
      dump,
      gzipSync(
        [
          'CREATE TABLE public.tokens (token text PRIMARY KEY, id int);',
          'COPY public.tokens (token, id) FROM stdin;',
          'tok-BASE-SECRET-1\t1',
          'tok-BASE-SECRET-1\t2',
          '\\.',
          '',
        ].join('\n'),
      ),
    );
    await pg.createDatabase('base_dup');
    const error = await restoreBase({
      profile: pg.profile('base_dup'),
      restoreId: 'bdup',
      baseLsn: formatLsn(BASE_LSN),
      dump: { format: 'plain', path: dump },
    }).then(
      () => null,
      (err: unknown) => err as Error,
    );
    expect(error?.name).toBe('CommandFailedError');
    expect(error!.message).toContain('violates unique constraint "tokens_pkey"');
    expect(recorded(error!)).not.toContain('BASE-SECRET');
  });

  it("a trigger's message is left out (it may quote the row), the table is named", async () => {
    const secret = 'ssn-SECRET-123-45';
    const error = await failure(
      `
      CREATE TABLE public.people (id int PRIMARY KEY, ssn text);
      CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'refused %', NEW.ssn; END$$;
      CREATE TRIGGER refuse BEFORE INSERT ON public.people FOR EACH ROW EXECUTE FUNCTION public.refuse();
      ALTER TABLE public.people ENABLE ALWAYS TRIGGER refuse;`,
      [[`INSERT INTO public.people (id, ssn) VALUES ('1', '${secret}')`]],
    );
    expect(error.sqlState).toBe('P0001');
    expect(error.message).toContain('public.people');
    expect(recorded(error)).not.toContain('SECRET-123');
  });
});

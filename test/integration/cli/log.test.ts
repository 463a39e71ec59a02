/**
 * `bin/pgincr log` on a real chain (issue 21 item 1): a capture of known transactions on a real
 * cluster (sealed gzip segments, then an open .partial), searched through the CLI as README
 * tells a user — README's own `bin/pgincr log` lines, run as written — with the repository read
 * directly (no Temporal).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { captureAndStop, setUpChain, tearDownChain, type DirectChain } from '../../helpers/direct-pipeline';
import { waitFor } from '../../helpers/pgincr-env';

jest.setTimeout(300_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `bin/pgincr log …` lines of README's code blocks, split as the shell would (single quotes only). */
function readmeLogLines(): string[][] {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('bin/pgincr log '));
  return lines.map((l) => {
    const cmd = l.replace(/\s+#.*$/, '');
    return [...cmd.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? (m[2] as string)).slice(1);
  });
}

describe('bin/pgincr log', () => {
  let pg: PgCluster;
  let chain: DirectChain;

  function cli(args: string[]): Promise<Run> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...pg.env(chain.db), PGINCR_REPOSITORY: chain.env.repository, PGINCR_LOG_LEVEL: 'warn' };
    delete env.PGINCR_CONFIG;
    delete env.TEMPORAL_ADDRESS;
    return new Promise((done) => {
      execFile(BIN, args, { cwd: ROOT, env, timeout: 120_000 }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  }

  /** Runs `sql` as one statement (one transaction); returns its xid. */
  async function txn(sql: string): Promise<number> {
    const rows = await pg.query<{ xid: string }>(
      `WITH w AS (${sql} RETURNING 1) SELECT pg_current_xact_id()::text AS xid, (SELECT count(*) FROM w) AS n`,
      [],
      chain.db,
    );
    return Number(rows[0]!.xid);
  }

  const xids: Record<string, number> = {};

  beforeAll(async () => {
    pg = await startCluster();
    chain = await setUpChain(
      pg,
      'logdb',
      `
      CREATE TABLE public.orders (id int PRIMARY KEY, note text);
      CREATE TABLE public."Audit Log" (id int PRIMARY KEY, what text);
      CREATE TABLE public.order_items (id int PRIMARY KEY, order_id int, qty int);`,
    );
    xids.insert = await txn(`INSERT INTO public.orders SELECT g, 'order ' || g FROM generate_series(1, 50) g`);
    xids.items = await txn(`INSERT INTO public.order_items SELECT g, g, 1 FROM generate_series(1, 50) g`);
    xids.update = await txn(`UPDATE public.orders SET note = 'changed' WHERE id = 7`);
    xids.itemsDelete = await txn(`DELETE FROM public.order_items WHERE order_id = 42`);
    // the bad DELETE
    xids.delete = await txn(`DELETE FROM public.orders WHERE id BETWEEN 40 AND 45`);
    await pg.query('ALTER TABLE public.orders ADD COLUMN placed date', [], chain.db);
    await captureAndStop(pg, chain);
    // after the seal: the open segment
    xids.audit = await txn(`INSERT INTO public."Audit Log" VALUES (1, 'x') `);
    xids.late = await txn(`DELETE FROM public.orders WHERE id = 1`);
    const [{ lsn }] = (await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn', [], chain.db)) as [{ lsn: string }];
    await waitFor(
      'the open segment to hold the last transaction',
      async () => {
        const r = await chain.env.activities.captureChanges({
          profile: 'default',
          runForMs: 700,
          ...(chain.lastDurableLsn ? { lastDurableLsn: chain.lastDurableLsn } : {}),
        });
        chain.lastDurableLsn = r.lastDurableLsn;
        const ok = await pg.query<{ ok: boolean }>(
          'SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $2',
          [lsn, chain.slot],
          chain.db,
        );
        return ok[0]?.ok === true;
      },
      60_000,
    );
    expect(readdirSync(join(chain.chainDir, 'segments', 'partial')).length).toBe(1);
  });

  afterAll(async () => {
    if (chain) await tearDownChain(pg, chain);
    await pg?.stop();
  });

  it("README's lines find the bad DELETE, in sealed and open segments, and --json parses", async () => {
    const [show, where] = readmeLogLines();
    expect(show).toEqual(['log', '--tables', 'public.orders', '--kind', 'DELETE', '--show']);
    const shown = await cli(show!);
    expect(shown).toMatchObject({ code: 0 });
    expect([...shown.stdout.matchAll(/^xid (\d+) /gm)].map((m) => Number(m[1]))).toEqual([xids.delete, xids.late]);
    expect(shown.stdout).toContain("DELETE FROM ONLY public.orders WHERE id = '42';");
    expect(shown.stdout).toContain('public.orders: DELETE 6');

    expect(where).toEqual(['log', '--json', '--tables', 'public.orders', '--where', 'id=42']);
    const found = await cli(where!);
    expect(found).toMatchObject({ code: 0 });
    const txns = found.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { xid: number; tables: Record<string, Record<string, number>>; commitLsn: string; commitTime: string; segment: string });
    // order 42 was inserted, then deleted
    expect(txns.map((t) => t.xid)).toEqual([xids.insert, xids.delete]);
    expect(txns[1]!.tables).toEqual({ 'public.orders': { DELETE: 6 } });
    expect(txns[1]!.segment).toMatch(/^segments\/\d{4}-\d\d-\d\d\/[0-9A-F]{16}_[0-9A-F]{16}\.sql(\.gz)?$/);

    // a window ending at the DELETE's commit: exactly it among the DELETEs
    const window = await cli(['log', '--json', '--kind', 'delete', '--to-lsn', txns[1]!.commitLsn, '--from', txns[1]!.commitTime]);
    expect(
      window.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { xid: number }).xid),
    ).toEqual([xids.delete]);
  });

  it('finds DDL and the quoted table of the open segment', async () => {
    const ddl = await cli(['log', '--json', '--tables', 'public.orders', '--kind', 'DDL', '--show']);
    const [t] = ddl.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { tables: object; statements: string[]; segment: string });
    expect(t!.tables).toEqual({ 'public.orders': { DDL: 1 } });
    expect(t!.statements.join('\n')).toContain('ALTER TABLE public.orders ADD COLUMN placed date;');
    const audit = await cli(['log', '--json', '--tables', '"Audit Log"']);
    const rows = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { xid: number; segment: string; tables: object });
    expect(rows.map((r) => r.xid)).toEqual([xids.audit]);
    expect(rows[0]!.segment).toMatch(/^segments\/partial\/[0-9A-F]{16}\.sql\.partial$/);
    expect(rows[0]!.tables).toEqual({ 'public."Audit Log"': { INSERT: 1 } });
  });

  it('names a bad option', async () => {
    const r = await cli(['log', '--kind', 'merge']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--kind: "merge" is not one of INSERT, UPDATE, DELETE, TRUNCATE, DDL');
  });
});

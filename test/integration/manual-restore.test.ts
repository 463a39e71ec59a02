/**
 * docs/restore.md, followed literally: every ```bash block of the runbook is run, in order, by
 * bash with only psql, createdb, zcat, awk and coreutils, on a repository built here; the
 * restored database must match the source table for table.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { startCluster, type PgCluster } from '../helpers/pg-cluster';
import { Recorder } from '../helpers/restore-fixture';
import { databaseChecksums } from '../../src/adapters/pg/checksums';
import { lsnToFileHex, parseLsn } from '../../src/core/lsn';
import { renderPgTime } from '../../src/core/segment/commit-time';

jest.setTimeout(300_000);

const RUNBOOK = join(__dirname, '../../docs/restore.md');

/** The ```bash blocks of the runbook, in order. */
function runbookBlocks(): string[] {
  const text = readFileSync(RUNBOOK, 'utf8');
  return [...text.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
}

describe('manual restore runbook (docs/restore.md)', () => {
  let pg: PgCluster;
  let dir: string;
  let chain: string;
  let base: string;
  let source: Client;
  let recorder: Recorder;

  function runbook(db: string, stopTime: string, blocks = runbookBlocks(), chainDir = chain) {
    const work = mkdtempSync(join(tmpdir(), 'pgincr-runbook-'));
    const env = { ...process.env, ...pg.env(), CHAIN: chainDir, BASE: base, DB: db, STOP_TIME: stopTime, WORK: work };
    const r = spawnSync('bash', ['-e', '-c', blocks.join('\n')], { env, encoding: 'utf8' });
    rmSync(work, { recursive: true, force: true });
    return r;
  }

  beforeAll(async () => {
    pg = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'pgincr-manual-'));
    chain = join(dir, '7312000000000000001-app');
    await pg.createDatabase('src');
    source = await pg.connect('src');
    await source.query(`
      CREATE TABLE public.accounts (id serial PRIMARY KEY, name text NOT NULL, note text);
      CREATE TABLE public.events (txn_no int, payload text);
      INSERT INTO public.accounts (name) VALUES ('alice'), ('bob');`);
    recorder = new Recorder(source, chain, parseLsn('0/3000000'));
    const txn = (n: number) => {
      const st = [`INSERT INTO public.events (txn_no, payload) VALUES ('${n}', E'txn ${n}\\nsecond line')`];
      if (n % 2 === 0) st.push(`INSERT INTO public.accounts (id, name) VALUES ('${100 + n}', 'zoë ${n}')`);
      if (n === 9) st.push("UPDATE public.accounts SET note = 'it''s' WHERE id = '1'");
      return recorder.txn(st);
    };
    // Transactions 1-3 happen before the base; the first segment straddles the base LSN.
    let lastBeforeBase = await txn(1);
    for (let n = 2; n <= 3; n++) lastBeforeBase = await txn(n);
    base = `20260101T000000Z_${lsnToFileHex(lastBeforeBase.endLsn)}`;
    const baseDir = join(chain, 'base', base);
    mkdirSync(baseDir, { recursive: true });
    execFileSync('bash', ['-c', `pg_dump -d src | gzip > '${join(baseDir, 'dump.sql.gz')}'`], { env: { ...process.env, ...pg.env() } });
    execFileSync('pg_dumpall', ['--globals-only', '-f', join(baseDir, 'globals.sql')], { env: { ...process.env, ...pg.env() } });
    for (let n = 4; n <= 20; n++) {
      await txn(n);
      if (n === 10) recorder.cut(false);
      if (n === 16) recorder.cut(true);
    }
    recorder.cut(false);
  });

  afterAll(async () => {
    await source?.end();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function events(db: string) {
    const [r] = await pg.query<{ n: string; d: string; lo: number; hi: number }>(
      'SELECT count(*) AS n, count(DISTINCT txn_no) AS d, min(txn_no) AS lo, max(txn_no) AS hi FROM public.events',
      [],
      db,
    );
    return { count: Number(r!.n), distinct: Number(r!.d), min: r!.lo, max: r!.hi };
  }

  it('restores everything to a database equal to the source', async () => {
    const r = runbook('manual_all', '');
    expect(r.stderr).not.toMatch(/ERROR(?!:\s+role .* already exists)/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^OK$/m);
    expect(r.stdout.match(/^replayed /gm)).toHaveLength(3);
    const want = await databaseChecksums(pg.profile('src'));
    expect((await databaseChecksums(pg.profile('manual_all'))).tables).toEqual(want.tables);
    expect(await events('manual_all')).toEqual({ count: 20, distinct: 20, min: 1, max: 20 });
    // The stream inserted explicit ids past the sequence: step 5 moved it past them.
    const [next] = await pg.query<{ v: string }>("SELECT nextval('public.accounts_id_seq')::text AS v", [], 'manual_all');
    expect(next!.v).toBe('121');
  });

  it('stops at a commit time, inclusive', async () => {
    const stop = renderPgTime(recorder.all.find((t) => t.statements[0]?.includes("'14'"))!.commitTime);
    const r = runbook('manual_pitr', stop);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`stopped before the first transaction after ${stop}`);
    expect(r.stdout.match(/^replayed /gm)).toHaveLength(2);
    expect(await events('manual_pitr')).toEqual({ count: 14, distinct: 14, min: 1, max: 14 });
  });

  it('finds a corrupt segment in the check step', () => {
    const copy = join(dir, 'corrupt-chain');
    const seg = recorder.segments[2]!;
    const rel = seg.path.slice(chain.length + 1);
    mkdirSync(join(copy, rel, '..'), { recursive: true });
    copyFileSync(seg.path, join(copy, rel));
    const bytes = readFileSync(join(copy, rel));
    bytes[bytes.indexOf("'zoë 18'") + 1] = 0x5a;
    writeFileSync(join(copy, rel), bytes);
    const r = runbook('unused', '', [runbookBlocks()[0] as string], copy);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`CORRUPT: ${rel}`);
  });
});

/**
 * Table-level point-in-time restore (issue 21 items 2 and 3), driven through bin/pgincr as a DBA
 * would at 3 a.m., against real PostgreSQL and Temporal: a shop workload on several tables (a
 * type, a function in a CHECK, foreign keys, a view, DDL on chosen and other tables, hostile table
 * names), a bad DELETE that cascades, `pgincr log` to find its xid, then
 * `pgincr restore --tables … --to-xid <xid> --exclusive`: the chosen tables equal the source's
 * just before the DELETE (checksums), every other table is absent, and the foreign keys to
 * tables left out are reported.
 */
import { spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { TEST_NAMESPACE, temporalAddress, terminateIfRunning } from '../../helpers/temporal';
import { workflowIds } from '../../../src/workflows/ids';
import { waitFor } from '../../helpers/pgincr-env';
import { Client, Connection } from '@temporalio/client';
import type { RestoreReport } from '../../../src/workflows/restore';
import type { RestoreProgress } from '../../../src/workflows/boundary';
import type { FindTransactionsResult } from '../../../src/activities/types';
import { databaseChecksums } from '../../../src/adapters/pg/checksums';
import { startWorkerProcess, stopWorkerProcess } from '../../helpers/worker-process';

jest.setTimeout(480_000);

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/pgincr');
const PROFILE = 'shop';
/** Chosen: a table whose name holds a quote, a dot and a newline. */
const HOSTILE = 'we"ird.na\nme';
const HOSTILE_SQL = `public."we""ird.na\nme"`;
/** Not chosen: a name that starts like a chosen one and carries SQL. */
const LOOKALIKE_SQL = `public."orders; DROP TABLE public.orders"`;
/** --into-schema's name, hostile too. */
const SCHEMA = 'recovered"; DROP TABLE public.orders; --';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('pgincr restore --tables (partial, point in time) through bin/pgincr', () => {
  let pg: PgCluster;
  let dir: string;
  let configFile: string;
  let worker: ChildProcess | undefined;
  let workerLog: string;
  let passed = false;
  const state: { before?: Record<string, { rows: string; sum: string }>; xid: number } = { xid: 0 };

  function cli(args: string[]): Promise<Run> {
    const env = { ...process.env };
    delete env.TEMPORAL_ADDRESS;
    return new Promise((done) => {
      execFile(BIN, [...args, '--config', configFile], { cwd: dir, env, timeout: 300_000 }, (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });
  }
  const sql = (text: string, db = 'shop') => pg.query(text, [], db);
  const sums = async (db: string) => (await databaseChecksums(pg.profile(db))).tables;

  beforeAll(async () => {
    pg = await startCluster();
    await pg.createDatabase('shop');
    await sql(`
      CREATE TYPE public.order_state AS ENUM ('new', 'paid', 'shipped');
      CREATE FUNCTION public.non_negative(numeric) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 >= 0';
      CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL);
      CREATE TABLE public.products (id serial PRIMARY KEY, title text, price numeric);
      CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer_id int REFERENCES public.customers, state public.order_state NOT NULL DEFAULT 'new',
                                  total numeric CHECK (public.non_negative(total)), placed timestamptz NOT NULL DEFAULT now());
      CREATE TABLE public.order_items (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES public.orders ON DELETE CASCADE,
                                       product_id int REFERENCES public.products, qty int NOT NULL);
      CREATE TABLE ${HOSTILE_SQL} (id int PRIMARY KEY, v text);
      CREATE TABLE ${LOOKALIKE_SQL} (id int PRIMARY KEY);
      CREATE SCHEMA "Sales 2026";
      CREATE TABLE "Sales 2026".targets (id serial PRIMARY KEY, amount numeric);
      CREATE VIEW "Sales 2026".big AS SELECT * FROM "Sales 2026".targets WHERE amount > 10;
      CREATE VIEW public.order_summary AS SELECT o.id, c.name, o.total FROM public.orders o JOIN public.customers c ON c.id = o.customer_id;
      -- Views on chosen tables only (one on another view, a materialized one): kept.
      CREATE VIEW public.paid_orders AS SELECT id, total FROM public.orders WHERE state = 'paid';
      CREATE VIEW public.paid_total AS SELECT sum(total) AS total FROM public.paid_orders;
      CREATE MATERIALIZED VIEW public.item_qty AS SELECT order_id, sum(qty) AS qty FROM public.order_items GROUP BY order_id;
      -- A partitioned table (not in checksums.json: only its partitions are).
      CREATE TABLE public.events (id int, kind text) PARTITION BY LIST (kind);
      CREATE TABLE public.events_a PARTITION OF public.events FOR VALUES IN ('a');
      CREATE TABLE public.events_b PARTITION OF public.events FOR VALUES IN ('b');
      INSERT INTO public.events SELECT g, (ARRAY['a', 'b'])[1 + g % 2] FROM generate_series(1, 40) g;
      INSERT INTO public.customers (name) SELECT 'customer ' || g FROM generate_series(1, 50) g;
      INSERT INTO public.products (title, price) SELECT 'product ' || g, g FROM generate_series(1, 20) g;`);
    dir = mkdtempSync(join(tmpdir(), 'pgincr-partial-'));
    configFile = join(dir, 'pgincr.json');
    const a = pg.profile('shop');
    writeFileSync(
      configFile,
      JSON.stringify({
        repository: join(dir, 'repository'),
        // `default` too: docs/workflows.md's JSON examples name it (the same database, the same chain).
        profiles: {
          [PROFILE]: { host: a.host, port: a.port, dbname: 'shop', user: a.user },
          default: { host: a.host, port: a.port, dbname: 'shop', user: a.user },
        },
        defaultProfile: PROFILE,
        capture: { segmentMaxBytes: 67108864, segmentMaxAge: '15m', compress: 'gzip' },
        temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue: `partial-${process.pid}-${Date.now()}` },
      }),
    );
    workerLog = join(dir, 'worker.log');
    worker = await startWorkerProcess(configFile, workerLog);
  });

  afterAll(async () => {
    await terminateIfRunning(workflowIds.capture(PROFILE, 'pgincr'));
    await stopWorkerProcess(worker);
    await pg?.stop();
    if (dir && passed) rmSync(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`partial-restore: kept ${dir} (worker.log, repository) for inspection\n`);
  });

  it('restores the chosen tables to just before a bad DELETE, equal to the source then, and nothing else', async () => {
    const setup = await cli(['setup']);
    expect({ code: setup.code, stderr: setup.stderr }).toMatchObject({ code: 0 });

    // The day's work: orders and items in many transactions, DDL on chosen and other tables.
    for (let i = 0; i < 20; i++) {
      await sql(`
        WITH o AS (INSERT INTO public.orders (customer_id, state, total)
                   SELECT 1 + (g % 50), (ARRAY['new', 'paid', 'shipped'])[1 + g % 3]::public.order_state, g FROM generate_series(${i * 10 + 1}, ${i * 10 + 10}) g RETURNING id)
        INSERT INTO public.order_items (order_id, product_id, qty) SELECT o.id, 1 + (o.id % 20), 1 + (o.id % 4) FROM o, generate_series(1, 3)`);
      if (i === 5) await sql('ALTER TABLE public.orders ADD COLUMN note text');
      // An index on a chosen table (its DDL header names only the index) and one on another, unqualified.
      if (i === 6) await sql('CREATE INDEX orders_note_idx ON public.orders (note); CREATE INDEX customers_name_idx ON customers (name)');
      if (i === 8) await sql("CREATE TABLE public.audit (id serial PRIMARY KEY, what text); INSERT INTO public.audit (what) VALUES ('x')");
      // Index DDL that names only the index: on chosen tables (a hostile name too), applied; on another, skipped.
      if (i === 9) {
        await sql(`ALTER INDEX public.orders_note_idx RENAME TO orders_note_i2; ALTER INDEX public.orders_note_i2 SET (fillfactor = 70);
                   CREATE INDEX order_items_qty_idx ON public.order_items (qty); DROP INDEX public.order_items_qty_idx;
                   CREATE INDEX "Idx ""q"".x" ON ${HOSTILE_SQL} (v); ALTER INDEX public."Idx ""q"".x" RENAME TO "Idx 2";
                   ALTER INDEX public.customers_name_idx SET (fillfactor = 80)`);
        // Views made later: on a chosen table (kept), and on a chosen and another one (skipped).
        await sql(`CREATE VIEW public.big_orders AS SELECT id FROM public.orders WHERE total > 100;
                   CREATE VIEW public.customer_orders AS SELECT c.name, o.id FROM public.orders o JOIN public.customers c ON c.id = o.customer_id`);
      }
      if (i === 11) await sql('REFRESH MATERIALIZED VIEW public.item_qty');
      // A chosen table renamed: its DDL header names only the new name; its later rows apply under it.
      if (i === 13) {
        await sql(`ALTER TABLE ${HOSTILE_SQL} RENAME TO "We ird"`);
        await sql(`INSERT INTO public."We ird" VALUES (0, 'while renamed')`);
        await sql(`ALTER TABLE public."We ird" RENAME TO "we""ird.na\nme"`);
      }
      if (i === 10) await sql(`ALTER TYPE public.order_state ADD VALUE 'refunded'`);
      if (i === 12) await sql(`UPDATE public.orders SET state = 'refunded', note = 'it''s back' WHERE id % 7 = 0`);
      if (i === 14)
        await sql(`INSERT INTO ${HOSTILE_SQL} SELECT g, E'line\\nbreak ' || g FROM generate_series(1, 30) g; INSERT INTO ${LOOKALIKE_SQL} VALUES (1)`);
      await sql(`UPDATE public.customers SET name = name || '+' WHERE id = ${1 + i}; INSERT INTO "Sales 2026".targets (amount) VALUES (${i})`);
    }
    await sql(`DELETE FROM ${HOSTILE_SQL} WHERE id > 25`);
    const before = await sums('shop');
    // The bad DELETE (it cascades to order_items), then the day goes on.
    await sql(`DELETE FROM public.orders WHERE state = 'paid'`);
    await sql(`INSERT INTO public.orders (customer_id, total) VALUES (1, 5); UPDATE ${HOSTILE_SQL} SET v = 'after' WHERE id = 1`);
    expect(Number(before['"public"."orders"']!.rows)).toBeGreaterThan(Number((await sums('shop'))['"public"."orders"']!.rows));

    // Find it, as README says: the DELETE on orders, sealed.
    const rotate = await cli(['capture', 'rotate']);
    expect({ code: rotate.code, stderr: rotate.stderr }).toMatchObject({ code: 0 });
    let found: { xid: number; segment: string; tables: Record<string, Record<string, number>> } | undefined;
    await waitFor(
      'the bad DELETE in a sealed segment',
      async () => {
        const log = await cli(['log', '--json', '--tables', 'public.orders', '--kind', 'DELETE']);
        // The capture may seal the open segment while log reads it: log says so and asks for another run.
        if (log.code !== 0 && log.stderr.includes('was sealed while pgincr log read it')) return false;
        if (log.code !== 0) throw new Error(`log failed: ${log.stderr}`);
        const lines = log.stdout.trim().split('\n').filter(Boolean);
        found = lines.length ? (JSON.parse(lines[0]!) as typeof found) : undefined;
        return found !== undefined && !found.segment.includes('partial');
      },
      120_000,
      1000,
    );
    expect(found!.tables['public.orders']!.DELETE).toBeGreaterThan(10);
    expect(found!.tables['public.order_items']!.DELETE).toBeGreaterThan(10);

    const restore = await cli([
      'restore',
      '--target-db',
      'shop_orders',
      '--tables',
      `public.orders,public.order_items,${HOSTILE_SQL}`,
      '--to-xid',
      String(found!.xid),
      '--exclusive',
    ]);
    expect({ code: restore.code, stderr: restore.stderr }).toMatchObject({ code: 0 });
    const restored = await sums('shop_orders');
    const chosen = ['"public"."orders"', '"public"."order_items"', `"public"."we""ird.na\nme"`];
    expect(Object.keys(restored).sort()).toEqual([...chosen].sort());
    for (const t of chosen) expect({ table: t, ...restored[t] }).toEqual({ table: t, ...before[t] });
    // The report names the foreign keys to tables left out, and the DDL skipped.
    // A name's line break is shown as \n: no name can start a line of the report.
    expect(restore.stdout).toContain('partial: tables public.order_items, public.orders, public."we""ird.na\\nme"; 12 other relation(s) left out\n');
    expect(restore.stdout).toContain('views kept (they read only restored tables): public.item_qty, public.paid_orders, public.paid_total\n');
    // The base's data of the other tables was never loaded (TOC filtering).
    expect(restore.stdout).toMatch(/\nbase: only their data loaded \(6 other table\(s\), \d+\.\d MiB, never sent to the server\)\n/);
    expect(restore.stdout).toContain('view left out (it reads a table not restored): public.order_summary (reads public.customers)\n');
    expect(restore.stdout).toMatch(/foreign key left out \(its table is not restored\): public\.orders\.orders_customer_id_fkey references public\.customers/);
    expect(restore.stdout).toMatch(
      /foreign key left out \(its table is not restored\): public\.order_items\.order_items_product_id_fkey references public\.products/,
    );
    expect(restore.stdout).toMatch(
      /DDL on other objects skipped: 4\n {2}-- ddl: CREATE INDEX public\.customers_name_idx .*\n {2}-- ddl: CREATE TABLE public\.audit_id_seq, public\.audit, .*\n {2}-- ddl: ALTER INDEX public\.customers_name_idx .*\n {2}-- ddl: CREATE VIEW public\.customer_orders /,
    );
    // ALTER INDEX and DROP INDEX on chosen tables applied (renamed, fillfactor set, dropped).
    expect(
      await sql(
        `SELECT indrelid::regclass::text AS t, indexrelid::regclass::text AS index, c.reloptions FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE NOT indisprimary AND c.relnamespace = 'public'::regnamespace ORDER BY 1, 2`,
        'shop_orders',
      ),
    ).toEqual([
      { t: `"we""ird.na\nme"`, index: '"Idx 2"', reloptions: null },
      { t: 'orders', index: 'orders_note_i2', reloptions: ['fillfactor=70'] },
    ]);
    // The views on chosen tables are there and read the restored rows; the others are not.
    expect(await sql(`SELECT relname FROM pg_class WHERE relkind IN ('v', 'm') AND relnamespace = 'public'::regnamespace ORDER BY 1`, 'shop_orders')).toEqual(
      ['big_orders', 'item_qty', 'paid_orders', 'paid_total'].map((relname) => ({ relname })),
    );
    expect(
      await sql(`SELECT (SELECT total FROM public.paid_total) = (SELECT sum(total) FROM public.orders WHERE state = 'paid') AS same`, 'shop_orders'),
    ).toEqual([{ same: true }]);
    // The materialized view as its REFRESH in the stream left it (the source's has not been refreshed since).
    const matview = `SELECT count(*)::int AS n, sum(qty)::int AS qty FROM public.item_qty`;
    expect(await sql(matview, 'shop_orders')).toEqual(await sql(matview));
    expect((await sql(matview)) as unknown).not.toEqual([{ n: 0, qty: null }]);
    // What the chosen tables depend on is there and works; the rest is not.
    const objects = await sql(
      `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('v', 'r') AND c.relname IN ('customers', 'products', 'audit', 'order_summary', 'orders; DROP TABLE public.orders'))::int AS others,
              (SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.order_items'::regclass AND contype = 'f')::int AS item_fks`,
      'shop_orders',
    );
    expect(objects).toEqual([{ others: 0, item_fks: 1 }]);
    await sql(`INSERT INTO public.orders (state, total) VALUES ('refunded', 1)`, 'shop_orders');
    await expect(sql(`INSERT INTO public.orders (total) VALUES (-1)`, 'shop_orders')).rejects.toThrow(/orders_total_check/);
    expect(HOSTILE).toContain('\n');
    state.before = before;
    state.xid = found!.xid;
  });

  it('a mistyped table or schema is refused before anything is created, naming the close names; a table created after the base is not mistyped', async () => {
    const { xid } = state;
    const started = Date.now();
    const typo = await cli([
      'restore',
      '--target-db',
      'shop_typo',
      '--tables',
      `public.order_item,public.Events,public."We""ird.na
me",public.events`,
      '--schemas',
      '"sales 2026"',
    ]);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toContain(
      'partial restore: no public.order_item (did you mean public.order_items?), public."We""ird.na\\nme" (did you mean public."we""ird.na\\nme"?), schema "sales 2026" (did you mean schema "Sales 2026"?) in base ',
    );
    // Refused by the plan: no database, nothing loaded (public.events, partitioned, is only in the base's TOC; public.Events folds to it).
    expect(await sql(`SELECT datname FROM pg_database WHERE datname = 'shop_typo'`, 'postgres')).toEqual([]);
    process.stderr.write(`partial-restore: the mistyped restore was refused in ${Date.now() - started} ms\n`);
    // public.audit was created after the base: a valid choice.
    const audit = await cli(['restore', '--target-db', 'shop_audit', '--tables', 'public.audit', '--to-xid', String(xid), '--exclusive']);
    expect({ code: audit.code, stderr: audit.stderr }).toMatchObject({ code: 0 });
    expect(audit.stdout).toContain('also: public.audit is not in the base: created by the segments');
    expect(await sql(`SELECT what FROM public.audit`, 'shop_audit')).toEqual([{ what: 'x' }]);
  });

  it('pgincr verify --tables checks a partial restore: only the chosen tables (a partitioned one by its partitions) against a fresh checkpoint', async () => {
    const verify = await cli(['verify', '--checkpoint', '--tables', 'public.orders,public.order_items,public.events']);
    expect({ code: verify.code, stderr: verify.stderr }).toMatchObject({ code: 0 });
    expect(verify.stdout).toMatch(
      /^OK: verified 4 table\(s\) and 2 sequence\(s\) only: public\.events, public\.events_a, public\.events_b, public\.order_items, public\.orders \(base /,
    );
    const chain = readdirSync(join(dir, 'repository')).find((d) => d.endsWith('-shop'))!;
    const catalog = JSON.parse(readFileSync(join(dir, 'repository', chain, 'catalog', 'catalog.json'), 'utf8')) as {
      verifications: { ok: boolean; tables?: string[] }[];
    };
    expect(catalog.verifications.at(-1)).toMatchObject({
      ok: true,
      tables: ['public.events', 'public.events_a', 'public.events_b', 'public.order_items', 'public.orders'],
    });
    // A mistyped name: refused before the scratch restore, the run recorded as failed.
    const typo = await cli(['verify', '--tables', 'public.ordres']);
    expect(typo.code).not.toBe(0);
    expect(`${typo.stdout}${typo.stderr}`).toContain('no public.ordres (did you mean public.orders?)');
  });

  it('--into-schema puts them back beside the live tables, never touching them, and the DBA copies the lost rows back', async () => {
    const { before, xid } = state;
    expect(xid).toBeGreaterThan(0);
    const live = await sums('shop');
    const args = [
      'restore',
      '--target-db',
      'shop',
      '--tables',
      'public.orders,public.order_items',
      '--to-xid',
      String(xid),
      '--exclusive',
      '--into-schema',
      SCHEMA,
    ];
    const into = await cli(args);
    expect({ code: into.code, stderr: into.stderr }).toMatchObject({ code: 0 });
    expect(into.stdout).toContain(`copied into the new schema ${JSON.stringify(SCHEMA)} of database shop`);
    const now = await sums('shop');
    const q = `"${SCHEMA.replace(/"/g, '""')}"`;
    // The recovered tables equal the source just before the DELETE; every live table is as it was.
    expect(now[`${q}."orders"`]).toEqual(before!['"public"."orders"']);
    expect(now[`${q}."order_items"`]).toEqual(before!['"public"."order_items"']);
    for (const [t, v] of Object.entries(live)) expect({ t, v: now[t] }).toEqual({ t, v });
    expect(Object.keys(now).length).toBe(Object.keys(live).length + 2);
    // No staging database is left behind.
    expect(await sql(`SELECT datname FROM pg_database WHERE datname LIKE 'pgincr\\_%'`, 'postgres')).toEqual([]);

    // The same again: refused, nothing created, nothing changed.
    const again = await cli(args);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`schema ${JSON.stringify(SCHEMA)} already exists in database "shop"`);
    expect(await sums('shop')).toEqual(now);
    expect(await sql(`SELECT datname FROM pg_database WHERE datname LIKE 'pgincr\\_%'`, 'postgres')).toEqual([]);

    // The DBA puts the lost rows back.
    await sql(`INSERT INTO public.orders SELECT * FROM ${q}.orders r WHERE NOT EXISTS (SELECT 1 FROM public.orders o WHERE o.id = r.id);
               INSERT INTO public.order_items SELECT * FROM ${q}.order_items r WHERE NOT EXISTS (SELECT 1 FROM public.order_items i WHERE i.id = r.id)`);
    const [{ lost }] = (await sql(`SELECT count(*)::int AS lost FROM ${q}.orders r WHERE NOT EXISTS (SELECT 1 FROM public.orders o WHERE o.id = r.id)`)) as [
      { lost: number },
    ];
    expect(lost).toBe(0);
    expect(Number((await sums('shop'))['"public"."orders"']!.rows)).toBe(Number(before!['"public"."orders"']!.rows) + 1);
  });

  it('from the Temporal UI: the JSON a person types starts a partial restore; its progress names the tables and the LSN range', async () => {
    const { before, xid } = state;
    const taskQueue = (JSON.parse(readFileSync(configFile, 'utf8')) as { temporal: { taskQueue: string } }).temporal.taskQueue;
    const connection = await Connection.connect({ address: temporalAddress() });
    try {
      const client = new Client({ connection, namespace: TEST_NAMESPACE });
      // Typed in the UI's input box, as text.
      const typed = `{"profile": "shop", "targetDb": "shop_ui", "tables": ["public.order_items"], "target": {"kind": "xid", "xid": ${xid}, "inclusive": false}}`;
      const handle = await client.workflow.start('restoreWorkflow', { taskQueue, workflowId: `partial-ui-${Date.now()}`, args: [JSON.parse(typed)] });
      const report = (await handle.result()) as RestoreReport;
      expect(report.partial).toMatchObject({
        tables: ['public.order_items'],
        foreignKeys: expect.arrayContaining(['public.order_items.order_items_order_id_fkey references public.orders']),
      });
      expect(report.apply.partial!.droppedLines).toBeGreaterThan(0);
      expect((await sums('shop_ui'))['"public"."order_items"']).toEqual(before!['"public"."order_items"']);
      // A whole schema (its view too), by the quoted name a person types.
      const schema = await client.workflow.start('restoreWorkflow', {
        taskQueue,
        workflowId: `partial-ui-schema-${Date.now()}`,
        args: [{ profile: 'shop', targetDb: 'shop_sales', schemas: ['"Sales 2026"'], target: { kind: 'xid', xid, inclusive: false } }],
      });
      const sales = (await schema.result()) as RestoreReport;
      expect(sales.partial!.tables).toEqual(['"Sales 2026".targets']);
      expect(Object.keys(await sums('shop_sales'))).toEqual(['"Sales 2026"."targets"']);
      expect((await sums('shop_sales'))['"Sales 2026"."targets"']).toEqual(before!['"Sales 2026"."targets"']);
      expect(await sql(`SELECT count(*)::int AS n FROM "Sales 2026".big`, 'shop_sales')).toEqual([{ n: 9 }]);
      // The transaction search too: docs/workflows.md's JSON as written finds the bad DELETE, without its statements.
      const typedSearch = /^\| `findTransactionsWorkflow` \| `(\{.*?\})` \|/m.exec(readFileSync(join(ROOT, 'docs/workflows.md'), 'utf8'))![1]!;
      const search = (await client.workflow.execute('findTransactionsWorkflow', {
        taskQueue,
        workflowId: `partial-ui-search-${Date.now()}`,
        args: [JSON.parse(typedSearch)],
      })) as FindTransactionsResult;
      expect(search.transactions[0]).toMatchObject({
        xid,
        tables: { 'public.orders': { DELETE: expect.any(Number) }, 'public.order_items': { DELETE: expect.any(Number) } },
      });
      expect(JSON.stringify(search)).not.toMatch(/DELETE FROM|INSERT INTO|statements/);
      const progress = await handle.query<RestoreProgress>('progress');
      expect(progress).toMatchObject({ tables: ['public.order_items'], fromLsn: report.plan.baseLsn, toLsn: report.apply.lastEndLsn });
      expect(progress.steps.map((s) => s.name)).toContain('keep chosen tables');

      // A name that is not one, and intoSchema without tables: refused, naming the field.
      for (const [input, message] of [
        [{ profile: 'shop', targetDb: 'shop_bad', tables: ['a.b.c'] }, 'tables.0: --tables: "a.b.c" is not a table name'],
        [{ profile: 'shop', targetDb: 'shop', intoSchema: 'x' }, 'intoSchema: intoSchema restores chosen tables'],
      ] as const) {
        const bad = await client.workflow.start('restoreWorkflow', { taskQueue, workflowId: `partial-ui-bad-${Date.now()}`, args: [input] });
        await expect(bad.result()).rejects.toMatchObject({ cause: { message: expect.stringContaining(message) } });
      }
      expect(await sql(`SELECT datname FROM pg_database WHERE datname = 'shop_bad'`, 'postgres')).toEqual([]);
    } finally {
      await connection.close();
    }
  });

  it('docs/undo-delete.md, followed literally, undoes a bad DELETE of a minute ago (still in the open segment)', async () => {
    const [{ since }] = (await sql(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS since`)) as [{ since: string }];
    const before = (await sums('shop'))['"public"."order_items"'];
    await sql('DELETE FROM public.order_items WHERE qty = 2');
    await sql(`INSERT INTO public.orders (customer_id, total) VALUES (2, 7)`);
    expect((await sums('shop'))['"public"."order_items"']).not.toEqual(before);
    const blocks = [...readFileSync(join(ROOT, 'docs/undo-delete.md'), 'utf8').matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
    expect(blocks).toHaveLength(5);
    const env: NodeJS.ProcessEnv = { ...process.env, ...pg.env('shop'), PGINCR_CONFIG: configFile, SINCE: since, DB: 'shop' };
    delete env.TEMPORAL_ADDRESS;
    // "A minute ago": the capture has written the DELETE to its open segment (it had not, a moment after
    // the commit, when step 1 ran in CI and listed nothing).
    await waitFor(
      'the capture to write the DELETE to the open segment',
      async () =>
        spawnSync(join(ROOT, 'bin/pgincr'), ['log', '--json', '--tables', 'public.order_items', '--kind', 'DELETE', '--from', since], {
          cwd: ROOT,
          env,
          encoding: 'utf8',
        }).stdout.trim() !== '',
      60_000,
      250,
    );
    const r = spawnSync('bash', ['-e', '-c', blocks.join('\n')], { cwd: ROOT, env, encoding: 'utf8', timeout: 300_000 });
    expect({ status: r.status, stderr: r.stderr }).toMatchObject({ status: 0 });
    expect(r.stdout).toContain('DELETE FROM ONLY public.order_items WHERE id = ');
    expect(r.stdout).toContain('copied into the new schema "recovered" of database shop');
    expect((await sums('shop'))['"public"."order_items"']).toEqual(before);
    expect(await sql(`SELECT nspname FROM pg_namespace WHERE nspname = 'recovered'`)).toEqual([]);
    passed = true;
  });
});

/**
 * decoder_raw and the trust boundary (docs/security.md): a role that owns nothing of pgincr
 * changes and creates tables and is captured; a ddl_history row written around pgincr's
 * trigger is refused by the decoder_raw capture too. Runs only where decoder_raw is installed
 * (test/integration/decoder-raw/raw-cluster.ts); the trigger functions themselves are also
 * exercised without the plugin in trust-boundary.test.ts.
 */
import type { PgCluster } from '../../helpers/pg-cluster';
import { restoreChain, sealedSegmentText } from '../../helpers/direct-pipeline';
import { describeRaw, startRawCluster } from '../decoder-raw/raw-cluster';
import { captureUntilConfirmed, setUpDecoderChain } from '../decoder-raw/raw-chain';

jest.setTimeout(300_000);

describeRaw('decoder_raw: ordinary roles captured, forged rows refused', () => {
  let pg: PgCluster;

  beforeAll(async () => {
    pg = await startRawCluster();
    await pg.query('CREATE ROLE mallory LOGIN');
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('captures DML and DDL of a role without privileges on pgincr, and refuses an unsigned ddl_history row', async () => {
    const chain = await setUpDecoderChain(
      pg,
      'rawsec',
      `
      CREATE TABLE public.t (id int PRIMARY KEY, v text);
      GRANT ALL ON public.t TO mallory;
      GRANT CREATE ON SCHEMA public TO mallory;`,
      'decoder_raw',
    );
    try {
      const mallory = await pg.connect('rawsec', { user: 'mallory' });
      try {
        await mallory.query(`INSERT INTO public.t VALUES (1, 'a'), (2, 'b')`);
        await mallory.query(`UPDATE public.t SET v = 'c' WHERE id = 1`);
        await mallory.query(`DELETE FROM public.t WHERE id = 2`);
        await mallory.query(`CREATE TABLE public.m (id int PRIMARY KEY, v text)`);
        await mallory.query(`INSERT INTO public.m VALUES (1, 'mine')`);
      } finally {
        await mallory.end();
      }
      const su = await pg.connect('rawsec');
      try {
        // Around the signing trigger (not replica mode: decoder_raw's own trigger must mark the transaction).
        await su.query(`BEGIN; ALTER TABLE pgincr.ddl_history DISABLE TRIGGER stamp;
          INSERT INTO pgincr.ddl_history(xid, occurred_at, role_name, search_path, command_tag, object_types, object_identities, query,
            schema_version, phase, statement_ordinal)
          VALUES (0, now(), '', '', 'CREATE TABLE', '{}', '{}', 'CREATE TABLE public.pwn (a int)', 5, 'end', 0);
          ALTER TABLE pgincr.ddl_history ENABLE TRIGGER stamp;
          INSERT INTO public.t VALUES (3, 'with the forged row');
          COMMIT`);
      } finally {
        await su.end();
      }
      await captureUntilConfirmed(pg, chain, 'decoder_raw');
      const text = sealedSegmentText(chain);
      expect(text).not.toContain('pwn');
      expect(text.split('\n').filter((l) => l.startsWith('-- pgincr: REFUSED pgincr.ddl_history'))).toHaveLength(1);
      await restoreChain(chain, 'rawsec_restored');
      expect(await pg.query('SELECT id, v FROM public.t ORDER BY id', [], 'rawsec_restored')).toEqual([
        { id: 1, v: 'c' },
        { id: 3, v: 'with the forged row' },
      ]);
      expect(await pg.query('SELECT id, v FROM public.m', [], 'rawsec_restored')).toEqual([{ id: 1, v: 'mine' }]);
      expect(await pg.query(`SELECT 1 FROM pg_class WHERE relname = 'pwn'`, [], 'rawsec_restored')).toEqual([]);
    } finally {
      chain.env.cleanup();
    }
  });
});

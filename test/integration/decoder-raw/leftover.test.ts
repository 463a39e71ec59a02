/**
 * Exactly once with raw files left over: a raw file is deleted only when all of it is written,
 * so a file left by a killed worker can hold transactions already in segments that the slot
 * will not resend, and the slot's restart_lsn can be past their segments. The next run must
 * still recognize them (docs/decoders.md, "What each guarantees after a crash"). The left-over
 * file is made from a twin decoder_raw slot created at the same point (pg_recvlogical writes
 * each message and a newline, exactly as peeked here). Runs only where decoder_raw is installed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PgCluster } from '../../helpers/pg-cluster';
import { expectRestoreEqualsSource, type DirectChain } from '../../helpers/direct-pipeline';
import { sealedSegmentText } from '../../helpers/direct-pipeline';
import { waitFor } from '../../helpers/pgincr-env';
import { listSealedSegments } from '../../../src/adapters/fs/segment-files';
import { parseLsn } from '../../../src/core/lsn';
import { describeRaw, startRawCluster } from './raw-cluster';
import { captureUntilConfirmed, runStatements, setUpDecoderChain } from './raw-chain';

jest.setTimeout(300_000);

describeRaw('decoder_raw capture: raw files left over hold transactions already written', () => {
  let pg: PgCluster;
  let chain: DirectChain;

  beforeAll(async () => {
    pg = await startRawCluster();
    chain = await setUpDecoderChain(pg, 'leftover', 'CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE log (n int)', 'decoder_raw');
  });
  afterAll(async () => {
    chain?.env.cleanup();
    await pg?.stop();
  });

  it('writes them once, also when the slot has moved past their segments', async () => {
    await pg.query(`SELECT pg_create_logical_replication_slot('twin', 'decoder_raw')`, [], 'leftover');
    await runStatements(
      pg,
      'leftover',
      Array.from({ length: 30 }, (_, i) => `WITH x AS (INSERT INTO t VALUES (${i + 1}, 'v')) INSERT INTO log VALUES (${i + 1})`),
    );
    await captureUntilConfirmed(pg, chain, 'decoder_raw');
    const firstEnd = (await listSealedSegments(chain.chainDir)).at(-1)!.endLsn;
    const [{ raw }] = (await pg.query<{ raw: string }>(
      `SELECT string_agg(data || E'\\n', '') AS raw FROM pg_logical_slot_get_changes('twin', NULL, NULL, 'include_transaction', 'on')`,
      [],
      'leftover',
    )) as [{ raw: string }];
    await pg.query(`SELECT pg_drop_replication_slot('twin')`, [], 'leftover');
    expect(raw).toContain('INSERT INTO public.log (n) VALUES (30);');

    // The slot's restart_lsn moves past the segment (a checkpoint logs the running transactions).
    await waitFor(
      'restart_lsn past the first segment',
      async () => {
        await pg.query('CHECKPOINT; INSERT INTO log VALUES (0)', [], 'leftover');
        await chain.env.activities.captureChanges({ profile: 'default', runForMs: 2000 });
        const [row] = await pg.query<{ lsn: string }>(
          'SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
          [chain.slot],
          'leftover',
        );
        return parseLsn(row!.lsn) > firstEnd;
      },
      60_000,
      0,
    );

    // A worker killed after writing them and before deleting its raw file left this.
    writeFileSync(join(chain.chainDir, 'raw', '000000000001.raw'), Buffer.from(raw, 'utf8'));
    await captureUntilConfirmed(pg, chain, 'decoder_raw');
    const text = sealedSegmentText(chain);
    const wrong: string[] = [];
    for (let i = 1; i <= 30; i++) {
      const n = text.match(new RegExp(`^INSERT INTO public\\.log \\(n\\) VALUES \\('${i}'\\);$`, 'gm'))?.length ?? 0;
      if (n !== 1) wrong.push(`${i}×${n}`);
    }
    expect(wrong).toEqual([]);
    await expectRestoreEqualsSource(pg, chain, 'leftover_restored');
  });
});

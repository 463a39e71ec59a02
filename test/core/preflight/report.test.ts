import { facts } from '../../helpers/preflight-facts';
import { buildReport, formatReport, type Finding } from '../../../src/core/preflight/report';
import { evaluatePreflight, parseListSetting } from '../../../src/core/preflight/checks';

const opts = { decoder: 'pgoutput' as const, slot: 'pgincr' };
const statusOf = (findings: Finding[], check: string) => findings.find((f) => f.check === check)?.status;

describe('buildReport', () => {
  it('maps findings to the exit code contract', () => {
    const ok: Finding = { check: 'a', status: 'ok', message: 'fine' };
    const warn: Finding = { check: 'b', status: 'warning', message: 'hmm', hint: 'do x' };
    const fail: Finding = { check: 'c', status: 'fail', message: 'no', hint: 'do y' };
    expect(buildReport([ok])).toMatchObject({ status: 'ready', exitCode: 0, ready: true });
    expect(buildReport([ok, warn])).toMatchObject({ status: 'warnings', exitCode: 1, ready: true });
    expect(buildReport([warn, fail])).toMatchObject({ status: 'not ready', exitCode: 2, ready: false });
    expect(formatReport(buildReport([ok, fail], { server: 'PostgreSQL 15.20', database: 'app' }))).toMatchInlineSnapshot(`
"preflight: not ready (PostgreSQL 15.20, database app)
  [ok  ] a: fine
  [FAIL] c: no
         hint: do y"
`);
  });
});

describe('evaluatePreflight', () => {
  it('is all ok on a ready server', () => {
    expect(buildReport(evaluatePreflight(facts(), opts)).exitCode).toBe(0);
  });

  it('fails on old servers, wal_level and missing privileges', () => {
    const f = evaluatePreflight(facts({ serverVersionNum: 120010, serverVersion: '12.10', walLevel: 'replica', superuser: false, replication: false }), opts);
    expect(f.find((x) => x.check === 'wal_level')?.message).toBe("wal_level is 'replica'; set wal_level = logical in postgresql.conf and restart");
    expect(statusOf(f, 'server version')).toBe('fail');
    expect(statusOf(f, 'replication privilege')).toBe('fail');
    expect(statusOf(f, 'superuser')).toBe('fail');
  });

  it('needs a free slot for capture and warns when none is left for full backups', () => {
    expect(statusOf(evaluatePreflight(facts({ usedReplicationSlots: 10 }), opts), 'max_replication_slots')).toBe('fail');
    expect(statusOf(evaluatePreflight(facts({ usedReplicationSlots: 9 }), opts), 'max_replication_slots')).toBe('warning');
    const ours = { name: 'pgincr', plugin: 'pgoutput', database: 'app', slotType: 'logical' };
    expect(statusOf(evaluatePreflight(facts({ usedReplicationSlots: 9, slot: ours }), opts), 'max_replication_slots')).toBe('ok');
    expect(statusOf(evaluatePreflight(facts({ usedWalSenders: 10 }), opts), 'max_wal_senders')).toBe('fail');
    expect(statusOf(evaluatePreflight(facts({ slot: { ...ours, database: 'other' } }), opts), 'slot')).toBe('fail');
  });

  it('names the tables and the output_plugin_libraries value to set', () => {
    const f = evaluatePreflight(
      facts({
        tablesWithoutIdentity: ['"public"."a"', '"Odd Schema"."Mixed Case"'],
        unloggedTables: ['"public"."u"'],
        largeObjects: 2,
        maxSlotWalKeepSize: '-1',
        outputPluginLibraries: 'pgoutput, test_decoding',
      }),
      { decoder: 'decoder_raw' },
    );
    expect(f.find((x) => x.check === 'replica identity')?.message).toContain('"public"."a", "Odd Schema"."Mixed Case"');
    expect(f.find((x) => x.check === 'unlogged tables')?.message).toContain('"public"."u"');
    expect(statusOf(f, 'large objects')).toBe('warning');
    expect(statusOf(f, 'max_slot_wal_keep_size')).toBe('warning');
    expect(f.find((x) => x.check === 'output plugin')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining("set output_plugin_libraries = 'pgoutput, test_decoding, decoder_raw'"),
    });
    expect(statusOf(evaluatePreflight(facts({ outputPluginLibraries: 'pgoutput' }), opts), 'output plugin')).toBe('ok');
    expect(
      statusOf(evaluatePreflight(facts({ decoderLoad: { ok: false, error: 'could not access file' } }), { decoder: 'decoder_raw' }), 'output plugin'),
    ).toBe('fail');
  });

  it('warns about FULL identities on tables with a key, naming each table and its ALTER', () => {
    const f = evaluatePreflight(
      facts({
        fullIdentityWithKey: [
          { table: '"public"."pgbench_accounts"', index: null },
          { table: '"Odd Schema"."Mixed Case"', index: '"Mixed Case_k_key"' },
        ],
      }),
      opts,
    );
    expect(f.find((x) => x.check === 'replica identity full')).toEqual({
      check: 'replica identity full',
      status: 'warning',
      message:
        'tables with REPLICA IDENTITY FULL although they have a key: every UPDATE and DELETE logs the whole old row ' +
        '(more WAL and decoding on the source, and the restore matches rows by every column): ' +
        '"public"."pgbench_accounts" (primary key), "Odd Schema"."Mixed Case" (unique index "Mixed Case_k_key")',
      hint:
        'ALTER TABLE "public"."pgbench_accounts" REPLICA IDENTITY DEFAULT; ' +
        'ALTER TABLE "Odd Schema"."Mixed Case" REPLICA IDENTITY USING INDEX "Mixed Case_k_key"; — pgincr never changes an identity a user set',
    });
    expect(buildReport(evaluatePreflight(facts({ fullIdentityWithKey: [{ table: '"public"."t"', index: null }] }), opts)).exitCode).toBe(1);
    const many = Array.from({ length: 12 }, (_, i) => ({ table: `"public"."t${i}"`, index: null }));
    expect(evaluatePreflight(facts({ fullIdentityWithKey: many }), opts).find((x) => x.check === 'replica identity full')?.message).toMatch(
      /"public"\."t9" \(primary key\) and 2 more$/,
    );
  });

  it('reads list settings as the server shows them', () => {
    expect(parseListSetting('pgoutput, "test_decoding", "a ""b"""')).toEqual(['pgoutput', 'test_decoding', 'a "b"']);
    expect(parseListSetting('')).toEqual([]);
  });
});

/**
 * Fault gauntlet, item 6 (issue 18): corruption in the repository. On a sealed chain (capture
 * stopped) one damage at a time, each undone before the next: a flipped byte in a sealed
 * segment, a truncated gzip, a segment missing in the middle, a catalog that disagrees with the
 * files. `bin/pgincr restore` must refuse before the target database is created (the plan
 * checks every file first: src/restore/check-plan.ts), naming the file and the byte offset or
 * the LSN gap. `bin/pgincr catalog rebuild` recovers the catalog from the files, after which the
 * same restore equals the source.
 */
import { copyFileSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { startCluster, type PgCluster } from '../../helpers/pg-cluster';
import { listSealedSegments, scanSegmentFile } from '../../../src/adapters/fs/segment-files';
import { formatLsn } from '../../../src/core/lsn';
import { CrashRig, Workload } from '../crash/crash-rig';
import { checkRestored, finishCapture, preparePgbenchDatabase, runSetup, startCapture } from '../crash/capture-scenario';
import { auditXids, reportFault, runPgincr } from './fault-rig';
import { teardown, teardownTimeout } from '../../helpers/teardown';

jest.setTimeout(300_000);

const pgincr = runPgincr;

describe('fault: corruption in the repository', () => {
  let pg: PgCluster;
  let rig: CrashRig;
  let workload: Workload | undefined;

  beforeAll(async () => {
    pg = await startCluster();
    await preparePgbenchDatabase(pg, 'app');
    rig = await CrashRig.create(pg, 'app', 'corruption', { capture: { segmentMaxBytes: 16 * 1024 } });
  }, 120_000);
  afterAll(
    () =>
      teardown([
        ['stop the workload', () => workload?.stop()],
        ['close the rig (its workers)', () => rig?.close()],
        ['stop the cluster', () => pg?.stop()],
      ]),
    teardownTimeout(3),
  );

  const exists = async (db: string) => (await pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])).length === 1;

  it('restore refuses each damage before creating anything, naming file and offset or gap; catalog rebuild recovers', async () => {
    await rig.startWorker();
    expect((await runSetup(rig)).status).toBe('set up');
    workload = new Workload(pg, 'app', { clients: 2, pauseMs: 5 }).start();
    const capture = await startCapture(rig, 30_000);
    await workload.advance(300, 120_000);
    expect((await finishCapture(rig, workload, capture)).state).toBe('stopped');
    const chain = rig.chainDir();
    const sealed = await listSealedSegments(chain);
    expect(sealed.length).toBeGreaterThanOrEqual(4);
    const victim = sealed[Math.floor(sealed.length / 2)]!;
    expect(victim.compressed).toBe(true);
    const original = readFileSync(victim.path);
    const name = basename(victim.path);
    const refusals: string[] = [];
    let n = 0;
    const refused = async (label: string, expected: RegExp[]) => {
      const target = `bad_${++n}`;
      const r = await pgincr(['restore', '--target-db', target, '--target-profile', 'admin'], rig.configPath);
      expect(r.code).not.toBe(0);
      for (const e of expected) expect(r.out).toMatch(e);
      // Refused before anything was applied: the target database was never created.
      expect(await exists(target)).toBe(false);
      refusals.push(`${label}: ${r.out.split('\n').find((l) => expected[0]!.test(l)) ?? r.out.split('\n')[0]}`);
    };

    // 1. A flipped byte inside a transaction of the sealed segment (re-gzipped, so only the SQL differs).
    const plain = gunzipSync(original);
    const { scan } = await scanSegmentFile(victim.path);
    // inside a row's values, not a marker line: the footer's body_sha256 is what catches it
    const at = plain.indexOf('INSERT INTO', scan.transactions[1]!.byteStart) + 40;
    expect(at).toBeGreaterThan(40);
    const flipped = Buffer.from(plain);
    flipped[at] = flipped[at]! ^ 0x01;
    writeFileSync(victim.path, gzipSync(flipped));
    await refused('flipped byte', [new RegExp(`${name}.*offset \\d+`), /body_sha256 mismatch/]);

    // 2. A truncated gzip.
    writeFileSync(victim.path, original);
    truncateSync(victim.path, Math.floor(original.length / 2));
    await refused('truncated gzip', [new RegExp(`${name}.*(cannot be read|unexpected end|offset \\d+)`)]);

    // 3. A segment missing in the middle of the chain: the gap is named by LSN.
    writeFileSync(victim.path, original);
    const aside = `${victim.path}.aside`;
    renameSync(victim.path, aside);
    const gap = new RegExp(`gap from ${formatLsn(victim.startLsn)} to ${formatLsn(victim.endLsn)}`);
    await refused('missing segment', [gap]);
    renameSync(aside, victim.path);

    // 4. A catalog that disagrees with the files: the middle entry dropped from catalog.json.
    const catalogFile = join(chain, 'catalog', 'catalog.json');
    copyFileSync(catalogFile, `${catalogFile}.orig`);
    const catalog = JSON.parse(readFileSync(catalogFile, 'utf8')) as { segments: { file: string }[] };
    catalog.segments = catalog.segments.filter((s) => s.file !== victim.file);
    writeFileSync(catalogFile, JSON.stringify(catalog, null, 2));
    await refused('catalog disagrees', [new RegExp(`${formatLsn(victim.startLsn)}.*${formatLsn(victim.endLsn)}|gap`)]);

    // catalog rebuild recovers it from the files; the same restore then equals the source.
    const rebuilt = await pgincr(['catalog', 'rebuild'], rig.configPath);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.out).toMatch(new RegExp(`${sealed.length} segments`));
    const ok = await pgincr(['restore', '--target-db', 'app_restored', '--target-profile', 'admin'], rig.configPath);
    expect(ok.code).toBe(0);
    let restoreEqual = false;
    try {
      await checkRestored(rig, 'app_restored');
      restoreEqual = true;
    } finally {
      const audit = await auditXids(pg, 'app', chain);
      reportFault({
        fault: 'repository corruption',
        lost: audit.lost.length,
        doubled: audit.doubled.length,
        restoreEqual,
        recoverMs: null,
        detail: `refused: ${refusals.join(' | ')}`,
      });
      expect(audit.lost).toEqual([]);
      expect(audit.doubled).toEqual([]);
    }

    // 5. catalog rebuild with a damaged segment recovers what is whole: every other segment, the
    // damaged one named (file and offset) and left out; a restore past it is refused at the gap,
    // one that stops before it works.
    writeFileSync(victim.path, gzipSync(flipped));
    const partly = await pgincr(['catalog', 'rebuild'], rig.configPath);
    expect(partly.code).toBe(1);
    expect(partly.out).toMatch(new RegExp(`${sealed.length - 1} segments`));
    expect(partly.out).toMatch(new RegExp(`DAMAGED.*${name}.*offset \\d+`));
    await refused('damaged after rebuild', [new RegExp(`gap|${formatLsn(victim.startLsn)}`)]);
    const before = await pgincr(
      ['restore', '--target-db', 'app_before_damage', '--target-profile', 'admin', '--to-lsn', formatLsn(victim.startLsn)],
      rig.configPath,
    );
    expect(before.code).toBe(0);
    expect(await exists('app_before_damage')).toBe(true);
  });
});

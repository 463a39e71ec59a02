/**
 * Retention with an S3 repository (docs/s3-repository.md): three bases taken with `bin/pgincr
 * setup` and `bin/pgincr backup full` under pgbench on worker A; the bucket's catalog backdated
 * (the policy reads ages from it); worker A stopped with its folder kept (a stale copy of every
 * file). retentionWorkflow, started with the JSON a user types, runs on worker B (an empty
 * folder): the dry run deletes nothing; the real run deletes from the bucket exactly what
 * src/core/retention/retention.ts says, and the bucket's catalog and objects agree. Then the stale
 * worker A rebuilds the catalog from its folder: nothing expired comes back into the bucket. The
 * newest base still restores (on B) to exactly the source.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { sequenceValues, tableSums } from '../../helpers/workload';
import { expirable } from '../../../src/core/retention/retention';
import { parseLsn } from '../../../src/core/lsn';
import { loadStoredCatalog, storeCatalog } from '../../../src/adapters/s3/chain-mirror';
import type { Catalog } from '../../../src/core/catalog/schema';
import { bucketFiles, bucketStore, runWorkflowJson, stopWorker, expectOk, s3TestBed, waitSlotReleased } from './s3-rig';

jest.setTimeout(600_000);

const PROFILE = 's3retention';
const POLICY = { segmentsDays: 7, fullDays: 30, monthlyForMonths: 0 };
const DAY_MS = 86_400_000;

describe('S3 repository: retention deletes from the bucket, never what the restorable window needs', () => {
  const bed = s3TestBed({ name: 's3-retention', profile: PROFILE });

  const pgbench = (args: string[]) => execFileSync('pgbench', [...args, 'app'], { env: { ...process.env, ...bed.pg.env('app') }, stdio: 'pipe' });

  it('dry run deletes nothing; the real run deletes expired bases and segments from the bucket; a stale worker brings nothing back', async () => {
    const { pg, s3, taskQueue } = bed;
    const environment = (name: string) => bed.environment(name, { extra: { retention: POLICY } });
    const a = environment('worker-a');
    const b = environment('worker-b');
    const workerA = await a.startWorker();
    const ok = expectOk;

    ok(await a.cli(['setup']));
    pgbench(['-i', '-s', '1', '-q']);
    pgbench(['-c', '2', '-T', '3', '-n']);
    ok(await a.cli(['backup', 'full']));
    pgbench(['-c', '2', '-T', '3', '-n']);
    ok(await a.cli(['backup', 'full']));
    pgbench(['-c', '2', '-T', '3', '-n']);
    const source = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };
    ok(await a.cli(['capture', 'stop']));
    await waitSlotReleased(pg);
    await stopWorker(workerA); // its folder stays: a stale copy of every file
    const chain = readdirSync(a.spool).find((n) => /^\d+-app$/.test(n))!;

    // Backdate the bucket's catalog: the first base 100 days, the second 60; segments before the newest base 60 days.
    const store = bucketStore(s3);
    const real = (await loadStoredCatalog(store, chain))!;
    expect(real.bases).toHaveLength(3);
    const [first, second, third] = real.bases;
    const ago = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();
    const aged: Catalog = {
      ...real,
      bases: real.bases.map((x) => (x.id === first!.id ? { ...x, takenAt: ago(100) } : x.id === second!.id ? { ...x, takenAt: ago(60) } : x)),
      segments: real.segments.map((s) => (parseLsn(s.endLsn) <= parseLsn(third!.lsn) ? { ...s, firstCommitTime: ago(61), lastCommitTime: ago(60) } : s)),
    };
    await storeCatalog(store, chain, aged, { replace: true });
    const expected = expirable(aged, POLICY, Date.now());
    expect(expected.bases.map((x) => x.id)).toEqual([first!.id, second!.id]);
    expect(expected.segments.length).toBeGreaterThan(0);
    expect(expected.segments.length).toBeLessThan(aged.segments.length);
    const described = [...expected.bases.map((x) => `base ${x.id}: ${x.reason}`), ...expected.segments.map((s) => `segment ${s.file}: ${s.reason}`)];
    const expiredFile = (f: string) => expected.bases.some((x) => f.startsWith(`base/${x.id}/`)) || expected.segments.some((s) => s.file === f);
    const before = await bucketFiles(s3, chain);
    expect(before.filter(expiredFile).length).toBeGreaterThan(expected.segments.length); // the segments and the bases' files

    // Worker B, with an empty folder, runs the workflows (started with the JSON of docs/workflows.md).
    await b.startWorker();
    const dry = await runWorkflowJson<{ removed: string[] }>(
      taskQueue,
      'retentionWorkflow',
      `s3-retention-dry-${Date.now()}`,
      `{"profile":"${PROFILE}","dryRun":true}`,
    );
    expect(dry.removed).toEqual(described);
    expect(await bucketFiles(s3, chain)).toEqual(before);
    expect(await loadStoredCatalog(store, chain)).toEqual(aged);

    const done = await runWorkflowJson<{ removed: string[]; kept: number }>(
      taskQueue,
      'retentionWorkflow',
      `s3-retention-real-${Date.now()}`,
      `{"profile":"${PROFILE}","dryRun":false}`,
    );
    expect(done.removed).toEqual(described);
    const after = (await loadStoredCatalog(store, chain))!;
    expect(after.bases.map((x) => x.id)).toEqual([third!.id]);
    expect(after.segments.map((s) => s.file)).toEqual(aged.segments.map((s) => s.file).filter((f) => !expiredFile(f)));
    // The bucket's objects and its catalog agree: nothing expired left, everything retained there.
    const left = await bucketFiles(s3, chain);
    expect(left).toEqual(before.filter((f) => !expiredFile(f)));
    for (const s of after.segments) expect(left).toContain(s.file);
    expect(left.filter((f) => f.startsWith('base/')).every((f) => f.startsWith(`base/${third!.id}/`))).toBe(true);

    // Worker A's stale folder still holds every expired file: a rebuild there brings none of them back.
    const rebuild = await a.cli(['catalog', 'rebuild']);
    ok(rebuild);
    expect(await bucketFiles(s3, chain)).toEqual(left);
    const rebuilt = (await loadStoredCatalog(store, chain))!;
    expect(rebuilt.bases.map((x) => x.id)).toEqual([third!.id]);
    expect(rebuilt.segments.map((s) => s.file)).toEqual(after.segments.map((s) => s.file));

    // Nothing more to delete; the newest base restores on B to exactly the source.
    const again = await runWorkflowJson<{ removed: string[] }>(
      taskQueue,
      'retentionWorkflow',
      `s3-retention-again-${Date.now()}`,
      `{"profile":"${PROFILE}","dryRun":false}`,
    );
    expect(again.removed).toEqual([]);
    const restore = await b.cli(['restore', '--target-db', 'app_restored']);
    ok(restore);
    expect(restore.stdout).toContain(third!.id);
    expect(await tableSums(pg, 'app_restored')).toEqual(source.sums);
    expect(await sequenceValues(pg, 'app_restored')).toEqual(source.sequences);
    bed.passed();
  });
});

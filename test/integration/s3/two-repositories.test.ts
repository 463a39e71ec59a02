/**
 * Two repositories as README ("Two repositories") configures them: a local repository plus its
 * copy in a bucket (this test's versitygw), driven through bin/pgincr. pgbench is captured;
 * `check` finds the two equal; a segment deleted from the local repository is reported as only
 * in the copy and a restore still equals the source (it comes from the bucket); then a segment
 * deleted from the bucket is reported as only in the local repository and a restore equals the
 * source (it comes from the local repository); then with the bucket stopped, a restore from the
 * local repository alone equals the source.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { sequenceValues, tableSums } from '../../helpers/workload';
import { waitFor, waitForValue } from '../../helpers/wait';
import { PREFIX, captureEnded, expectOk, s3TestBed } from './s3-rig';

jest.setTimeout(600_000);

const PROFILE = 'tworepos';
const ROOT = join(__dirname, '../../..');

/** README's "Two repositories" example. */
function readmeExample(): { repository: { path: string; copy: Record<string, unknown> } } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Two repositories'));
  return JSON.parse(/```json\n([^]*?)```/.exec(section)![1] as string) as { repository: { path: string; copy: Record<string, unknown> } };
}

interface CopyFinding {
  check: string;
  severity: string;
  message: string;
}

describe('two repositories: a local repository and its copy in a bucket', () => {
  const bed = s3TestBed({ name: 'two-repos', profile: PROFILE, bucket: 'pgincr-two' });

  it('check reports a file missing in either; restore takes each file from whichever holds it, and from the local one alone', async () => {
    const { pg, s3 } = bed;
    const example = readmeExample();
    expect(example.repository.path).toBe('/var/backups/pgincr');
    const w = bed.environment('worker', {
      config: example,
      repositoryFor: (folder) => ({
        path: folder,
        copy: { ...example.repository.copy, url: `s3://${s3.bucket}/${PREFIX}`, endpoint: s3.endpoint, region: s3.env.AWS_REGION },
      }),
    });
    const ok = expectOk;
    const copyFinding = async (): Promise<CopyFinding | undefined> => {
      const r = await w.cli(['check', '--json']);
      return (JSON.parse(r.stdout) as { findings: CopyFinding[] }).findings.find((f) => f.check === 'repository.copy');
    };
    await w.startWorker();
    ok(await w.cli(['setup']));
    const env = { ...process.env, ...pg.env('app') };
    execFileSync('pgbench', ['-i', '-s', '1', '-q', 'app'], { env, stdio: 'pipe' });
    // Two segments at least: one sealed by a rotation, one on stop.
    const chainDir = async () => join(w.spool, await waitForValue('the chain folder', async () => readdirSync(w.spool).find((n) => /^\d+-app$/.test(n))));
    const sealed = async () =>
      (readdirSync(join(await chainDir(), 'segments'), { recursive: true }) as string[]).filter((f) => /\.sql(\.gz)?$/.test(f) && !f.startsWith('partial'));
    ok(await w.cli(['capture', 'rotate']));
    await waitFor('the rotation to seal a segment', async () => (await sealed()).length > 0, 120_000, 500);
    execFileSync('pgbench', ['-c', '2', '-T', '3', '-n', 'app'], { env, stdio: 'pipe' });
    const final = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };
    ok(await w.cli(['capture', 'stop']));
    // The stop seals the open segment and uploads it: the workflow ends after that.
    await captureEnded(PROFILE);

    const chain = readdirSync(w.spool).find((n) => /^\d+-app$/.test(n))!;
    const segments = (await sealed()).sort();
    expect(segments.length).toBeGreaterThanOrEqual(2);
    expect(await copyFinding()).toMatchObject({ severity: 'ok', message: expect.stringContaining('holds the same files as the local repository') });

    // A segment lost from the local repository: reported, and the restore takes it from the bucket.
    const first = `segments/${segments[0]!}`;
    rmSync(join(w.spool, chain, first));
    expect(await copyFinding()).toMatchObject({ severity: 'warning', message: expect.stringContaining(`1 file(s) only in the copy (${first})`) });
    ok(await w.cli(['restore', '--target-db', 'app_from_copy']));
    expect(await tableSums(pg, 'app_from_copy')).toEqual(final.sums);
    expect(await sequenceValues(pg, 'app_from_copy')).toEqual(final.sequences);

    // A segment lost from the bucket: reported, and the restore takes it from the local repository.
    const last = `segments/${segments.at(-1)!}`;
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${chain}/${last}` }));
    const sealedAt = statSync(join(w.spool, chain, last)).mtime;
    expect(await copyFinding()).toMatchObject({ severity: 'ok' }); // sealed seconds ago: its upload may still be due
    const tenMinutesAgo = new Date(Date.now() - 600_000);
    utimesSync(join(w.spool, chain, last), tenMinutesAgo, tenMinutesAgo); // as if sealed 10 minutes ago
    expect(sealedAt.getTime()).toBeGreaterThan(tenMinutesAgo.getTime());
    expect(await copyFinding()).toMatchObject({ severity: 'warning', message: expect.stringContaining(`1 file(s) only in the local repository (${last})`) });
    ok(await w.cli(['restore', '--target-db', 'app_from_local']));
    expect(await tableSums(pg, 'app_from_local')).toEqual(final.sums);

    // The bucket unreachable: the local repository alone.
    await s3.stop({ keepData: true });
    ok(await w.cli(['restore', '--target-db', 'app_local_only']));
    expect(await tableSums(pg, 'app_local_only')).toEqual(final.sums);
    expect(await copyFinding()).toMatchObject({ severity: 'warning', message: expect.stringContaining('cannot compare the repository copy') });
    bed.passed();
  });
});

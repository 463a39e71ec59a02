/**
 * An encrypted S3 repository driven as docs/s3-repository.md ("Encryption") tells a user: keys
 * made with its age-keygen commands, its configuration example (this test's bucket, key files and
 * recipient filled in), worker A captures pgbench through bin/pgincr; every object but the
 * catalog is an age file and none holds a row or a table name in the clear. A worker with the
 * wrong identity refuses restore and verify before creating anything, naming the file and the fix;
 * a worker with no encryption refuses to download or upload; worker A, its folder emptied,
 * restores from the bucket with the right key, equal to the source. Then the bucket is downloaded, decrypted with the docs' `age`
 * block and restored with docs/restore.md's runbook, by bash alone: equal to the source.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { sequenceValues, tableSums } from '../../helpers/workload';
import { ObjectStore } from '../../../src/adapters/s3/object-store';
import { pullChain, pushChain } from '../../../src/adapters/s3/chain-mirror';
import { PREFIX, docConfig, captureEnded, expectOk, s3TestBed, waitSlotReleased } from './s3-rig';

jest.setTimeout(600_000);

const PROFILE = 's3age';
const ROOT = join(__dirname, '../../..');

/** The ```<lang> blocks of a doc, in order. */
function blocks(doc: string, lang: string): string[] {
  const text = readFileSync(join(ROOT, doc), 'utf8');
  return [...text.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map((m) => m[1] as string);
}

describe('S3 repository encrypted with age', () => {
  const bed = s3TestBed({ name: 's3-age', profile: PROFILE, bucket: 'pgincr-age' });

  it('uploads only age files, refuses a wrong or missing key, restores with the right one and by hand with the age command', async () => {
    const { pg, s3, dir } = bed;
    // The docs' key commands, with /etc/pgincr moved into the test's folder.
    const keys = join(dir, 'keys');
    const keygen = blocks('docs/s3-repository.md', 'sh').find((b) => b.includes('age-keygen'))!;
    mkdirSync(join(keys, 'pgincr'), { recursive: true });
    execFileSync('bash', ['-e', '-c', keygen.replaceAll('/etc/pgincr', join(keys, 'pgincr'))], { stdio: 'pipe' });
    const identity = join(keys, 'pgincr', 'age-identity.txt');
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    const wrongIdentity = join(keys, 'wrong.txt');
    execFileSync('age-keygen', ['-o', wrongIdentity], { stdio: 'pipe' });

    const example = docConfig(1);
    const exampleRepository = example.repository as { encryption: { recipients: string[]; identityFile: string } };
    expect(exampleRepository.encryption.identityFile).toBe('/etc/pgincr/age-identity.txt'); // the file the key commands write
    const config = { ...example, repository: { ...exampleRepository, encryption: { recipients: [recipient], identityFile: identity } } };
    const a = bed.environment('worker-a', { config });
    const b = bed.environment('worker-b', { taskQueue: `${bed.taskQueue}-b`, config });
    await a.startWorker();

    const setup = await a.cli(['setup']);
    expectOk(setup);
    const env = { ...process.env, ...pg.env('app') };
    execFileSync('pgbench', ['-i', '-s', '1', '-q', 'app'], { env, stdio: 'pipe' });
    const bench = spawn('pgbench', ['-c', '2', '-T', '4', '-n', 'app'], { env, stdio: 'ignore' });
    expect(await new Promise((r) => bench.once('exit', r))).toBe(0);
    const final = { sums: await tableSums(pg, 'app'), sequences: await sequenceValues(pg, 'app') };
    const stop = await a.cli(['capture', 'stop']);
    expectOk(stop);
    await waitSlotReleased(pg);

    // The stop seals the open segment after the capture let the slot go: the workflow ends once it is uploaded.
    await captureEnded(PROFILE);
    const chain = readdirSync(a.spool).find((n) => /^\d+-app$/.test(n))!;

    // The bucket: every chain file an age file, nothing of the data in the clear.
    const stored = join(s3.dataDir, s3.bucket, PREFIX, chain);
    const files = (readdirSync(stored, { recursive: true, withFileTypes: true }) as Array<{ isFile(): boolean; parentPath: string; name: string }>)
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(stored.length + 1));
    expect(files.filter((f) => !f.endsWith('.age'))).toEqual(['catalog/catalog.json']);
    expect(files.filter((f) => f.startsWith('segments/')).length).toBeGreaterThan(0);
    expect(files.some((f) => /^base\/[^/]+\/dump\.sql\.gz\.age$/.test(f))).toBe(true);
    for (const f of files.filter((name) => name.endsWith('.age'))) {
      const bytes = readFileSync(join(stored, f));
      expect([f, bytes.subarray(0, 22).toString()]).toEqual([f, 'age-encryption.org/v1\n']);
      expect([f, /pgbench_|BEGIN; -- xid|CREATE TABLE/.test(bytes.toString('latin1'))]).toEqual([f, false]);
    }
    expect(readFileSync(join(stored, 'catalog/catalog.json'), 'utf8')).not.toMatch(/pgbench_/); // no table names, no rows

    // The wrong identity (PGINCR_AGE_IDENTITY_FILE wins over the config): restore and verify refuse before creating anything.
    await b.startWorker({ PGINCR_AGE_IDENTITY_FILE: wrongIdentity });
    const refused = await b.cli(['restore', '--target-db', 'app_wrong_key']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      new RegExp(`s3://${s3.bucket}/${PREFIX}/${chain}/\\S+\\.age: no identity in ${wrongIdentity} opens it[^]*PGINCR_AGE_IDENTITY_FILE`),
    );
    expect(await pg.query("SELECT 1 FROM pg_database WHERE datname = 'app_wrong_key'")).toEqual([]);
    const verifyRefused = await b.cli(['verify']);
    expect(verifyRefused.code).not.toBe(0);
    expect(verifyRefused.stderr).toMatch(/\.age: no identity in \S+ opens it/);
    expect(readFileSync(join(dir, 'worker-b', 'worker.log'), 'utf8')).not.toMatch(/AGE-SECRET-KEY/);

    // A worker without encryption: no download of an age file into its folder, and no upload in the clear.
    const plain = new ObjectStore({ bucket: s3.bucket, prefix: PREFIX, endpoint: s3.endpoint, forcePathStyle: true }, s3.client);
    const bare = join(dir, 'bare', chain);
    await expect(pullChain(plain, bare)).rejects.toThrow(
      /\.age is encrypted with age and this worker has no encryption configured[^]*PGINCR_AGE_IDENTITY_FILE/,
    );
    mkdirSync(join(bare, 'checkpoints'), { recursive: true });
    writeFileSync(join(bare, 'checkpoints', '0000000000000001.json'), '{}');
    await expect(pushChain(plain, bare)).rejects.toThrow(
      /holds age-encrypted files and this worker has no encryption configured: it would upload in the clear/,
    );

    // The right identity: A, its copy of the chain deleted, restores from the bucket, equal to the source.
    rmSync(join(a.spool, chain), { recursive: true, force: true });
    const restore = await a.cli(['restore', '--target-db', 'app_restored']);
    expectOk(restore);
    expect(await tableSums(pg, 'app_restored')).toEqual(final.sums);
    expect(await sequenceValues(pg, 'app_restored')).toEqual(final.sequences);

    // By hand: a plain download of the prefix (what `aws s3 cp --recursive` does), the docs' age block, then the runbook.
    const repo = join(dir, 'download');
    const listed = [...files.map((f) => `${chain}/${f}`)];
    for (const key of listed) {
      const object = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${key}` }));
      mkdirSync(dirname(join(repo, key)), { recursive: true });
      writeFileSync(join(repo, key), await object.Body!.transformToByteArray());
    }
    const decrypt = blocks('docs/s3-repository.md', 'bash').find((bl) => bl.includes('age --decrypt'))!;
    const decrypted = spawnSync('bash', ['-e', '-c', decrypt], { env: { ...process.env, REPO: repo, IDENTITY: identity }, encoding: 'utf8' });
    expect({ status: decrypted.status, stderr: decrypted.stderr }).toEqual({ status: 0, stderr: '' });
    const base = readdirSync(join(repo, chain, 'base'))[0]!;
    const work = mkdtempSync(join(tmpdir(), 'pgincr-age-runbook-'));
    const runbook = spawnSync('bash', ['-e', '-c', blocks('docs/restore.md', 'bash').join('\n')], {
      env: { ...process.env, ...pg.env(), CHAIN: join(repo, chain), BASE: base, DB: 'app_by_hand', STOP_TIME: '', WORK: work },
      encoding: 'utf8',
    });
    rmSync(work, { recursive: true, force: true });
    expect(runbook.stderr).not.toMatch(/ERROR(?!:\s+role .* already exists)/);
    expect(runbook.status).toBe(0);
    expect(runbook.stdout).toMatch(/^OK$/m);
    expect(await tableSums(pg, 'app_by_hand')).toEqual(final.sums);
    bed.passed();
  });
});

/**
 * The object-store adapter against a real S3 server (versitygw on loopback): uploads checked
 * end to end (multipart for a large file), the bucket holding the files byte for byte under the
 * prefix, paginated listing, a damaged object refused on download, conditional writes, and the
 * catalog updated by concurrent writers without losing an entry.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectStore } from '../../../src/adapters/s3/object-store';
import { loadStoredCatalog, storeCatalog } from '../../../src/adapters/s3/chain-mirror';
import { addSegment, emptyCatalog } from '../../../src/core/catalog/catalog';
import { segment } from '../../core/catalog/make-catalog';
import { startS3Server, type S3TestServer } from '../../helpers/s3-server';

let s3: S3TestServer;
let store: ObjectStore;
let work: string;
const saved = { ...process.env };

beforeAll(async () => {
  s3 = await startS3Server();
  Object.assign(process.env, s3.env); // the SDK's default credential chain: the standard AWS variables
  store = new ObjectStore({ bucket: s3.bucket, prefix: 'team/pgincr', endpoint: s3.endpoint, forcePathStyle: true });
  work = mkdtempSync(join(tmpdir(), 'pgincr-s3-work-'));
});

afterAll(async () => {
  process.env = saved;
  store?.client.destroy();
  await s3?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('object store on versitygw', () => {
  it('uploads small and multipart files, checked, and stores them byte for byte under the prefix', async () => {
    const small = join(work, 'small.sql');
    const large = join(work, 'large.bin');
    writeFileSync(small, 'BEGIN; -- xid 1\n');
    writeFileSync(large, randomBytes(20 * 1024 * 1024 + 123)); // three 8 MiB parts
    const put1 = await store.putFile('1-app/segments/small.sql', small);
    const put2 = await store.putFile('1-app/base/x/dump.sql.gz', large);
    expect(put2.bytes).toBe(20 * 1024 * 1024 + 123);
    // The posix backend keeps each object as a file: the bucket is the repository's layout.
    // (Buffer.equals: jest's toEqual walks a 20 MiB buffer byte by byte for minutes.)
    expect(readFileSync(join(s3.dataDir, s3.bucket, 'team/pgincr/1-app/segments/small.sql')).equals(readFileSync(small))).toBe(true);
    expect(readFileSync(join(s3.dataDir, s3.bucket, 'team/pgincr/1-app/base/x/dump.sql.gz')).equals(readFileSync(large))).toBe(true);
    const back = join(work, 'back.bin');
    expect(await store.downloadFile('1-app/base/x/dump.sql.gz', back)).toBe(true);
    expect(readFileSync(back).equals(readFileSync(large))).toBe(true);
    expect(put1.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await store.downloadFile('1-app/none', join(work, 'none'))).toBe(false);
  });

  it('lists page by page, under a folder only', async () => {
    for (let i = 0; i < 5; i++) {
      const f = join(work, `c${i}`);
      writeFileSync(f, `checkpoint ${i}`);
      await store.putFile(`2-app/checkpoints/${i}.json`, f);
    }
    const seen: string[] = [];
    for await (const o of store.list('2-app/checkpoints', 2)) seen.push(o.path);
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `2-app/checkpoints/${i}.json`));
    await store.delete('2-app/checkpoints/4.json');
    const after: string[] = [];
    for await (const o of store.list('2-app')) after.push(o.path);
    expect(after).toHaveLength(4);
  });

  it('refuses a download whose content no longer matches the upload, leaving no file', async () => {
    const f = join(work, 'seg.sql');
    writeFileSync(f, 'COMMIT; -- xid 7 end_lsn 0/10\n');
    await store.putFile('3-app/segments/seg.sql', f);
    const stored = join(s3.dataDir, s3.bucket, 'team/pgincr/3-app/segments/seg.sql');
    const bytes = readFileSync(stored);
    bytes[3] = bytes[3]! ^ 1; // damage in the bucket, same size
    writeFileSync(stored, bytes);
    const target = join(work, 'seg-back.sql');
    await expect(store.downloadFile('3-app/segments/seg.sql', target)).rejects.toThrow(
      /3-app\/segments\/seg\.sql: downloaded content does not match the checksum recorded at upload[^]*hint: the object was changed or damaged in the bucket/,
    );
    expect(() => readFileSync(target)).toThrow(/ENOENT/);
  });

  it('writes conditionally: If-None-Match for the first version, If-Match on the ETag read after', async () => {
    const first = await store.putIf('4-app/catalog/catalog.json', '{"v":1}', null);
    expect(first).toBeTruthy();
    expect(await store.putIf('4-app/catalog/catalog.json', '{"v":"other"}', null)).toBeNull(); // it exists now
    const second = await store.putIf('4-app/catalog/catalog.json', '{"v":2}', first);
    expect(second).toBeTruthy();
    expect(await store.putIf('4-app/catalog/catalog.json', '{"v":"stale"}', first)).toBeNull(); // stale ETag
    expect((await store.getText('4-app/catalog/catalog.json'))?.text).toBe('{"v":2}');
  });

  it('keeps every catalog entry when eight writers add theirs at once', async () => {
    const writers = Array.from({ length: 8 }, (_, w) => async () => {
      for (let i = 0; i < 4; i++) {
        const n = BigInt(w * 100 + i + 1);
        const mine = addSegment(emptyCatalog('5', 'app'), segment(n * 1000n, n * 1000n + 10n, '2026-12-01T00:00:00Z', '2026-12-01T00:00:01Z'));
        await storeCatalog(store, '5-app', mine);
      }
    });
    await Promise.all(writers.map((w) => w()));
    const stored = await loadStoredCatalog(store, '5-app');
    expect(stored?.segments).toHaveLength(32);
  });

  it('names the bucket and the AWS environment when the credentials are wrong', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'wrong';
    const denied = new ObjectStore({ bucket: s3.bucket, prefix: 'team/pgincr', endpoint: s3.endpoint, forcePathStyle: true });
    try {
      const f = join(work, 'denied');
      writeFileSync(f, 'x');
      await expect(denied.putFile('6-app/x', f)).rejects.toThrow(
        new RegExp(`upload to s3://${s3.bucket}/team/pgincr/6-app/x failed \\(HTTP 403\\)[^]*hint: the worker needs credentials from the AWS environment`),
      );
    } finally {
      denied.client.destroy();
      process.env.AWS_SECRET_ACCESS_KEY = s3.env.AWS_SECRET_ACCESS_KEY;
    }
  });
});

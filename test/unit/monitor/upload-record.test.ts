/** The upload record and the upload lag read from a worker's folder (S3 repository; src/monitor/upload-record.ts). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { observeUploads, recordUploadFailure, recordUploadSuccess, loadUploadRecord } from '../../../src/monitor/upload-record';
import { saveCatalog } from '../../../src/adapters/fs/catalog-store';
import { base, makeCatalog, segment } from '../../core/catalog/make-catalog';

describe('upload record and upload lag', () => {
  let chain: string;
  beforeEach(() => {
    chain = join(mkdtempSync(join(tmpdir(), 'pgincr-upload-')), '7312-app');
    mkdirSync(chain);
  });
  afterEach(() => rmSync(join(chain, '..'), { recursive: true, force: true }));

  const partial = (start: string, firstCommit: string | null) => {
    mkdirSync(join(chain, 'segments', 'partial'), { recursive: true });
    const begin = firstCommit ? `BEGIN; -- xid 7 commit_lsn 0/501 committed ${firstCommit}\nINSERT INTO t VALUES (1);\n` : '';
    writeFileSync(join(chain, 'segments', 'partial', `${start}.sql.partial`), `-- pgincr segment v1\nSET search_path = '';\n\n${begin}`);
  };

  it('is nothing on a worker that never captured', async () => {
    expect(await observeUploads(chain, 0x400n)).toBeUndefined();
  });

  it('names the oldest sealed segment the bucket lacks, else the open segment, and counts failures in a row', async () => {
    const s1 = segment(0x100n, 0x200n, '2026-01-01T01:00:00.000000Z', '2026-01-01T02:00:00.000000Z');
    const s2 = segment(0x200n, 0x300n, '2026-01-01T03:00:00.000000Z', '2026-01-01T04:00:00.000000Z');
    await saveCatalog(chain, makeCatalog([base(0x100n, '2026-01-01T00:00:00.000000Z')], [s1, s2]));
    partial('0000000000000300', '2026-01-01 05:00:00.000000+00');
    await recordUploadSuccess(chain, 0x200n);
    await recordUploadFailure(chain, new Error('connect ECONNREFUSED\nhint: more'));
    await recordUploadFailure(chain, new Error('connect ECONNREFUSED'));
    expect(await loadUploadRecord(chain)).toMatchObject({ uploadedThrough: '0/200', failures: 2, lastError: 'connect ECONNREFUSED' });
    // The bucket unreachable: its end from the record.
    expect(await observeUploads(chain, undefined)).toMatchObject({
      pendingSinceMs: Date.parse('2026-01-01T03:00:00Z'),
      pendingIn: s2.file,
      failures: 2,
    });
    // s2 uploaded: only the open segment is pending; a success clears the failures.
    await recordUploadSuccess(chain, 0x300n);
    expect(await observeUploads(chain, 0x300n)).toEqual({ pendingSinceMs: Date.parse('2026-01-01T05:00:00Z'), pendingIn: 'the open segment', failures: 0 });
  });

  it('an empty open segment and everything uploaded: no lag', async () => {
    partial('0000000000000300', null);
    await recordUploadSuccess(chain, 0x300n);
    expect(await observeUploads(chain, 0x300n)).toEqual({ pendingSinceMs: null, failures: 0 });
  });

  it('is history once the bucket went past this worker (the capture moved), failures included', async () => {
    partial('0000000000000300', '2026-01-01 05:00:00.000000+00');
    await recordUploadSuccess(chain, 0x300n);
    await recordUploadFailure(chain, new Error('connect ECONNREFUSED'));
    expect(await observeUploads(chain, 0x500n)).toBeUndefined();
  });
});

/**
 * The decoder_raw capture reads its pending raw files a window at a time: any byte range of
 * the files taken one after another (empty files, a range across files, past the end).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pendingEnds, readPendingRange, scanClosedRawFiles } from '../../../src/capture/raw/raw-files';

describe('readPendingRange', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgincr-raw-files-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('returns exactly the bytes [from, from + n) of the concatenated files', async () => {
    const parts = ['BEGIN;\n', '', "INSERT INTO t (a) VALUES ('x;\n\u00e9');\n", 'COMMIT;\n'];
    const files = parts.map((p, i) => {
      const path = join(dir, `${String(i + 1).padStart(12, '0')}.raw`);
      writeFileSync(path, Buffer.from(p, 'latin1'));
      return { seq: i + 1, path };
    });
    const ends = await pendingEnds(files);
    const all = parts.join('');
    expect(ends).toEqual([7, 7, 7 + (parts[2] as string).length, all.length]);
    const wrong: string[] = [];
    for (let from = 0; from <= all.length; from++) {
      for (let n = 0; n <= all.length - from + 2; n++) {
        const got = await readPendingRange(files, ends, from, n);
        if (got !== all.slice(from, from + n)) wrong.push(`[${from}, +${n}): ${JSON.stringify(got)}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('scanClosedRawFiles', () => {
  const chain = mkdtempSync(join(tmpdir(), 'pgincr-raw-scan-'));
  afterAll(() => rmSync(chain, { recursive: true, force: true }));

  it('sees every occurrence of a short pattern whole, also across chunk and file boundaries', async () => {
    mkdirSync(join(chain, 'raw'));
    const text = Array.from({ length: 200 }, (_, i) => `x${'.'.repeat(i % 37)}MARK${i};`).join('');
    writeFileSync(join(chain, 'raw', '000000000001.raw'), text.slice(0, 1234));
    writeFileSync(join(chain, 'raw', '000000000002.raw'), text.slice(1234));
    const seen = new Set<string>();
    await scanClosedRawFiles(
      chain,
      (t) => {
        for (const m of t.matchAll(/MARK\d+;/g)) seen.add(m[0]);
      },
      100,
      16,
    );
    expect(seen.size).toBe(200);
  });
});

import {
  baseDir,
  baseId,
  catalogPath,
  chainDir,
  checkpointPath,
  parseBaseId,
  parseChainDirName,
  partialPath,
  segmentPath,
  segmentRelPath,
} from '../../../src/core/repository/paths';

describe('repository paths', () => {
  const chain = chainDir('/repo', '7312345678901234567', 'app');
  it('lays out the documented tree', () => {
    expect(chain).toBe('/repo/7312345678901234567-app');
    expect(baseId('2026-11-27T14:00:05.5Z', 0x16b3748n)).toBe('20261127T140005Z_00000000016B3748');
    expect(baseDir(chain, 'X')).toBe(`${chain}/base/X`);
    expect(partialPath(chain, 0x10n)).toBe(`${chain}/segments/partial/0000000000000010.sql.partial`);
    expect(segmentRelPath('2026-11-27', 1n, 2n, true)).toBe('segments/2026-11-27/0000000000000001_0000000000000002.sql.gz');
    expect(segmentPath(chain, '2026-11-27', 1n, 2n, false)).toBe(`${chain}/segments/2026-11-27/0000000000000001_0000000000000002.sql`);
    expect(checkpointPath(chain, 0x16b3748n)).toBe(`${chain}/checkpoints/00000000016B3748.json`);
    expect(catalogPath(chain)).toBe(`${chain}/catalog/catalog.json`);
  });

  it('encodes database names into one safe folder name and back', () => {
    for (const db of ['app', 'my db', '../etc', 'café', 'a%b']) {
      const name = chainDir('', '42', db);
      expect(name).not.toContain('/');
      expect(parseChainDirName(name)).toEqual({ systemIdentifier: '42', database: db });
    }
    expect(parseBaseId('20261127T140005Z_00000000016B3748')).toEqual({ takenAt: '2026-11-27T14:00:05.000000Z', lsn: 0x16b3748n });
  });
});

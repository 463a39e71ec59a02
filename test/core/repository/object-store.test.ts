import { describeLocation, isMirrored, isSafeChainPath, objectKey, parseS3Url, relativeKey } from '../../../src/core/repository/object-store';

describe('object-store repository locations', () => {
  it('parses s3://bucket/prefix and maps paths to keys under the prefix and back', () => {
    const at = { ...parseS3Url('s3://backups-eu/prod/pgincr/')!, region: 'eu-west-1' };
    expect(at).toMatchObject({ bucket: 'backups-eu', prefix: 'prod/pgincr' });
    expect(objectKey(at, '1-app/catalog/catalog.json')).toBe('prod/pgincr/1-app/catalog/catalog.json');
    expect(relativeKey(at, 'prod/pgincr/1-app/x')).toBe('1-app/x');
    expect(relativeKey(at, 'prod/pgincrX/1-app/x')).toBeNull(); // a sibling prefix is not ours
    expect(describeLocation(at)).toBe('s3://backups-eu/prod/pgincr');
    expect(objectKey({ bucket: 'b12', prefix: '' }, 'a')).toBe('a');
    expect(parseS3Url('/var/backups')).toBeNull();
  });

  it('refuses bucket names and prefixes that could escape or confuse the layout', () => {
    expect(() => parseS3Url('s3://UPPER/x')).toThrow(/not an S3 bucket name/);
    expect(() => parseS3Url('s3://ok-bucket/a//b')).toThrow(/empty, '\.' or '\.\.' part/);
    expect(() => parseS3Url('s3://ok-bucket/../b')).toThrow(/'\.\.'/);
    expect(() => parseS3Url('s3://ok-bucket/a\nb')).toThrow(/control character/);
  });

  it('mirrors sealed files, never the open segment, control requests, monitor state, the lock or temp files', () => {
    expect(isMirrored('segments/2026-12-06/0000000001000000_0000000001000100.sql.gz')).toBe(true);
    expect(isMirrored('base/20261206T000000Z_0000000001000000/dump.sql.gz')).toBe(true);
    expect(isMirrored('catalog/catalog.json')).toBe(true);
    expect(isMirrored('checkpoints/0000000001000000.json')).toBe(true);
    for (const local of [
      'segments/partial/0000000001000100.sql.partial',
      'control/rotate-request',
      'monitor/capture.json',
      'raw/current.raw',
      'catalog/catalog.lock',
      'catalog/.catalog.json.tmp-12-abcdef01',
    ])
      expect([local, isMirrored(local)]).toEqual([local, false]);
  });

  it('takes only object paths that stay inside the chain folder (anyone who can write to the bucket picks the keys)', () => {
    expect(isSafeChainPath('segments/2026-12-06/0000000001000000_0000000001000100.sql.gz.age')).toBe(true);
    for (const hostile of ['../escape.age', 'segments/../../x', 'base//x', './x', 'a\\..\\b', 'x\nCOMMIT', '', 'base/x/..'])
      expect([hostile, isSafeChainPath(hostile)]).toEqual([hostile, false]);
  });
});

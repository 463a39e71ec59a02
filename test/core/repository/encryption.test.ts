import { ageFileBytes, fileOfStoredName, recipientProblems, splitRecipients, storedName } from '../../../src/core/repository/encryption';

const RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

describe('encrypted repository names and sizes', () => {
  it('stores every chain file but the catalog as <name>.age, and maps stored names back', () => {
    expect(storedName('segments/2026-12-06/0000000001000000_0000000001000100.sql.gz', true)).toBe(
      'segments/2026-12-06/0000000001000000_0000000001000100.sql.gz.age',
    );
    expect(storedName('base/20261206T000000Z_0000000001000000/metadata.json', true)).toBe('base/20261206T000000Z_0000000001000000/metadata.json.age');
    expect(storedName('catalog/catalog.json', true)).toBe('catalog/catalog.json');
    expect(storedName('checkpoints/0000000001000000.json', false)).toBe('checkpoints/0000000001000000.json');
    expect(fileOfStoredName('checkpoints/0000000001000000.json.age')).toEqual({ file: 'checkpoints/0000000001000000.json', encrypted: true });
    expect(fileOfStoredName('catalog/catalog.json')).toEqual({ file: 'catalog/catalog.json', encrypted: false });
  });

  it('gives the age file size: header, nonce, plaintext and a 16-byte tag per 64 KiB chunk (one for an empty file)', () => {
    expect(ageFileBytes(0, 100)).toBe(100 + 16 + 16);
    expect(ageFileBytes(1, 100)).toBe(100 + 16 + 1 + 16);
    expect(ageFileBytes(65536, 100)).toBe(100 + 16 + 65536 + 16);
    expect(ageFileBytes(65537, 100)).toBe(100 + 16 + 65537 + 32);
  });

  it('accepts X25519 public keys only, and never echoes a private key', () => {
    expect(recipientProblems([RECIPIENT])).toEqual([]);
    const secret = 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ';
    const problems = recipientProblems([secret, 'age1short', `${RECIPIENT}x`]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/recipients\[0\] is a private key/);
    expect(problems.join('\n')).not.toContain(secret);
    expect(problems[1]).toMatch(/recipients\[1\] "age1short" is not an age X25519 public key/);
  });

  it('splits PGINCR_AGE_RECIPIENTS on spaces, commas and lines, without comments', () => {
    expect(splitRecipients(`# ops key\n${RECIPIENT}, ${RECIPIENT}x\n  \n`)).toEqual([RECIPIENT, `${RECIPIENT}x`]);
  });
});

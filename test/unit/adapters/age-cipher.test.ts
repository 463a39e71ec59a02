/**
 * The repository's age cipher against the `age` command (Debian's age, what the manual runbook
 * decrypts with): files it encrypts decrypt with `age -d`, files `age -r` encrypts decrypt with
 * it, sizes follow the format (ageFileBytes), and a wrong, missing, unreadable or shared identity
 * is refused naming the file and the fix, without repeating the key.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { AgeCipher } from '../../../src/adapters/s3/age-cipher';
import { ageFileBytes } from '../../../src/core/repository/encryption';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

describe('age cipher', () => {
  let dir: string;
  let identity: string;
  let recipient: string;
  let other: string;

  function keygen(name: string): { file: string; recipient: string } {
    const file = join(dir, name);
    execFileSync('age-keygen', ['-o', file], { stdio: 'pipe' });
    chmodSync(file, 0o600);
    return { file, recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgincr-age-'));
    ({ file: identity, recipient } = keygen('identity.txt'));
    other = keygen('other.txt').file;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([0, 1, 65536, 65537, 3 * 1024 * 1024 + 7])('%d bytes: encrypted in a stream, decrypted by age -d, the size the format says', async (bytes) => {
    const plain = randomBytes(bytes);
    const cipher = new AgeCipher({ recipients: [recipient] });
    const out = await cipher.encrypt(Readable.from([plain.subarray(0, bytes >> 1), plain.subarray(bytes >> 1)]), bytes);
    const stored = await collect(out.body);
    expect(stored.length).toBe(out.bytes);
    expect(stored.length).toBe(ageFileBytes(bytes, await cipher.headerBytes()));
    const file = join(dir, `f${bytes}.age`);
    writeFileSync(file, stored);
    expect(execFileSync('age', ['-d', '-i', identity, file], { maxBuffer: 64 * 1024 * 1024 }).equals(plain)).toBe(true);
  });

  it('decrypts what age -r encrypted (two recipients), chunk by chunk', async () => {
    const plain = randomBytes(200_000);
    const file = join(dir, 'from-cli.age');
    writeFileSync(join(dir, 'plain'), plain);
    execFileSync('age', ['-r', recipient, '-r', execFileSync('age-keygen', ['-y', other], { encoding: 'utf8' }).trim(), '-o', file, join(dir, 'plain')]);
    const cipher = new AgeCipher({ recipients: [], identityFile: identity });
    const stored = readFileSync(file);
    const chunks = [];
    for (let at = 0; at < stored.length; at += 1000) chunks.push(stored.subarray(at, at + 1000));
    expect((await collect(await cipher.decrypt(Readable.from(chunks), 's3://b/x.age'))).equals(plain)).toBe(true);
  });

  it('refuses a wrong, missing, shared or unusable identity naming the file and the fix, never the key', async () => {
    const stored = await collect((await new AgeCipher({ recipients: [recipient] }).encrypt(Readable.from([Buffer.from('secret rows')]), 11)).body);
    const attempt = async (keys: { identityFile?: string }) => {
      try {
        await new AgeCipher({ recipients: [], ...keys }).decrypt(Readable.from([stored]), 's3://b/p/1-app/base/x/metadata.json.age');
      } catch (error) {
        return error as Error;
      }
      throw new Error('decrypted');
    };
    const wrong = await attempt({ identityFile: other });
    expect(wrong.name).toBe('EncryptionKeyError');
    expect(wrong.message).toMatch(
      new RegExp(`s3://b/p/1-app/base/x/metadata.json.age: no identity in ${other} opens it[^]*hint: set PGINCR_AGE_IDENTITY_FILE`),
    );
    expect(wrong.message).not.toMatch(/AGE-SECRET-KEY/);
    expect((await attempt({})).message).toMatch(/metadata\.json\.age is encrypted with age and this worker has no identity file[^]*PGINCR_AGE_IDENTITY_FILE/);
    expect((await attempt({ identityFile: join(dir, 'absent') })).message).toMatch(/cannot read the age identity file .*absent .*ENOENT/);
    const shared = join(dir, 'shared.txt');
    writeFileSync(shared, readFileSync(identity), { mode: 0o644 });
    chmodSync(shared, 0o644);
    expect((await attempt({ identityFile: shared })).message).toMatch(/accessible to other users \(mode 644\)[^]*chmod 600/);
    const junk = join(dir, 'junk.txt');
    writeFileSync(junk, 'AGE-SECRET-KEY-1NOTAKEY\n', { mode: 0o600 });
    const bad = await attempt({ identityFile: junk });
    expect(bad.message).toMatch(/has a line that is not an age identity/);
    expect(bad.message).not.toContain('NOTAKEY');
    await expect(new AgeCipher({ recipients: [] }).encrypt(Readable.from([]), 0)).rejects.toThrow(/no age recipients[^]*PGINCR_AGE_RECIPIENTS/);
  });
});

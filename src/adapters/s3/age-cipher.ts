/**
 * age encryption of repository files (docs/s3-repository.md, "Encryption"), streamed in 64 KiB
 * chunks so a file of any size passes through a bounded amount of memory. The output is an age
 * v1 file: `age -d -i identity.txt` decrypts it without pgincr.
 *
 * Keys: recipients (public keys) come from the config or the environment; identities (private
 * keys) are read only from the identity file whose path the config or the environment names, when
 * a file must be decrypted, and never logged or put into an error message, a workflow input or a
 * history. The identity file must not be readable by other users (like ssh's private keys).
 */
import { readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Decrypter, Encrypter } from 'age-encryption';
import { EncryptionKeyError, ObjectStoreError } from '../../errors';

type AgeSdk = typeof import('age-encryption');
let ageSdk: AgeSdk | undefined;
/** age, loaded with the first encrypted repository (an unencrypted one's worker never needs it). */
const age = (): AgeSdk => (ageSdk ??= require('age-encryption') as AgeSdk);

export interface EncryptionKeys {
  /** age X25519 public keys (`age1…`) every uploaded file is encrypted to. */
  recipients: string[];
  /** Path of an age identity file (`AGE-SECRET-KEY-1…` lines, as `age-keygen -o` writes). */
  identityFile?: string;
}

const NO_IDENTITY_HINT =
  'set PGINCR_AGE_IDENTITY_FILE (or repository.encryption.identityFile) to the age identity file whose public key ' +
  '(age-keygen -y FILE) is one of the recipients the repository is encrypted to';

/** Node streams to and from the web streams age-encryption takes and gives. */
function toWeb(stream: Readable): ReadableStream<Uint8Array> {
  return Readable.toWeb(stream);
}

function fromWeb(stream: ReadableStream<Uint8Array>): Readable {
  return Readable.fromWeb(stream);
}

export class AgeCipher {
  private decrypter: Promise<Decrypter> | undefined;
  private header: Promise<number> | undefined;

  constructor(readonly keys: EncryptionKeys) {}

  /** Whether this worker can write to the repository (it has recipients). */
  get canEncrypt(): boolean {
    return this.keys.recipients.length > 0;
  }

  private encrypter(): Encrypter {
    if (!this.canEncrypt) {
      throw new EncryptionKeyError('the repository is encrypted and this worker has no age recipients to encrypt what it uploads', {
        hint: 'set repository.encryption.recipients (or PGINCR_AGE_RECIPIENTS) to the public keys (age1…) the repository is encrypted to',
      });
    }
    const e = new (age().Encrypter)();
    for (const r of this.keys.recipients) e.addRecipient(r);
    return e;
  }

  /**
   * `plain` encrypted, as a stream, with the exact size of the age file it makes. Every file
   * gets its own random file key and nonce, so encrypting the same bytes twice differs.
   */
  async encrypt(plain: Readable, plainBytes: number): Promise<{ body: Readable; bytes: number }> {
    const out = await this.encrypter().encrypt(toWeb(plain));
    return { body: fromWeb(out), bytes: out.size(plainBytes) };
  }

  /** Length of the age header these recipients give (the same for every file: X25519 stanzas have a fixed size). */
  headerBytes(): Promise<number> {
    this.header ??= (async () => {
      const empty = await this.encrypter().encrypt(new Uint8Array(0));
      return empty.length - 16 - 16; // nonce, one empty chunk's tag
    })();
    return this.header;
  }

  private async loadIdentities(what: string): Promise<Decrypter> {
    const file = this.keys.identityFile;
    if (!file) throw new EncryptionKeyError(`${what} is encrypted with age and this worker has no identity file to decrypt it`, { hint: NO_IDENTITY_HINT });
    let mode: number;
    let text: string;
    try {
      mode = (await stat(file)).mode;
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw new EncryptionKeyError(`cannot read the age identity file ${file} (to decrypt ${what}): ${(cause as { code?: string }).code ?? 'error'}`, {
        hint: `check the path and that the worker's user can read it; ${NO_IDENTITY_HINT}`,
      });
    }
    if (mode & 0o007) {
      throw new EncryptionKeyError(`the age identity file ${file} is accessible to other users (mode ${(mode & 0o777).toString(8)})`, {
        hint: `chmod 600 ${file} (it holds the private key that decrypts every backup)`,
      });
    }
    const d = new (age().Decrypter)();
    let count = 0;
    for (const line of text.split('\n').map((l) => l.trim())) {
      if (!line || line.startsWith('#')) continue;
      try {
        d.addIdentity(line);
        count++;
      } catch {
        // The line itself may be a key: never repeat it.
        throw new EncryptionKeyError(`the age identity file ${file} has a line that is not an age identity (AGE-SECRET-KEY-1…)`, {
          hint: 'give a file written by age-keygen (comments start with #); plugin identities are not supported',
        });
      }
    }
    if (count === 0) throw new EncryptionKeyError(`the age identity file ${file} holds no identity (AGE-SECRET-KEY-1…)`, { hint: NO_IDENTITY_HINT });
    return d;
  }

  private identities(what: string): Promise<Decrypter> {
    const loading = (this.decrypter ??= this.loadIdentities(what));
    loading.catch(() => (this.decrypter = undefined)); // a fixed file is read again on the next try
    return loading;
  }

  /**
   * `stored` (an age file) decrypted, as a stream. Resolves once the header is read and its file
   * key unwrapped: a wrong or missing key throws here, naming `what` (the file) and the fix,
   * before any plaintext is produced. A damaged payload fails the stream.
   */
  async decrypt(stored: Readable, what: string): Promise<Readable> {
    const d = await this.identities(what);
    try {
      return fromWeb(await d.decrypt(toWeb(stored)));
    } catch (cause) {
      stored.destroy();
      const message = (cause as Error).message;
      if (/no identity matched/.test(message)) {
        throw new EncryptionKeyError(`${what}: no identity in ${this.keys.identityFile} opens it (the file was encrypted to other recipients)`, {
          hint: NO_IDENTITY_HINT,
        });
      }
      throw new ObjectStoreError(`${what}: not a valid age file (${message})`, {
        hint: 'the object was changed or damaged in the bucket: restore it from another copy, or rebuild the catalog without it (pgincr catalog rebuild)',
      });
    }
  }
}

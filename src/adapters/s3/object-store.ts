/**
 * An S3-compatible bucket as a repository's object store: put a file (multipart for large ones,
 * every part checksummed by the SDK and checked by the server, the whole file's SHA-256 kept as
 * object metadata and checked after the upload), get (a stream, or a file checked against that
 * SHA-256), list (paginated), delete, and conditional puts (If-None-Match / If-Match) for the
 * catalog that several workers update.
 *
 * Credentials come only from the AWS SDK's default chain (AWS_ACCESS_KEY_ID/… variables, the
 * shared credentials file and AWS_PROFILE, an instance or container role): never from the
 * config file or a workflow input.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { describeLocation, objectKey, relativeKey, type ObjectStoreLocation } from '../../core/repository/object-store';
import { ObjectStoreError, PgincrError } from '../../errors';
import { AgeCipher } from './age-cipher';

type S3Sdk = typeof import('@aws-sdk/client-s3');
type UploadSdk = typeof import('@aws-sdk/lib-storage');
let s3Sdk: S3Sdk | undefined;
let uploadSdk: UploadSdk | undefined;
/**
 * The AWS SDK, loaded with the first object store: a worker whose repository is a local folder
 * never needs it, and loading it costs ~18 MiB of RSS (README "Fault gauntlet", very large transaction).
 */
const s3 = (): S3Sdk => (s3Sdk ??= require('@aws-sdk/client-s3') as S3Sdk);
const lib = (): UploadSdk => (uploadSdk ??= require('@aws-sdk/lib-storage') as UploadSdk);

/** Parts of 8 MiB (S3's minimum is 5 MiB); files up to one part go in a single PUT. */
const PART_BYTES = 8 * 1024 * 1024;
const DAMAGED_HINT =
  'the object was changed or damaged in the bucket: restore it from another copy, or rebuild the catalog without it (pgincr catalog rebuild)';
/** The object metadata key holding the file's SHA-256 (`x-amz-meta-pgincr-sha256`). */
const SHA256_META = 'pgincr-sha256';
/** An age-encrypted object's plaintext: its SHA-256 and size (checked after decrypting; sizes compared without a download). */
const PLAIN_SHA256_META = 'pgincr-plain-sha256';
const PLAIN_BYTES_META = 'pgincr-plain-bytes';

export interface StoredObject {
  /** Path relative to the repository root (the key without the prefix). */
  path: string;
  bytes: number;
  etag?: string;
  lastModified?: Date;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}

/** A conditional write that lost: the object changed (412), or another write to it is in progress (409). */
function isConditionLost(error: unknown): boolean {
  const status = statusOf(error);
  return status === 412 || status === 409;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A pass-through that hashes what flows through it (`digest()` once it ended). */
function hashingStream(): { stream: Transform; digest: () => string } {
  const hash = createHash('sha256');
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

export class ObjectStore {
  readonly client: S3Client;
  /** Client-side encryption of the chain files, when the repository is encrypted (chain-mirror.ts decides which files). */
  readonly cipher: AgeCipher | undefined;

  constructor(
    readonly location: ObjectStoreLocation,
    client?: S3Client,
  ) {
    const options: S3ClientConfig = {
      ...(location.endpoint ? { endpoint: location.endpoint } : {}),
      region: location.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(location.forcePathStyle !== undefined ? { forcePathStyle: location.forcePathStyle } : {}),
    };
    this.client = client ?? new (s3().S3Client)(options);
    this.cipher = location.encryption ? new AgeCipher(location.encryption) : undefined;
  }

  /** `s3://bucket/prefix/<path>`, for messages. */
  describe(path: string): string {
    return `${describeLocation(this.location)}/${path}`;
  }

  private key(path: string): string {
    return objectKey(this.location, path);
  }

  private fail(what: string, path: string, error: unknown): never {
    if (error instanceof PgincrError) throw error;
    const status = statusOf(error);
    const hint =
      status === 403 || (error as { name?: string }).name === 'CredentialsProviderError'
        ? 'the worker needs credentials from the AWS environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE with a shared credentials file, or an instance role) with access to the bucket'
        : 'check the repository endpoint, the bucket and the network';
    throw new ObjectStoreError(`${what} ${this.describe(path)} failed${status ? ` (HTTP ${status})` : ''}: ${(error as Error).message}`, {
      cause: error,
      hint,
    });
  }

  /**
   * Uploads a local file to `path` and checks it arrived whole: the SDK sends a SHA-256 of each
   * part (of the body for a single PUT) that the server checks; then the stored size, and for a
   * single PUT the server's SHA-256 of the object, must equal the file's. Returns the file's SHA-256.
   */
  async putFile(path: string, file: string, knownSha256?: string): Promise<{ sha256: string; bytes: number }> {
    const sha256 = knownSha256 ?? (await sha256OfFile(file));
    const { size } = await stat(file);
    try {
      const upload = new (lib().Upload)({
        client: this.client,
        params: {
          Bucket: this.location.bucket,
          Key: this.key(path),
          Body: createReadStream(file),
          ChecksumAlgorithm: 'SHA256',
          Metadata: { [SHA256_META]: sha256 },
        },
        partSize: PART_BYTES,
        queueSize: 2,
        leavePartsOnError: false,
      });
      await upload.done();
      const head = await this.client.send(new (s3().HeadObjectCommand)({ Bucket: this.location.bucket, Key: this.key(path), ChecksumMode: 'ENABLED' }));
      const whole = head.ChecksumSHA256 && !head.ChecksumSHA256.includes('-') ? Buffer.from(head.ChecksumSHA256, 'base64').toString('hex') : undefined;
      if (head.ContentLength !== size || head.Metadata?.[SHA256_META] !== sha256 || (whole !== undefined && whole !== sha256)) {
        throw new ObjectStoreError(
          `upload of ${file} to ${this.describe(path)} does not match: ${size} bytes sha256 ${sha256} sent, ` +
            `${head.ContentLength} bytes sha256 ${whole ?? head.Metadata?.[SHA256_META] ?? '(none)'} stored`,
          { hint: 'the upload is retried; if it keeps failing, check the S3 server (a proxy rewriting bodies?)' },
        );
      }
    } catch (error) {
      this.fail('upload to', path, error);
    }
    return { sha256, bytes: size };
  }

  /**
   * Encrypts a local file with `cipher` while uploading it to `path` (an age file; nothing of the
   * plaintext is written to disk or held whole in memory), then checks it arrived whole: each
   * part's SHA-256 is checked by the server, the stored size must be the age file's size, the
   * recorded plaintext SHA-256 the file's, and for a single PUT the server's SHA-256 of the
   * object the one of the bytes sent. Returns the plaintext's SHA-256 and size.
   */
  async putEncryptedFile(path: string, file: string, cipher: AgeCipher): Promise<{ sha256: string; bytes: number }> {
    const sha256 = await sha256OfFile(file);
    const { size } = await stat(file);
    try {
      const encrypted = await cipher.encrypt(createReadStream(file), size);
      const sent = hashingStream();
      encrypted.body.on('error', (error) => sent.stream.destroy(error));
      const upload = new (lib().Upload)({
        client: this.client,
        params: {
          Bucket: this.location.bucket,
          Key: this.key(path),
          Body: encrypted.body.pipe(sent.stream),
          ChecksumAlgorithm: 'SHA256',
          Metadata: { [PLAIN_SHA256_META]: sha256, [PLAIN_BYTES_META]: String(size) },
        },
        partSize: PART_BYTES,
        queueSize: 2,
        leavePartsOnError: false,
      });
      await upload.done();
      const digest = sent.digest();
      const head = await this.client.send(new (s3().HeadObjectCommand)({ Bucket: this.location.bucket, Key: this.key(path), ChecksumMode: 'ENABLED' }));
      const whole = head.ChecksumSHA256 && !head.ChecksumSHA256.includes('-') ? Buffer.from(head.ChecksumSHA256, 'base64').toString('hex') : undefined;
      if (head.ContentLength !== encrypted.bytes || head.Metadata?.[PLAIN_SHA256_META] !== sha256 || (whole !== undefined && whole !== digest)) {
        throw new ObjectStoreError(
          `encrypted upload of ${file} to ${this.describe(path)} does not match: ${encrypted.bytes} bytes sha256 ${digest} sent, ` +
            `${head.ContentLength} bytes sha256 ${whole ?? '(none)'} stored`,
          { hint: 'the upload is retried; if it keeps failing, check the S3 server (a proxy rewriting bodies?)' },
        );
      }
    } catch (error) {
      this.fail('upload to', path, error);
    }
    return { sha256, bytes: size };
  }

  /** The plaintext size an encrypted object recorded at upload (undefined when absent or not recorded). */
  async plainBytes(path: string): Promise<number | undefined> {
    try {
      const head = await this.client.send(new (s3().HeadObjectCommand)({ Bucket: this.location.bucket, Key: this.key(path) }));
      const recorded = head.Metadata?.[PLAIN_BYTES_META];
      return recorded !== undefined && /^\d+$/.test(recorded) ? Number(recorded) : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      this.fail('metadata of', path, error);
    }
  }

  /** The object's content as a stream; null when there is no such object. */
  async get(path: string): Promise<{ body: Readable; etag?: string; sha256?: string; plainSha256?: string; bytes?: number } | null> {
    try {
      const out = await this.client.send(new (s3().GetObjectCommand)({ Bucket: this.location.bucket, Key: this.key(path) }));
      const body = out.Body as Readable;
      return { body, etag: out.ETag, sha256: out.Metadata?.[SHA256_META], plainSha256: out.Metadata?.[PLAIN_SHA256_META], bytes: out.ContentLength };
    } catch (error) {
      if (isNotFound(error)) return null;
      this.fail('download of', path, error);
    }
  }

  /** The object's content as text with its ETag (for a conditional put after); null when absent. */
  async getText(path: string): Promise<{ text: string; etag?: string } | null> {
    const object = await this.get(path);
    if (!object) return null;
    const chunks: Buffer[] = [];
    for await (const chunk of object.body) chunks.push(chunk as Buffer);
    return { text: Buffer.concat(chunks).toString('utf8'), etag: object.etag };
  }

  /**
   * Downloads `path` into `file` (temp name, then rename, 0600), checking the SHA-256 the upload
   * recorded; throws naming both when they differ, leaving no file. Returns false when absent.
   * `decrypt`: the object is an age file, decrypted on the way (a wrong or missing key throws
   * before anything is written), its plaintext checked against the SHA-256 recorded at upload.
   */
  async downloadFile(path: string, file: string, options: { decrypt?: AgeCipher } = {}): Promise<boolean> {
    const object = await this.get(path);
    if (!object) return false;
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const temp = join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    const hashing = hashingStream();
    const want = options.decrypt ? object.plainSha256 : object.sha256;
    try {
      const source = options.decrypt ? await options.decrypt.decrypt(object.body, this.describe(path)) : object.body;
      await pipeline(source, hashing.stream, createWriteStream(temp, { mode: 0o600 }));
      const got = hashing.digest();
      if (want && got !== want) {
        throw new ObjectStoreError(
          `${this.describe(path)}: downloaded content does not match the checksum recorded at upload (sha256 ${got}${options.decrypt ? ' decrypted' : ''}, recorded ${want})`,
          {
            hint: DAMAGED_HINT,
          },
        );
      }
      await rename(temp, file);
      return true;
    } catch (error) {
      object.body.destroy();
      await rm(temp, { force: true });
      // The SDK checks the server's checksum header first (x-amz-checksum-sha256 of the upload).
      if (/checksum mismatch/i.test((error as Error).message)) {
        throw new ObjectStoreError(`${this.describe(path)}: downloaded content does not match the checksum recorded at upload (${(error as Error).message})`, {
          cause: error,
          hint: DAMAGED_HINT,
        });
      }
      if (options.decrypt && /invalid tag|final chunk|ciphertext|truncat|unexpected end/i.test((error as Error).message)) {
        // A payload chunk that fails its authentication tag: changed or truncated in the bucket.
        throw new ObjectStoreError(`${this.describe(path)}: the age file does not decrypt whole (${(error as Error).message})`, {
          cause: error,
          hint: DAMAGED_HINT,
        });
      }
      this.fail('download of', path, error);
    }
  }

  /** Every object under `dir` (a path relative to the repository root; '' for all), page by page. */
  async *list(dir: string, pageSize = 1000): AsyncGenerator<StoredObject> {
    const prefix = dir ? `${this.key(dir).replace(/\/$/, '')}/` : this.location.prefix ? `${this.location.prefix}/` : '';
    try {
      for await (const page of s3().paginateListObjectsV2({ client: this.client, pageSize }, { Bucket: this.location.bucket, Prefix: prefix })) {
        for (const o of page.Contents ?? []) {
          const path = o.Key ? relativeKey(this.location, o.Key) : null;
          if (path === null) continue;
          yield { path, bytes: o.Size ?? 0, ...(o.ETag ? { etag: o.ETag } : {}), ...(o.LastModified ? { lastModified: o.LastModified } : {}) };
        }
      }
    } catch (error) {
      this.fail('listing of', dir, error);
    }
  }

  /** The names of the folders directly under `dir` ('' for the repository root): one request per 1000, no recursion. */
  async folders(dir: string): Promise<string[]> {
    const prefix = dir ? `${this.key(dir).replace(/\/$/, '')}/` : this.location.prefix ? `${this.location.prefix}/` : '';
    const names: string[] = [];
    try {
      for await (const page of s3().paginateListObjectsV2({ client: this.client }, { Bucket: this.location.bucket, Prefix: prefix, Delimiter: '/' })) {
        for (const p of page.CommonPrefixes ?? []) if (p.Prefix) names.push(p.Prefix.slice(prefix.length).replace(/\/$/, ''));
      }
    } catch (error) {
      this.fail('listing of', dir, error);
    }
    return names;
  }

  async delete(path: string): Promise<void> {
    try {
      await this.client.send(new (s3().DeleteObjectCommand)({ Bucket: this.location.bucket, Key: this.key(path) }));
    } catch (error) {
      if (!isNotFound(error)) this.fail('delete of', path, error);
    }
  }

  /**
   * Writes `body` only if the object is still what the caller read: `etag` null means "only if
   * there is none" (If-None-Match: *), otherwise "only if its ETag is this one" (If-Match).
   * Returns the new ETag, or null when the condition failed (someone else wrote it first).
   */
  async putIf(path: string, body: string, etag: string | null): Promise<string | null> {
    try {
      const out = await this.client.send(
        new (s3().PutObjectCommand)({
          Bucket: this.location.bucket,
          Key: this.key(path),
          Body: body,
          ContentType: 'application/json',
          ChecksumAlgorithm: 'SHA256',
          ...(etag === null ? { IfNoneMatch: '*' } : { IfMatch: etag }),
        }),
      );
      return out.ETag ?? '';
    } catch (error) {
      if (isConditionLost(error)) return null;
      this.fail('conditional write of', path, error);
    }
  }
}

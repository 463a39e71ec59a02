/**
 * A real S3 server for tests: Versity's S3 gateway (versitygw, posix backend) on a free loopback
 * port, its data in a temp dir, one bucket created. Built by scripts/install-s3-server into
 * .tools/bin/versitygw ($PGINCR_VERSITYGW_BIN wins). Stop it in afterAll (a process exit hook
 * as a last resort).
 *
 *   const s3 = await startS3Server();  // s3.env: AWS_* for the SDK and child processes
 *   ...
 *   await s3.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../../src/adapters/net/free-port';
import { waitForValue } from './wait';

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** The gateway's data folder (`<dataDir>/<bucket>/<key>`: what it stores, byte for byte). */
  dataDir: string;
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION: the SDK's standard environment. */
  env: Record<string, string>;
  /** A client with the server's credentials (for tests that look into the bucket). */
  client: S3Client;
  /** Stops the server process, keeping its data and port: the bucket is unreachable until restart(). */
  outage(): Promise<void>;
  /** Starts it again on the same port and data (after an outage). */
  restart(): Promise<void>;
  /** Stops the server; `keepData` leaves the data folder (another server can serve it). */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

const ACCESS_KEY = 'pgincrtestaccess';
const SECRET_KEY = 'pgincr-test-secret-key-0123456789';
const REGION = 'us-east-1';

/** $PGINCR_VERSITYGW_BIN, else <repo>/.tools/bin/versitygw (scripts/install-s3-server). */
export function versitygwBin(): string {
  const bin = process.env.PGINCR_VERSITYGW_BIN ?? resolve(__dirname, '../../.tools/bin/versitygw');
  if (!existsSync(bin))
    throw new Error(
      `no S3 server for tests at ${bin}\nhint: run scripts/install-s3-server (builds versitygw v1.8.0 with go install), or set PGINCR_VERSITYGW_BIN`,
    );
  return bin;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startS3Server(options: { bucket?: string } = {}): Promise<S3TestServer> {
  const bucket = options.bucket ?? 'pgincr-test';
  const dataDir = mkdtempSync(join(tmpdir(), 'pgincr-s3-'));
  mkdirSync(join(dataDir, 'data'));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const log: string[] = [];
  let child: ChildProcess;
  let exited: number | null | undefined;
  let gone: Promise<void>;
  const spawnGateway = () => {
    exited = undefined;
    child = spawn(versitygwBin(), ['--access', ACCESS_KEY, '--secret', SECRET_KEY, '--port', `127.0.0.1:${port}`, '--quiet', 'posix', join(dataDir, 'data')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    const keep = (chunk: Buffer) => {
      log.push(chunk.toString());
      if (log.length > 50) log.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const self = child;
    gone = new Promise<void>((resolveGone) => self.once('exit', (code) => ((exited = code), running.delete(self), resolveGone())));
  };
  const env = { AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_REGION: REGION };
  const client = new S3Client({ endpoint, region: REGION, forcePathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
  // Ready when it answers a signed request: the bucket is created on the first that does.
  const ready = () =>
    waitForValue(
      `versitygw on ${endpoint} to answer for bucket ${bucket}`,
      async () => {
        if (exited !== undefined) throw new Error(`versitygw exited with ${exited}:\n${log.join('')}`);
        try {
          await client.send(new CreateBucketCommand({ Bucket: bucket }));
          return true;
        } catch (error) {
          if ((error as { name?: string }).name === 'BucketAlreadyOwnedByYou' || (error as { name?: string }).name === 'BucketAlreadyExists') return true;
          return undefined;
        }
      },
      30_000,
      100,
    );
  spawnGateway();
  await ready();
  const halt = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      await gone;
    }
  };
  return {
    endpoint,
    bucket,
    dataDir: join(dataDir, 'data'),
    env,
    client,
    async outage() {
      await halt();
    },
    async restart() {
      await halt();
      spawnGateway();
      await ready();
    },
    async stop({ keepData = false } = {}) {
      client.destroy();
      await halt();
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

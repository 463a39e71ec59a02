/**
 * Child process of the capture bench: runs one pgincr capture (runCapture, or runRawCapture
 * for decoder_raw) so its memory and CPU are measured on their own, from compiled JavaScript
 * (no ts-node, no test helpers in the heap). Talks to the parent over IPC:
 *   parent → child: `{ type: 'start', options }`, then `{ type: 'stop' }`
 *   child → parent: `{ type: 'heartbeat', lsn, txns }` (every 50 ms), then
 *                   `{ type: 'done', result, maxRssBytes, cpuMs }` or `{ type: 'failed', error }`
 */
import { readFileSync } from 'node:fs';
import { tuneHeapForCapture } from '../src/heap-tuning';
import { initDdlParser } from '../src/core/ddl/extract';
import { formatLsn, parseLsn } from '../src/core/lsn';
import { runCapture } from '../src/capture/capture-engine';
import { runRawCapture } from '../src/capture/raw/raw-capture';
import { createCaptureDeps } from '../src/capture/capture-deps';
import type { HeartbeatDetails } from '../src/capture/capture-types';
import type { Profile } from '../src/config';
import { connectProfile } from '../src/adapters/pg/connect';
import { pinSessionSettings, replicationSessionOptions } from '../src/adapters/pg/replication-session';
import { startReplication } from '../src/adapters/pg/replication-stream';
import type { ClientConfig } from 'pg';
import { ObjectStore } from '../src/adapters/s3/object-store';
import { pushChain } from '../src/adapters/s3/chain-mirror';
import type { ObjectStoreLocation } from '../src/core/repository/object-store';

export interface ChildOptions {
  profile: Profile;
  slot: string;
  publication: string;
  chainDir: string;
  /** The slot's starting point, as text (`0/16B3748`). */
  baseLsn: string;
  compress: 'gzip' | 'none';
  seal: boolean;
  /** `discard`: the protocol ceiling, a client that receives and acknowledges, writes nothing. */
  decoder: 'pgoutput' | 'decoder_raw' | 'discard';
  /** An S3 repository: sealed segments uploaded (and the slot acknowledged only past them), as the capture activity does. */
  objectStore?: ObjectStoreLocation;
  segmentMaxBytes?: number;
  segmentMaxAgeMs?: number;
}

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'heartbeat'; lsn: string; txns: number }
  | { type: 'done'; result: Awaited<ReturnType<typeof runCapture>>; maxRssBytes: number; cpuMs: number; memory: MemoryPeaks }
  | { type: 'failed'; error: string };

/** Peaks of process.memoryUsage() fields, sampled with the heartbeats (where the RSS goes). */
export type MemoryPeaks = { rssBefore: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };

function send(msg: ChildMessage): void {
  process.send?.(msg);
}

/**
 * The ceiling any client of the streaming protocol reaches on this machine: the same walsender
 * session (pinned settings, pgoutput, same options), every message received and counted, the
 * position acknowledged at every commit; nothing parsed beyond the first byte, nothing written.
 */
async function discard(o: ChildOptions, signal: AbortSignal, heartbeat: (lsn: bigint, txns: number) => void): Promise<Awaited<ReturnType<typeof runCapture>>> {
  const client = await connectProfile(o.profile, { replication: 'database', options: replicationSessionOptions() } as Partial<ClientConfig>);
  try {
    await pinSessionSettings(client, String(Object.values((await client.query('SHOW server_encoding')).rows[0] ?? {})[0]));
    const stream = await startReplication(client, {
      slot: o.slot,
      startLsn: parseLsn(o.baseLsn),
      publication: o.publication,
      messages: true,
      highWaterBytes: 1024 * 1024,
    });
    let txns = 0;
    let changes = 0;
    let lsn = 0n;
    const timer = setInterval(() => heartbeat(lsn, txns), 50);
    try {
      while (!signal.aborted) {
        const msg = stream.poll() ?? (await stream.nextWithin(200));
        if (msg === null) break;
        if (msg === undefined) continue;
        if (msg.kind === 'keepalive') {
          if (msg.replyRequested) stream.sendStatus({ write: lsn, flush: lsn, apply: lsn });
          continue;
        }
        const tag = msg.payload[0];
        if (tag === 0x49 || tag === 0x55 || tag === 0x44) changes++;
        else if (tag === 0x43 /* C */) {
          txns++;
          lsn = msg.payload.readBigUInt64BE(10); // end LSN
          stream.sendStatus({ write: lsn, flush: lsn, apply: lsn });
        }
      }
    } finally {
      clearInterval(timer);
      await stream.stop();
    }
    return { lastDurableLsn: '0/0', segmentsSealed: 0, transactions: txns, changes, bytes: 0 };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** cutime + cstime of this process (its waited-for children), in ms (Linux /proc, USER_HZ 100). */
function childrenCpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
  } catch {
    return 0;
  }
}

async function main(o: ChildOptions): Promise<void> {
  tuneHeapForCapture(); // as the worker does
  await initDdlParser(); // outside the timed part
  const controller = new AbortController();
  process.on('message', (m: { type?: string }) => {
    if (m.type === 'stop') controller.abort();
  });
  const store = o.objectStore ? new ObjectStore(o.objectStore) : undefined;
  const deps = createCaptureDeps({
    profile: o.profile,
    chainDir: o.chainDir,
    ...(store ? { upload: async (sealed: { file: string }) => void (await pushChain(store, o.chainDir, { only: [sealed.file] })) } : {}),
  });
  const run: typeof runCapture = o.decoder === 'decoder_raw' ? (d, i, c) => runRawCapture(d, i, c, { profile: o.profile, chainDir: o.chainDir }) : runCapture;
  const memory: MemoryPeaks = { rssBefore: process.memoryUsage().rss, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    for (const k of ['heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const) memory[k] = Math.max(memory[k], m[k]);
  };
  const cpu = process.cpuUsage();
  send({ type: 'ready' });
  const result =
    o.decoder === 'discard'
      ? await discard(o, controller.signal, (lsn, txns) => {
          sample();
          send({ type: 'heartbeat', lsn: formatLsn(lsn), txns });
        })
      : await run(
          deps,
          {
            slot: o.slot,
            publication: o.publication,
            lastDurableLsn: parseLsn(o.baseLsn),
            segmentMaxBytes: o.segmentMaxBytes ?? 64 * 1024 * 1024,
            segmentMaxAgeMs: o.segmentMaxAgeMs ?? 15 * 60_000,
            runForMs: 24 * 3600_000,
            heartbeatEveryMs: 50,
            statusEveryMs: 10_000,
            sequenceEveryMs: 0,
            idleMessageEveryMs: 0,
            sealOnExit: o.seal,
            compress: o.compress,
            ddlInFunction: 'fail',
          },
          {
            heartbeat: (d: HeartbeatDetails) => {
              sample();
              send({ type: 'heartbeat', lsn: d.lastDurableLsn, txns: d.txns });
            },
            signal: controller.signal,
            rotateRequested: () => false,
            now: () => Date.now(),
          },
        );
  const used = process.cpuUsage(cpu);
  // Plus the CPU of its finished children (the gzip processes of sealed segments).
  const cpuMs = (used.user + used.system) / 1000 + childrenCpuMs();
  send({ type: 'done', result, maxRssBytes: process.resourceUsage().maxRSS * 1024, cpuMs, memory });
}

process.once('message', (m: { type: string; options: ChildOptions }) => {
  main(m.options).then(
    () => process.disconnect?.(),
    (err: unknown) => {
      send({ type: 'failed', error: (err as Error).stack ?? String(err) });
      process.disconnect?.();
    },
  );
});

/**
 * The capture engine's acknowledgement policy end to end, without a server: CaptureRun reads
 * pgoutput messages from a fake stream, writes a real segment file in a temporary chain folder,
 * and its fsync is the writer's own until the test makes one fail. Every flush position the fake
 * stream receives is checked, when it is sent, against what fsyncs that completed covered
 * (docs/design.md invariant 2).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import { CaptureRun } from '../../../src/capture/capture-engine';
import { RelationCache } from '../../../src/capture/relation-cache';
import { SegmentWriter, type HeaderFields } from '../../../src/adapters/fs/segment-writer';
import type { ReplicationMessage, StandbyStatus } from '../../../src/adapters/pg/replication-messages';
import type { CaptureDeps, CaptureInput, CaptureStream, SourceSession } from '../../../src/capture/capture-types';
import { eio, FakeClock, settle } from './fakes';

/** pgoutput payloads as the walsender writes them. */
const pgoutput = {
  relation(id: number, table: string): Buffer {
    const name = (s: string) => Buffer.from(`${s}\0`, 'latin1');
    const head = Buffer.alloc(5);
    head[0] = 0x52; // R
    head.writeUInt32BE(id, 1);
    const cols = Buffer.alloc(3);
    cols[0] = 0x64; // replica identity d
    cols.writeInt16BE(1, 1);
    const col = Buffer.alloc(8);
    col.writeUInt32BE(23, 0); // int4
    col.writeInt32BE(-1, 4);
    return Buffer.concat([head, name('public'), name(table), cols, Buffer.from([1]), name('id'), col]);
  },
  begin(finalLsn: bigint, xid: number): Buffer {
    const b = Buffer.alloc(21);
    b[0] = 0x42; // B
    b.writeBigUInt64BE(finalLsn, 1);
    b.writeBigInt64BE(848_152_800_000_000n, 9);
    b.writeUInt32BE(xid, 17);
    return b;
  },
  insert(relationId: number, value: string): Buffer {
    const head = Buffer.alloc(8);
    head[0] = 0x49; // I
    head.writeUInt32BE(relationId, 1);
    head[5] = 0x4e; // N
    head.writeInt16BE(1, 6);
    const len = Buffer.alloc(5);
    len[0] = 0x74; // t
    len.writeInt32BE(value.length, 1);
    return Buffer.concat([head, len, Buffer.from(value, 'latin1')]);
  },
  commit(commitLsn: bigint, endLsn: bigint): Buffer {
    const b = Buffer.alloc(26);
    b[0] = 0x43; // C
    b.writeBigUInt64BE(commitLsn, 2);
    b.writeBigUInt64BE(endLsn, 10);
    b.writeBigInt64BE(848_152_800_000_000n, 18);
    return b;
  },
};

const xlog = (payload: Buffer): ReplicationMessage => ({ kind: 'xlog', walStart: 0n, walEnd: 0n, sendTime: 0n, payload });

/** One read of the socket: what happens first (an fsync completing or failing), then the messages it brought. */
interface Batch {
  before?: () => void;
  messages: Buffer[];
}

/**
 * A stream fed by a script: `poll` hands out the current batch; when it is drained, waiting for
 * the next lets the disk finish (the real fsyncs in flight) and the event loop run (their
 * completions land), moves the fake clock on and loads the next batch. At the end of the
 * script the run is asked to stop.
 */
class FakeStream implements CaptureStream {
  private queue: Buffer[] = [];
  readonly statuses: StandbyStatus[] = [];
  constructor(
    private readonly batches: Batch[],
    private readonly clock: FakeClock,
    private readonly disk: () => Promise<unknown>,
    private readonly onStatus: (status: StandbyStatus) => void,
    private readonly onEnd: () => void,
  ) {}
  poll(): ReplicationMessage | undefined {
    const next = this.queue.shift();
    return next ? xlog(next) : undefined;
  }
  async nextWithin(ms: number): Promise<ReplicationMessage | undefined> {
    if (this.queue.length > 0) return this.poll();
    await this.disk();
    await settle();
    const batch = this.batches.shift();
    if (!batch) {
      this.onEnd();
      return undefined;
    }
    batch.before?.();
    await settle();
    this.clock.advance(Math.min(ms, 100));
    this.queue.push(...batch.messages);
    return this.poll();
  }
  hasQueued(): boolean {
    return this.queue.length > 0;
  }
  sendStatus(status: StandbyStatus): void {
    this.onStatus(status);
    this.statuses.push(status);
  }
  async stop(): Promise<boolean> {
    return true;
  }
}

const fields: HeaderFields = {
  systemIdentifier: '7312000000000000001',
  database: 'app',
  serverVersion: 'PostgreSQL 15.20',
  encoding: 'UTF8',
  slot: 'pgincr',
  decoder: 'pgoutput',
  timeline: 1,
};

const input: CaptureInput = {
  slot: 'pgincr',
  publication: 'pgincr',
  segmentMaxBytes: 1 << 30,
  segmentMaxAgeMs: 3600_000,
  runForMs: 3600_000,
  heartbeatEveryMs: 0,
  sequenceEveryMs: 0,
  idleMessageEveryMs: 0,
  compress: 'none',
  ddlInFunction: 'fail',
};

let chain: string;
beforeEach(async () => {
  chain = await mkdtemp(join(tmpdir(), 'pgincr-capture-run-'));
});
afterEach(async () => {
  await rm(chain, { recursive: true, force: true });
});

/**
 * Runs the script. `failFsync(n)` makes the writer's n-th fsync (1-based) wait for `release`,
 * then fail with EIO; the others are the writer's real fsync. Returns what the run did.
 */
async function runScript(startLsn: bigint, script: (fsync: { release: () => void }) => Batch[], failFsync?: number) {
  const clock = new FakeClock();
  const writer = await SegmentWriter.open(chain, fields, startLsn);
  const realSync = writer.sync.bind(writer);
  let calls = 0;
  let durable = startLsn; // what fsyncs that completed cover
  let release: () => void = () => undefined;
  let disk: Promise<unknown> = Promise.resolve();
  const released = new Promise<void>((resolve) => (release = resolve));
  writer.sync = async () => {
    calls += 1;
    const covers = writer.stats().lastEndLsn;
    if (calls === failFsync) {
      await released;
      throw eio();
    }
    const syncing = realSync();
    disk = syncing.catch(() => undefined);
    const lsn = await syncing;
    if (covers > durable) durable = covers;
    return lsn;
  };
  const violations: string[] = [];
  const controller = new AbortController();
  const stream = new FakeStream(
    script({ release: () => release() }),
    clock,
    () => disk,
    (status) => {
      if (status.flush > durable) violations.push(`flush ${status.flush} sent while only ${durable} is durable`);
      if (status.write !== status.flush || status.apply !== status.flush) violations.push('write/apply differ from flush');
    },
    () => controller.abort(),
  );
  const source: SourceSession = {
    client: {} as Client,
    replication: {} as Client,
    header: fields,
    factsLookup: async () => ({ identityAlways: new Set(), generated: new Set(), partitioned: false }),
    server: 'host=fake',
    abort: () => undefined,
    close: async () => undefined,
  };
  const deps = { clock, log: undefined } as unknown as CaptureDeps;
  const control = { heartbeat: () => undefined, signal: controller.signal, rotateRequested: () => false, now: () => clock.now() };
  const run = new CaptureRun(deps, input, control, source, writer, stream, new RelationCache(source.factsLookup), startLsn);
  run.sendStatus();
  const outcome = await run.loop().then(
    () => 'stopped',
    (error: unknown) => error,
  );
  await run.close();
  return { outcome, statuses: stream.statuses.map((s) => s.flush), violations, calls, file: await readFile(writer.resume.path, 'latin1') };
}

test('fsyncs that succeed: each transaction is acknowledged once durable, up to the last commit', async () => {
  const r = await runScript(0x1000n, () => [
    { messages: [pgoutput.relation(1, 't'), pgoutput.begin(0x1100n, 10), pgoutput.insert(1, '1'), pgoutput.commit(0x1100n, 0x1110n)] },
    { messages: [pgoutput.begin(0x1200n, 11), pgoutput.insert(1, '2'), pgoutput.commit(0x1200n, 0x1210n)] },
    { messages: [] },
  ]);
  expect(r.outcome).toBe('stopped');
  expect(r.violations).toEqual([]);
  expect(r.statuses).toEqual([0x1000n, 0x1110n, 0x1210n]);
  expect(r.file).toMatch(/INSERT INTO public\.t \(id\) VALUES \('2'\);\nCOMMIT; -- xid 11 end_lsn 0\/1210/);
});

test('a failed fsync: the run fails with its error, and no status ever confirms past the last durable commit', async () => {
  const r = await runScript(
    0x1000n,
    ({ release }) => [
      // xid 10 is written and fsynced (fsync 1); xid 11 is written, and its fsync (2) hangs...
      { messages: [pgoutput.relation(1, 't'), pgoutput.begin(0x1100n, 10), pgoutput.insert(1, '1'), pgoutput.commit(0x1100n, 0x1110n)] },
      { messages: [pgoutput.begin(0x1200n, 11), pgoutput.insert(1, '2'), pgoutput.commit(0x1200n, 0x1210n)] },
      // ...while a transaction with nothing to write begins...
      { messages: [pgoutput.begin(0x1300n, 12)] },
      // ...then fails, before that transaction's commit arrives: 0x1310 must not be acknowledged,
      // it is past xid 11, which never became durable.
      { before: release, messages: [pgoutput.commit(0x1300n, 0x1310n)] },
      { messages: [pgoutput.begin(0x1400n, 13), pgoutput.insert(1, '4'), pgoutput.commit(0x1400n, 0x1410n)] },
    ],
    2,
  );
  expect(r.outcome).toMatchObject({ code: 'EIO' });
  expect(r.violations).toEqual([]);
  expect(r.statuses).toEqual([0x1000n, 0x1110n]);
  expect(r.calls).toBe(2); // nothing fsynced (or acknowledged) after the failure
});

test('a failed fsync under a keepalive: the keepalive position is not acknowledged either', async () => {
  const keepalive: ReplicationMessage = { kind: 'keepalive', walEnd: 0x9000n, sendTime: 0n, replyRequested: true };
  const clock = new FakeClock();
  const writer = await SegmentWriter.open(chain, fields, 0x1000n);
  writer.sync = async () => {
    throw eio();
  };
  const sent: bigint[] = [];
  const messages: ReplicationMessage[] = [
    xlog(pgoutput.relation(1, 't')),
    xlog(pgoutput.begin(0x1100n, 10)),
    xlog(pgoutput.insert(1, '1')),
    xlog(pgoutput.commit(0x1100n, 0x1110n)),
  ];
  let waits = 0;
  const stream: CaptureStream = {
    poll: () => messages.shift(),
    nextWithin: async () => {
      await settle();
      waits += 1;
      return waits === 1 ? keepalive : undefined;
    },
    hasQueued: () => messages.length > 0,
    sendStatus: (s) => sent.push(s.flush),
    stop: async () => true,
  };
  const source = {
    header: fields,
    factsLookup: async () => ({ identityAlways: new Set<string>(), generated: new Set<string>(), partitioned: false }),
  } as unknown as SourceSession;
  const control = { heartbeat: () => undefined, signal: new AbortController().signal, rotateRequested: () => false, now: () => clock.now() };
  const run = new CaptureRun({ clock } as unknown as CaptureDeps, input, control, source, writer, stream, new RelationCache(source.factsLookup), 0x1000n);
  await expect(run.loop()).rejects.toMatchObject({ code: 'EIO' });
  await run.close();
  expect(sent).toEqual([]); // neither 0x1110 (never durable) nor the keepalive's 0x9000
});

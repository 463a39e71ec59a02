/**
 * The replication socket's framer, driven with synthetic reads: CopyData handed over in place,
 * every other frame forwarded byte-exact and in order, frames cut at any byte reassembled,
 * pass-through when the stream ends. Plus the Node guarantee zero copy rests on: every socket
 * read is a fresh buffer.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { BackendFrameDemux } from '../../../src/adapters/pg/replication-frames';
import { parseCopyData } from '../../../src/adapters/pg/replication-messages';

function frame(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

function xlog(payload: string): Buffer {
  const header = Buffer.alloc(25);
  header[0] = 0x77;
  header.writeBigUInt64BE(0x10n, 1);
  header.writeBigUInt64BE(0x20n, 9);
  return frame('d', Buffer.concat([header, Buffer.from(payload, 'latin1')]));
}

/** What a START_REPLICATION session looks like on the wire, with every kind of frame. */
const frames: Buffer[] = [
  frame('W', Buffer.from([0, 0, 0])), // CopyBothResponse
  xlog('B-begin'),
  xlog(''), // empty payload
  frame('d', Buffer.concat([Buffer.from([0x6b]), Buffer.alloc(17)])), // keepalive
  frame('N', Buffer.from('SNOTICE\0Mhello\0\0', 'latin1')),
  xlog('I'.repeat(40)),
  frame('c', Buffer.alloc(0)), // CopyDone: a frame of exactly the header's 5 bytes
  frame('C', Buffer.from('START_STREAMING\0', 'latin1')),
  frame('Z', Buffer.from('I', 'latin1')),
];
const wire = Buffer.concat(frames);

type Event = { copy: string } | { forward: string };

/** Runs `reads` through a demux; consecutive forwards merged (only their bytes and order matter). */
function run(reads: Buffer[]): Event[] {
  const events: Event[] = [];
  const demux = new BackendFrameDemux(
    (chunk, start, end) => events.push({ copy: chunk.toString('hex', start, end) }),
    (bytes) => {
      const last = events[events.length - 1];
      if (last && 'forward' in last) last.forward += bytes.toString('hex');
      else events.push({ forward: bytes.toString('hex') });
    },
  );
  for (const read of reads) demux.push(read);
  if (demux.hasPartial()) events.push({ forward: 'left a partial frame' });
  return events;
}

/** Copies, so a test never passes if the framer kept a reference to memory it should not. */
function cut(points: number[]): Buffer[] {
  const bounds = [0, ...points, wire.length];
  return bounds.slice(1).map((end, i) => Buffer.from(wire.subarray(bounds[i], end)));
}

const expected = run([wire]);

test('whole reads: CopyData payloads in place, other frames forwarded byte-exact, in order', () => {
  const hex = (b: Buffer) => b.toString('hex');
  expect(expected).toEqual([
    { forward: hex(frames[0]!) },
    { copy: hex(frames[1]!.subarray(5)) },
    { copy: hex(frames[2]!.subarray(5)) },
    { copy: hex(frames[3]!.subarray(5)) },
    { forward: hex(frames[4]!) },
    { copy: hex(frames[5]!.subarray(5)) },
    { forward: hex(Buffer.concat(frames.slice(6))) },
  ]);
});

/** The cuts whose events differ from the uncut read's (compared as JSON: tens of thousands of runs). */
function mismatches(cuts: number[][]): Array<{ cut: number[]; events: Event[] }> {
  const want = JSON.stringify(expected);
  return cuts.map((c) => ({ cut: c, events: run(cut(c)) })).filter((r) => JSON.stringify(r.events) !== want);
}

test('a read cut at every byte boundary gives the same events', () => {
  const cuts = Array.from({ length: wire.length - 1 }, (_, i) => [i + 1]);
  expect(mismatches(cuts)).toEqual([]);
});

test('reads cut at every pair of boundaries, and one byte per read, give the same events', () => {
  const cuts: number[][] = [Array.from({ length: wire.length - 1 }, (_, i) => i + 1)];
  for (let i = 1; i < wire.length; i++) for (let j = i + 1; j < wire.length; j++) cuts.push([i, j]);
  expect(mismatches(cuts).slice(0, 3)).toEqual([]);
});

test('zero copy: a whole frame is handed over inside the read; a cut one in its own buffer', () => {
  const seen: Buffer[] = [];
  const demux = new BackendFrameDemux(
    (chunk) => seen.push(chunk),
    () => undefined,
  );
  const read = Buffer.alloc(wire.length); // never from the shared pool: its own ArrayBuffer
  wire.copy(read);
  demux.push(read.subarray(0, 20)); // ends inside the first XLogData
  demux.push(read.subarray(20));
  expect(seen[0]).not.toBe(read);
  expect(seen[0]!.buffer).not.toBe(read.buffer);
  expect(seen[1]!.buffer).toBe(read.buffer);
  // The parsed message's payload is a view, and its header is read on demand.
  const msg = parseCopyData(read.subarray(5 + frames[0]!.length, frames[0]!.length + frames[1]!.length));
  if (msg.kind !== 'xlog') throw new Error('not xlog');
  expect(msg.payload.buffer).toBe(read.buffer);
  expect([msg.payload.toString('latin1'), msg.walStart, msg.walEnd, msg.sendTime]).toEqual(['B-begin', 0x10n, 0x20n, 0n]);
});

test('passThrough: the partial frame, the rest of the read and every later read go to forward, unchanged', () => {
  for (let i = 1; i < wire.length; i++) {
    // Stop at the first CopyData handed over (from its callback, as a failing parse would)...
    const forwarded: Buffer[] = [];
    let copies = 0;
    const demux: BackendFrameDemux = new BackendFrameDemux(
      () => {
        copies++;
        demux.passThrough();
      },
      (bytes) => forwarded.push(Buffer.from(bytes)),
    );
    for (const read of cut([i])) demux.push(read);
    expect(copies).toBe(1);
    const afterFirstCopy = frames[0]!.length + frames[1]!.length;
    expect(Buffer.concat(forwarded).toString('hex')).toBe(Buffer.concat([frames[0]!, wire.subarray(afterFirstCopy)]).toString('hex'));

    // ...or between reads, with part of a frame pending.
    const later: Buffer[] = [];
    const idle = new BackendFrameDemux(
      () => undefined,
      (bytes) => later.push(Buffer.from(bytes)),
    );
    const [first, second] = cut([i]);
    idle.push(first!);
    const before = Buffer.concat(later).length;
    idle.passThrough();
    idle.push(second!);
    let lastWhole = 0; // where the frame cut by `i` starts
    for (const f of frames)
      if (lastWhole + f.length <= i) lastWhole += f.length;
      else break;
    expect(Buffer.concat(later).subarray(before).toString('hex')).toBe(wire.subarray(lastWhole).toString('hex'));
  }
});

test('a length below 4 is a protocol error (the stream is out of step)', () => {
  const demux = new BackendFrameDemux(
    () => undefined,
    () => undefined,
  );
  expect(() => demux.push(Buffer.from([0x64, 0, 0, 0, 3, 0]))).toThrow(/length 3 \(< 4\)/);
});

test('Node gives every socket read a fresh buffer (what zero-copy payloads rely on)', async () => {
  // Many small writes, read without consuming: if Node reused its read buffer, the retained
  // reads would be overwritten and their concatenation would not match what was sent.
  const sent = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < sent.length; i += 4) sent.writeUInt32BE(i, i);
  const server = createServer((socket: Socket) => {
    let off = 0;
    const write = () => {
      while (off < sent.length) {
        const n = 1 + ((off * 7919) % 9000);
        const ok = socket.write(sent.subarray(off, off + n));
        off += n;
        if (!ok) return void socket.once('drain', write);
      }
      socket.end();
    };
    write();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const reads: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    client.on('data', (chunk: Buffer) => reads.push(chunk));
    client.on('end', resolve);
    client.on('error', reject);
  });
  server.close();
  expect(reads.length).toBeGreaterThan(10);
  expect(new Set(reads.map((r) => r.buffer)).size).toBe(reads.length);
  expect(Buffer.concat(reads).equals(sent)).toBe(true);
});

/**
 * Group commit and the acknowledgement rule (docs/design.md invariant 2): written → durable →
 * acknowledged, driven with a fake clock, an fsync the test completes or fails, and a fake
 * stream that records every flush position sent.
 */
import fc from 'fast-check';
import { GroupCommit } from '../../../src/capture/group-commit';
import { eio, FakeClock, FakeFsync, settle } from './fakes';

function setup(options: { durable?: bigint; confirmed?: bigint; maxUnsynced?: number; offsite?: bigint } = {}) {
  const clock = new FakeClock();
  const sent: bigint[] = []; // the fake stream: flush positions in the order sent
  const fsync = new FakeFsync((): bigint => gc.written);
  const gc: GroupCommit = new GroupCommit({
    fsync: fsync.fsync,
    acknowledge: (lsn) => sent.push(lsn),
    clock,
    durableLsn: options.durable ?? 100n,
    confirmedLsn: options.confirmed ?? 100n,
    maxUnsynced: options.maxUnsynced,
    ...(options.offsite !== undefined ? { offsiteLsn: options.offsite } : {}),
  });
  return { clock, sent, fsync, gc };
}

test('written is acknowledged only once an fsync that started after it completed', async () => {
  const { sent, fsync, gc } = setup();
  gc.wrote(200n);
  expect(gc.due(true)).toBe(false); // more messages waiting: keep writing
  expect(gc.due(false)).toBe(true);
  void gc.syncInBackground();
  expect(fsync.started).toBe(1);
  await settle();
  expect(sent).toEqual([]); // fsync still running
  expect(gc.confirmed).toBe(100n);
  fsync.complete();
  await settle();
  expect(sent).toEqual([200n]);
  expect([gc.durable, gc.confirmed]).toEqual([200n, 200n]);
});

test('one fsync covers what was written before it started; later writes wait for the next one', async () => {
  const { clock, sent, fsync, gc } = setup();
  gc.wrote(200n);
  gc.wrote(300n);
  void gc.syncInBackground();
  gc.wrote(400n); // while the fsync runs
  void gc.syncInBackground(); // the running one does not cover it, and the next waits for it
  expect(fsync.started).toBe(1);
  clock.advance(60); // past the minimum gap
  fsync.complete(0);
  await settle();
  expect(sent).toEqual([300n]); // not 400: written after the fsync started
  expect(fsync.started).toBe(2); // started for what was written meanwhile
  expect(fsync.covered).toEqual([300n, 400n]);
  fsync.complete(1);
  await settle();
  expect(sent).toEqual([300n, 400n]);
});

test('fsyncs start at least minGapMs apart (on the injected clock)', async () => {
  const { clock, sent, fsync, gc } = setup();
  gc.wrote(200n);
  void gc.syncInBackground();
  fsync.complete();
  await settle();
  gc.wrote(300n);
  void gc.syncInBackground();
  expect(fsync.started).toBe(1); // due in 50 ms
  expect(gc.busy()).toBe(true);
  clock.advance(49);
  expect(fsync.started).toBe(1);
  clock.advance(1);
  expect(fsync.started).toBe(2);
  fsync.complete();
  await settle();
  expect(sent).toEqual([200n, 300n]);
});

test('a failed fsync stops acknowledgement for good: every later step throws its error', async () => {
  const { clock, sent, fsync, gc } = setup();
  gc.wrote(200n);
  void gc.syncInBackground();
  fsync.complete();
  await settle();
  gc.wrote(300n);
  clock.advance(100);
  void gc.syncInBackground();
  const error = eio();
  fsync.fail(error);
  await settle();
  expect(() => gc.throwIfFailed()).toThrow(error);
  expect(() => gc.wrote(400n)).toThrow(error);
  expect(() => gc.syncInBackground()).toThrow(error);
  expect(() => gc.nothingToWrite(500n)).toThrow(error); // an empty transaction after it
  expect(() => gc.skipped()).toThrow(error);
  await expect(gc.keepalive(900n, true, true)).rejects.toBe(error); // an idle keepalive far ahead
  await expect(gc.syncNow()).rejects.toBe(error);
  expect(sent).toEqual([200n]);
  expect(gc.confirmed).toBe(200n);
  expect(fsync.started).toBe(2); // nothing retried the fsync
});

test('an fsync failing while a timer has the next one due: the timer starts nothing', async () => {
  const { clock, sent, fsync, gc } = setup();
  gc.wrote(200n);
  void gc.syncInBackground();
  gc.wrote(300n);
  fsync.fail(eio());
  await settle();
  clock.advance(1000);
  expect(fsync.started).toBe(1);
  expect(sent).toEqual([]);
});

test('syncNow: waits for the fsync in flight, fsyncs the rest, acknowledges; its failure is final too', async () => {
  const { sent, fsync, gc } = setup();
  gc.wrote(200n);
  void gc.syncInBackground();
  gc.wrote(300n);
  const now = gc.syncNow();
  await settle();
  expect(fsync.started).toBe(1);
  fsync.complete(0);
  await settle();
  expect(fsync.started).toBe(2); // syncNow's own, without waiting for the gap
  fsync.complete(1);
  await now;
  expect(sent).toEqual([200n, 300n]);

  gc.wrote(400n);
  const failing = gc.syncNow();
  await settle();
  fsync.fail(eio());
  await expect(failing).rejects.toThrow(/EIO/);
  expect(() => gc.nothingToWrite(500n)).toThrow(/EIO/);
  expect(sent).toEqual([200n, 300n]);
});

test('keepalives: idle, walEnd is acknowledged; with writes pending or a transaction open, only what is durable', async () => {
  const { sent, fsync, gc } = setup();
  await gc.keepalive(150n, true, false);
  expect(sent).toEqual([150n]); // nothing pending and no transaction open: nothing before it to write
  await gc.keepalive(170n, false, false); // a transaction is open: its changes are before walEnd
  expect(sent).toEqual([150n]);
  await gc.keepalive(170n, false, true); // a reply requested: the same position again
  expect(sent).toEqual([150n, 150n]);
  gc.wrote(200n);
  await gc.keepalive(900n, true, true); // written, not durable: starts the group commit
  expect(fsync.started).toBe(1);
  expect(sent).toEqual([150n, 150n, 150n]);
  fsync.complete();
  await settle();
  expect(sent.at(-1)).toBe(200n);
});

test('an empty transaction is durable at once only when nothing written waits for an fsync', async () => {
  const { sent, fsync, gc } = setup();
  gc.nothingToWrite(150n);
  expect(sent).toEqual([150n]);
  gc.wrote(200n);
  void gc.syncInBackground();
  gc.nothingToWrite(250n); // after 200, which is not durable yet
  expect(sent).toEqual([150n]);
  fsync.complete();
  await settle();
  expect(sent).toEqual([150n, 200n]); // the fsync covered 200; 250 is written (nothing) after it started
  expect(gc.written).toBe(250n);
});

test('back-pressure: maxUnsynced written during a running fsync makes the caller wait for it', async () => {
  const { clock, fsync, gc } = setup({ maxUnsynced: 3 });
  gc.wrote(200n);
  void gc.syncInBackground();
  for (const lsn of [300n, 400n, 500n]) gc.wrote(lsn);
  expect(gc.due(true)).toBe(true);
  let waited = false;
  const wait = gc.syncInBackground()!.then(() => (waited = true));
  await settle();
  expect(waited).toBe(false);
  clock.advance(60); // past the minimum gap
  fsync.complete(0);
  await wait;
  expect(fsync.started).toBe(2);
});

test('property: whatever the order of writes, fsync outcomes, keepalives and time, no flush position passes a write that is not durable', async () => {
  type Kind = 'write' | 'empty' | 'sync' | 'idleKeepalive' | 'busyKeepalive' | 'tick' | 'complete' | 'fail' | 'syncNow';
  const kinds: Kind[] = [
    'write',
    'write',
    'write',
    'empty',
    'sync',
    'sync',
    'idleKeepalive',
    'busyKeepalive',
    'tick',
    'complete',
    'complete',
    'fail',
    'syncNow',
  ];
  const steps = fc.array(fc.record({ kind: fc.constantFrom(...kinds), n: fc.integer({ min: 0, max: 120 }) }), { maxLength: 50 });
  await fc.assert(
    fc.asyncProperty(steps, async (script) => {
      const clock = new FakeClock();
      const written: bigint[] = [];
      const completed = new Set<number>();
      let failed = false;
      let confirmedAtFailure: bigint | null = null;
      let highest = 100n; // the highest position the model has seen (write, empty transaction, idle keepalive)
      const violations: string[] = [];
      const fsync = new FakeFsync((): bigint => gc.written);
      const sent: bigint[] = [];
      const gc: GroupCommit = new GroupCommit({
        fsync: fsync.fsync,
        clock,
        durableLsn: 100n,
        confirmedLsn: 100n,
        maxUnsynced: 3,
        acknowledge: (flush) => {
          // Checked when sent: what fsyncs that completed cover, at this moment.
          let durable = 100n;
          for (const i of completed) if (fsync.covered[i]! > durable) durable = fsync.covered[i]!;
          const undurable = written.find((w) => w > durable && w <= flush);
          if (undurable !== undefined) violations.push(`flush ${flush} passes ${undurable}, written and not durable (durable ${durable})`);
          if (flush > highest) violations.push(`flush ${flush} is past everything seen (${highest})`);
          if (confirmedAtFailure !== null && flush > confirmedAtFailure)
            violations.push(`flush ${flush} sent after a failed fsync (confirmed ${confirmedAtFailure})`);
          sent.push(flush);
        },
      });
      const background: Array<Promise<unknown>> = [];
      const later = (p: Promise<unknown> | undefined) => {
        if (p) background.push(p.catch((e: unknown) => expect(String(e)).toMatch(/EIO/)));
      };
      let lsn = 100n;
      for (const { kind, n } of script) {
        try {
          if (kind === 'write') {
            lsn += 10n;
            written.push(lsn);
            gc.wrote(lsn);
            highest = lsn;
          } else if (kind === 'empty') {
            lsn += 10n;
            highest = lsn;
            gc.nothingToWrite(lsn);
          } else if (kind === 'sync') later(gc.syncInBackground());
          else if (kind === 'idleKeepalive') {
            lsn += 1n; // nothing before it remains to be written
            highest = lsn;
            later(gc.keepalive(lsn, true, n % 2 === 0));
          } else if (kind === 'busyKeepalive')
            later(gc.keepalive(lsn + 5n, false, n % 2 === 0)); // a transaction is open
          else if (kind === 'tick') clock.advance(n);
          else if (kind === 'syncNow') later(gc.syncNow());
          else {
            const i = fsync.calls.findIndex((_, k) => !completed.has(k)); // the one in flight
            if (i >= 0) {
              if (kind === 'complete' || failed) {
                completed.add(i);
                fsync.complete(i);
              } else {
                failed = true;
                confirmedAtFailure = gc.confirmed;
                completed.add(i); // settled (not durable): never picked again
                fsync.covered[i] = 0n;
                fsync.fail(eio(), i);
              }
            }
          }
        } catch (error) {
          if (!failed) violations.push(`threw without a failed fsync: ${String(error)}`);
        }
        await settle();
      }
      // Let everything pending complete: still nothing may pass a write that is not durable.
      for (let i = 0; i < fsync.calls.length; i++) {
        if (!completed.has(i)) {
          completed.add(i);
          fsync.complete(i);
        }
        await settle();
      }
      await Promise.all(background);
      expect(violations).toEqual([]);
      if (!failed && written.length > 0 && fsync.calls.length > 0) expect(sent.length).toBeGreaterThan(0);
    }),
    { numRuns: 300 },
  );
});

describe('with an object-store repository', () => {
  test('durable is acknowledged only up to what the bucket holds; an upload moves it', async () => {
    const { sent, fsync, gc } = setup({ offsite: 100n });
    gc.wrote(200n);
    void gc.syncInBackground();
    fsync.complete();
    await settle();
    expect([gc.durable, gc.confirmed]).toEqual([200n, 100n]); // durable on this disk only
    await gc.keepalive(900n, true, false); // idle: still not past the bucket while 100..200 is only here
    expect(gc.confirmed).toBe(100n);
    gc.offsiteHolds(200n); // the segment ending at 200 is uploaded and verified
    expect(sent.at(-1)).toBe(200n);
    await gc.keepalive(900n, true, false); // nothing left only on this disk: the idle rule applies again
    expect(gc.confirmed).toBe(900n);
  });

  test('a run resuming an open segment acknowledges nothing past the bucket, whatever it was told', () => {
    const { gc } = setup({ durable: 500n, confirmed: 600n, offsite: 300n });
    expect(gc.confirmed).toBe(300n);
    gc.resend();
  });

  test('property: the acknowledged position never passes the bucket while durable data is only local', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.constant('write'), fc.constant('upload'), fc.constant('idle')), { maxLength: 30 }), async (steps) => {
        const { sent, fsync, gc } = setup({ offsite: 100n });
        let next = 100n;
        let uploaded = 100n;
        const written: bigint[] = [];
        let checked = 0;
        for (const step of steps) {
          if (step === 'write') {
            next += 10n;
            written.push(next);
            gc.wrote(next);
            void gc.syncInBackground();
            fsync.complete(fsync.started - 1);
            await settle();
          } else if (step === 'upload') {
            uploaded = gc.durable;
            gc.offsiteHolds(uploaded);
          } else await gc.keepalive(next + 5n, true, false);
          // Every transaction at or before a position sent was in the bucket when it was sent.
          for (const lsn of sent.slice(checked)) expect(written.filter((w) => w <= lsn && w > uploaded)).toEqual([]);
          checked = sent.length;
        }
      }),
      { numRuns: 50 },
    );
  });
});

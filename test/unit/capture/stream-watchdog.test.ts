import { livenessVerdict, StreamWatchdog } from '../../../src/capture/stream-watchdog';
import { PgincrError } from '../../../src/errors';

describe('livenessVerdict', () => {
  it('pings once after half the timeout and gives up at the timeout', () => {
    expect(livenessVerdict(1000, 4000, false)).toBe('alive');
    expect(livenessVerdict(2000, 4000, false)).toBe('ping');
    expect(livenessVerdict(3000, 4000, true)).toBe('alive');
    expect(livenessVerdict(4000, 4000, true)).toBe('dead');
    expect(livenessVerdict(4000, 4000, false)).toBe('dead');
  });
});

describe('StreamWatchdog', () => {
  function rig() {
    const state = { now: 0, receivedAtMs: 0, heldBack: false, pings: 0, aborted: 0 };
    const dog = new StreamWatchdog({
      timeoutMs: 4000,
      now: () => state.now,
      liveness: () => ({ receivedAtMs: state.receivedAtMs, heldBack: state.heldBack }),
      ping: () => void state.pings++,
      abort: () => void state.aborted++,
      deadError: (silentMs) => new PgincrError('receive_timeout', `silent ${silentMs}`),
    });
    return { state, dog };
  }

  it('a server that answers the ping stays alive', () => {
    const { state, dog } = rig();
    state.now = 2500;
    dog.check();
    expect(state.pings).toBe(1);
    state.receivedAtMs = 2600; // the walsender's keepalive
    state.now = 4500;
    dog.check();
    expect(state.pings).toBe(1);
    state.now = 5000; // half the timeout since the answer: a new ping
    dog.check();
    expect(state.pings).toBe(2);
    expect(dog.error).toBeNull();
    expect(state.aborted).toBe(0);
  });

  it('silence past the timeout destroys the connections and keeps the error', () => {
    const { state, dog } = rig();
    state.now = 2000;
    dog.check();
    state.now = 4100;
    dog.check();
    expect(dog.error?.message).toBe('silent 4100');
    expect(state.aborted).toBe(1);
    state.now = 9000;
    dog.check();
    expect(state.aborted).toBe(1);
  });

  it('silence while we hold the socket back (backpressure) is not counted', () => {
    const { state, dog } = rig();
    state.heldBack = true;
    state.now = 60_000;
    dog.check();
    expect(state.pings).toBe(0);
    expect(dog.error).toBeNull();
  });
});

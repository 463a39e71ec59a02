import { InFlight } from '../../src/restore/in-flight';

describe('InFlight', () => {
  it('runs steps one after another and settles when they are done', async () => {
    const f = new InFlight();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    f.then(async () => {
      await gate;
      log.push('a');
    });
    f.then(async () => {
      log.push('b');
    });
    expect(log).toEqual([]);
    release();
    await f.settle();
    expect(log).toEqual(['a', 'b']);
    await f.settle(); // nothing in flight
  });

  it('keeps a failure until settle, skips the steps after it, and drains without throwing', async () => {
    const f = new InFlight();
    const ran: string[] = [];
    f.then(async () => {
      throw new Error('batch 1 failed');
    });
    f.then(async () => {
      ran.push('after');
    });
    await new Promise((r) => setImmediate(r)); // no unhandled rejection meanwhile
    await expect(f.settle()).rejects.toThrow('batch 1 failed');
    expect(ran).toEqual([]);
    f.then(() => Promise.reject(null));
    await expect(f.settle()).rejects.toThrow('step failed without an error');
    f.then(async () => {
      throw new Error('x');
    });
    await f.drain();
    await f.settle();
  });
});

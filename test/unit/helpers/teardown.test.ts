import { teardown, teardownTimeout } from '../../helpers/teardown';

describe('teardown', () => {
  it('runs every step in order when one throws, then throws naming it', async () => {
    const ran: string[] = [];
    const done = teardown([
      ['stop workload', () => ran.push('workload')],
      [
        'close rig',
        () => {
          ran.push('rig');
          throw new Error('connection refused');
        },
      ],
      ['stop cluster', async () => ran.push('cluster')],
    ]);
    await expect(done).rejects.toThrow(/1 of 3 steps failed[^]*close rig: connection refused/);
    expect(ran).toEqual(['workload', 'rig', 'cluster']);
  });

  it('goes on to the next step when one hangs, after its bound', async () => {
    const ran: string[] = [];
    const started = Date.now();
    const done = teardown(
      [
        ['stop workload', () => new Promise(() => undefined)], // never settles
        ['stop cluster', () => ran.push('cluster')],
      ],
      200,
    );
    await expect(done).rejects.toThrow(/stop workload: still running after 200 ms/);
    expect(ran).toEqual(['cluster']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('resolves when every step does, waiting for each before the next', async () => {
    const ran: string[] = [];
    await teardown([
      ['a', () => new Promise((r) => setTimeout(() => r(ran.push('a')), 30))],
      ['b', () => ran.push('b')],
    ]);
    expect(ran).toEqual(['a', 'b']);
  });

  it('gives afterAll room for every bounded step', () => {
    expect(teardownTimeout(4, 20_000)).toBeGreaterThan(4 * 20_000);
  });
});

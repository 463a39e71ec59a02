import { restoreInput } from '../../../src/workflows/inputs';

describe('restore input: the target database name', () => {
  it.each(['host=127.0.0.1 port=1 dbname=x', 'postgresql://evil/x', '-X', '--help', `it's a "quoted" \\ name`, 'zoë ☃', 'x'.repeat(63), 'é'.repeat(31)])(
    'takes %j as a name (it is passed on as data)',
    (targetDb) => {
      expect(restoreInput.parse({ profile: 'app', targetDb }).targetDb).toBe(targetDb);
    },
  );

  it.each([
    ['', />=1 characters/],
    ['a\0b', /cannot contain a NUL character/],
    ['x'.repeat(64), /at most 63 bytes/],
    ['é'.repeat(32), /at most 63 bytes/], // 32 characters, 64 bytes: PostgreSQL would cut it
  ])('refuses %j, saying why', (targetDb, message) => {
    const result = restoreInput.safeParse({ profile: 'app', targetDb });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['targetDb']);
    expect(result.error?.issues[0]?.message).toMatch(message);
  });
});

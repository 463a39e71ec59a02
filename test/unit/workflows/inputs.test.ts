import { restoreInput, verifyInput } from '../../../src/workflows/inputs';

describe('restore input', () => {
  it('leaves an unset target profile unset (the workflow then uses the source profile)', () => {
    expect(restoreInput.parse({ profile: 'app', targetDb: 'dst' }).targetProfile).toBeUndefined();
    expect(verifyInput.parse({ profile: 'app' }).targetProfile).toBeUndefined();
    expect(restoreInput.parse({ profile: 'app', targetProfile: 'scratch', targetDb: 'dst' }).targetProfile).toBe('scratch');
  });

  it.each([
    ['2026-11-27 14:00:00+00', '2026-11-27T14:00:00.000000Z'],
    ['2026-12-06 08:02:05.123456+00', '2026-12-06T08:02:05.123456Z'],
    ['2026-12-06T08:02:05.123456Z', '2026-12-06T08:02:05.123456Z'],
    ['2026-12-06 13:32:05.5+05:30', '2026-12-06T08:02:05.500000Z'],
    ['2026-12-06 03:02:05-05', '2026-12-06T08:02:05.000000Z'],
    ['2026-12-06T10:02:05.123456789+02:00', '2026-12-06T08:02:05.123456Z'],
  ])('takes the time %s as the instant %s (UTC, microseconds kept)', (text, canonical) => {
    const parsed = restoreInput.parse({ profile: 'app', targetDb: 'dst', target: { kind: 'time', time: text } });
    expect(parsed.target).toEqual({ kind: 'time', time: canonical, inclusive: true });
  });

  it('refuses a time without a zone, with a hint naming one', () => {
    const result = restoreInput.safeParse({ profile: 'app', targetDb: 'dst', target: { kind: 'time', time: '2026-11-27 14:00:00' } });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['target', 'time']);
    expect(result.error?.issues[0]?.message).toMatch(/no time zone; add one, like '2026-11-27 14:00:00\+00' for UTC/);
  });
});

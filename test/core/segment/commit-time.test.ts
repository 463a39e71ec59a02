import fc from 'fast-check';
import { normalizeTime, normalizeTimeSlow, renderPgTime } from '../../../src/core/segment/commit-time';

const two = (n: number) => String(n).padStart(2, '0');

describe('normalizeTime', () => {
  it('normalizes offsets and refuses times without one', () => {
    expect(normalizeTime('2026-11-27 14:00:00.123456+00')).toBe('2026-11-27T14:00:00.123456Z');
    expect(normalizeTime('2026-11-27T16:00:00+02:00')).toBe('2026-11-27T14:00:00.000000Z');
    expect(() => normalizeTime('2026-11-27 14:00:00')).toThrow(/with an offset/);
  });

  it('its fast path (canonical and UTC forms on a day seen valid) equals the full parse, invalid days included', () => {
    const time = fc
      .record({
        year: fc.constantFrom(2024, 2025, 2026),
        month: fc.integer({ min: 1, max: 12 }),
        day: fc.constantFrom(1, 28, 29, 30, 31),
        h: fc.integer({ min: 0, max: 23 }),
        mi: fc.integer({ min: 0, max: 59 }),
        s: fc.integer({ min: 0, max: 59 }),
        us: fc.integer({ min: 0, max: 999_999 }),
        pg: fc.boolean(),
      })
      .map((t) => {
        const day = `${t.year}-${two(t.month)}-${two(t.day)}`;
        const clock = `${two(t.h)}:${two(t.mi)}:${two(t.s)}.${String(t.us).padStart(6, '0')}`;
        return t.pg ? `${day} ${clock}+00` : `${day}T${clock}Z`;
      });
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 30 }), (texts) => {
        for (const text of texts) {
          expect(normalizeTime(text)).toBe(normalizeTimeSlow(text));
          expect(renderPgTime(text)).toBe(renderPgTime(normalizeTimeSlow(text)));
        }
      }),
      { numRuns: 300 },
    );
    // A day that does not exist is never taken as valid: February 30 rolls over as before.
    normalizeTime('2026-02-28T00:00:00.000000Z');
    expect(normalizeTime('2026-02-30T00:00:00.000000Z')).toBe('2026-03-02T00:00:00.000000Z');
  });
});

describe('normalizeTime: the forms PostgreSQL prints and DBAs write', () => {
  it.each([
    ['2026-11-27 14:00:00+00', '2026-11-27T14:00:00.000000Z'],
    ['2026-11-27 14:00:00 UTC', '2026-11-27T14:00:00.000000Z'],
    ['2026-11-27 19:30:00.000001+05:30', '2026-11-27T14:00:00.000001Z'],
    ['2026-11-27 09:00:00-05', '2026-11-27T14:00:00.000000Z'],
    ['1890-01-01 00:53:28+00:53:28', '1890-01-01T00:00:00.000000Z'],
  ])('%s is %s', (text, canonical) => {
    expect(normalizeTime(text)).toBe(canonical);
  });

  it('says what is missing when the zone is', () => {
    expect(() => normalizeTime('2026-11-27T14:00:00.123')).toThrow(/hint: this time has no time zone; add one, like '2026-11-27T14:00:00.123\+00'/);
    expect(() => normalizeTime('yesterday')).toThrow(/hint: write it as PostgreSQL prints a timestamptz/);
  });
});

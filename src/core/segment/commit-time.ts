/**
 * Commit times. PostgreSQL keeps timestamps in microseconds; a JS `Date` keeps milliseconds.
 * So commit times travel as strings in one canonical form, `2026-11-27T14:00:00.123456Z`
 * (UTC, always six fraction digits), which sorts lexicographically in time order, and are
 * compared as microsecond bigints. Segments show them the way `psql` does with
 * `TimeZone = 'UTC'`: `2026-11-27 14:00:00.123456+00`.
 */

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)$/i;

/** The same shape without a zone: refused, with a hint (its meaning depends on a zone we cannot know). */
const NO_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/i;

const PG_TIME = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})\.(\d{6})\+00$/;

/** `Z`, `UTC`, `+05`, `+05:30`, `-0530`, `+00:53:28` (PostgreSQL prints seconds for old local mean times). */
function offsetSeconds(offset: string): number {
  if (/^(z|utc)$/i.test(offset)) return 0;
  const sign = offset.startsWith('-') ? -1 : 1;
  const digits = offset.slice(1).replace(/:/g, '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
  const seconds = digits.length > 4 ? Number(digits.slice(4, 6)) : 0;
  return sign * (hours * 3600 + minutes * 60 + seconds);
}

/**
 * Normalizes a time with an explicit offset into the canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ`:
 * ISO 8601 and PostgreSQL's own timestamptz output (`2026-11-27 14:00:00.123456+00`), date and
 * time separated by `T` or a space, the zone as `Z`, `UTC`, `+02`, `+02:00`, `-0530` or
 * `+00:53:28`. Fractions beyond microseconds are truncated.
 * A time without an offset is refused: its meaning would depend on a time zone we cannot know.
 */
export function normalizeTime(text: string): string {
  // The capture normalizes every commit time, twice per transaction: the canonical form and
  // PostgreSQL's UTC form of a day already seen valid go without a Date.
  const fast = fastNormalize(text);
  if (fast !== null) return fast;
  const out = normalizeTimeSlow(text);
  if (out.endsWith('Z') && (out === text || pgForm(out) === text)) validDay.value = out.slice(0, 10);
  return out;
}

/** The last calendar day (`YYYY-MM-DD`) that normalizeTime found valid. */
const validDay = { value: '' };

const CANONICAL_SHAPE = /^\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z$/;
const PG_UTC_SHAPE = /^\d{4}-\d\d-\d\d (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}\+00$/;

function pgForm(canonical: string): string {
  return `${canonical.slice(0, 10)} ${canonical.slice(11, 19)}.${canonical.slice(20, 26)}+00`;
}

function fastNormalize(text: string): string | null {
  if (validDay.value === '') return null;
  if (text.length === 27 && text.startsWith(validDay.value) && CANONICAL_SHAPE.test(text)) return text;
  if (text.length === 29 && text.startsWith(validDay.value) && PG_UTC_SHAPE.test(text)) return `${text.slice(0, 10)}T${text.slice(11, 26)}Z`;
  return null;
}

/** normalizeTime without the fast path (exported for the test that holds the two equal). */
export function normalizeTimeSlow(text: string): string {
  const m = ISO_TIME.exec(text.trim());
  if (!m) {
    const hint = NO_ZONE.test(text.trim())
      ? `this time has no time zone; add one, like '${text.trim()}+00' for UTC (or +02, +05:30, Z)`
      : `write it as PostgreSQL prints a timestamptz, like '2026-11-27 14:00:00+00' or 2026-11-27T14:00:00.123456Z`;
    throw new Error(`invalid time ${JSON.stringify(text)}: expected a date and time with an offset\nhint: ${hint}`);
  }
  const [, y, mo, d, h, mi, s, frac, off] = m as unknown as string[];
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? '0'));
  const shifted = new Date(ms - offsetSeconds(off as string) * 1000);
  if (Number.isNaN(shifted.getTime())) throw new Error(`invalid time ${JSON.stringify(text)}`);
  const seconds = shifted.toISOString().slice(0, 19);
  const micros = (frac ?? '').padEnd(6, '0').slice(0, 6);
  return `${seconds}.${micros}Z`;
}

/** Microseconds since the Unix epoch, for ordering and arithmetic. */
export function timeToMicros(text: string): bigint {
  const canonical = normalizeTime(text);
  const ms = Date.parse(`${canonical.slice(0, 19)}Z`);
  return BigInt(ms) * 1000n + BigInt(canonical.slice(20, 26));
}

/** Milliseconds since the Unix epoch (fraction below a millisecond dropped). */
export function timeToMs(text: string): number {
  return Number(timeToMicros(text) / 1000n);
}

/** Canonical time → the segment's `2026-11-27 14:00:00.123456+00`. */
export function renderPgTime(text: string): string {
  return pgForm(normalizeTime(text));
}

/** The segment's `2026-11-27 14:00:00.123456+00` → canonical; `null` if it is not that shape. */
export function parsePgTime(text: string): string | null {
  const m = PG_TIME.exec(text);
  if (!m) return null;
  return `${m[1]}T${m[2]}.${m[3]}Z`;
}

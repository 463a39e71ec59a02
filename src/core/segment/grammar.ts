/**
 * Segment format v1: the line grammar (docs/architecture.md "Segment format v1").
 *
 * ```
 * -- pgincr segment v1
 * -- system_identifier: 7312…  database: app  server: PostgreSQL 15.20  encoding: UTF8
 * -- slot: pgincr  decoder: pgoutput  start_lsn: 0/16B3748  timeline: 1
 * SET client_encoding = 'UTF8';
 * SET standard_conforming_strings = on;
 * SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET lc_monetary = 'C';
 * SET extra_float_digits = 3; SET bytea_output = 'hex'; SET search_path = '';
 *                                                  ← blank line, then per transaction:
 * BEGIN; -- xid 1234 commit_lsn 0/16B37A0 committed 2026-11-27 14:00:00.123456+00
 * INSERT INTO public.users (id, name) VALUES ('1', 'Alice');
 * COMMIT; -- xid 1234 end_lsn 0/16B37D8 changes 1
 *                                                  ← blank line, then the footer (sealed only):
 * -- end of segment: transactions 1  changes 1  last_end_lsn 0/16B37D8  body_sha256 <64 hex>
 * ```
 * Every transaction is preceded by one blank line (rendered by {@link renderBegin}); the footer
 * too (written by the segment writer as part of the body). `body_sha256` covers every byte
 * before the footer line. All strings here are byte strings (one char per byte, latin1).
 */
import { formatLsn, parseLsn, type Lsn } from '../lsn';
import { parsePgTime, renderPgTime } from './commit-time';

/** What the header says about the segment. `serverVersion` is shown as given (e.g. `PostgreSQL 15.20`). */
export interface SegmentHeader {
  systemIdentifier: string;
  database: string;
  serverVersion: string;
  encoding: string;
  slot: string;
  decoder: string;
  startLsn: Lsn;
  timeline: number;
}

/** The BEGIN marker: xid, commit LSN, commit time (ISO with offset; canonical when parsed). */
export interface BeginMeta {
  xid: number;
  commitLsn: Lsn;
  commitTime: string;
}

/** The COMMIT marker: xid (must equal the BEGIN's), end LSN, number of changes rendered. */
export interface CommitMeta {
  xid: number;
  endLsn: Lsn;
  changes: number;
}

/** The footer of a sealed segment. */
export interface SegmentFooter {
  transactions: number;
  changes: number;
  lastEndLsn: Lsn;
  bodySha256: string;
}

export const FORMAT_LINE = '-- pgincr segment v1';
export const BEGIN_PREFIX = 'BEGIN; -- xid ';
export const COMMIT_PREFIX = 'COMMIT; -- xid ';
export const FOOTER_PREFIX = '-- end of segment: ';
/** Lines in a header: the format line, two comment lines, four SET lines. */
export const HEADER_LINES = 7;

const PLAIN_NAME = /^[^\s"]+$/;
const LSN = '([0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8})';
const HEADER_LINE_2 = /^-- system_identifier: (\d+) {2}database: ("(?:[^"]|"")*"|[^\s"]+) {2}server: (.*) {2}encoding: ([A-Za-z0-9_]+)$/;
const HEADER_LINE_3 = new RegExp(`^-- slot: (\\S+) {2}decoder: (\\S+) {2}start_lsn: ${LSN} {2}timeline: (\\d+)$`);
const BEGIN_LINE = new RegExp(`^BEGIN; -- xid (\\d+) commit_lsn ${LSN} committed (\\S+ \\S+)$`);
const COMMIT_LINE = new RegExp(`^COMMIT; -- xid (\\d+) end_lsn ${LSN} changes (\\d+)$`);
const FOOTER_LINE = new RegExp(`^-- end of segment: transactions (\\d+) {2}changes (\\d+) {2}last_end_lsn ${LSN} {2}body_sha256 ([0-9a-f]{64})$`);

function refuseLineBreaks(field: string, value: string): void {
  if (/[\r\n]/.test(value)) throw new Error(`segment header field ${field} contains a line break: ${JSON.stringify(value)}`);
}

/** A database name as shown in the header: bare when plain, else a double-quoted identifier. */
function renderDatabase(name: string): string {
  return PLAIN_NAME.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

function parseDatabase(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replace(/""/g, '"') : text;
}

/** Renders the seven header lines (each ending in `\n`). */
export function renderSegmentHeader(h: SegmentHeader): string {
  for (const [k, v] of Object.entries(h)) if (typeof v === 'string') refuseLineBreaks(k, v);
  if (!/^[A-Za-z0-9_]+$/.test(h.encoding)) throw new Error(`invalid encoding name ${JSON.stringify(h.encoding)}`);
  if (!/^\d+$/.test(h.systemIdentifier)) throw new Error(`invalid system identifier ${JSON.stringify(h.systemIdentifier)}`);
  return [
    FORMAT_LINE,
    `-- system_identifier: ${h.systemIdentifier}  database: ${renderDatabase(h.database)}  server: ${h.serverVersion}  encoding: ${h.encoding}`,
    `-- slot: ${h.slot}  decoder: ${h.decoder}  start_lsn: ${formatLsn(h.startLsn)}  timeline: ${h.timeline}`,
    `SET client_encoding = '${h.encoding}';`,
    'SET standard_conforming_strings = on;',
    "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET lc_monetary = 'C';",
    "SET extra_float_digits = 3; SET bytea_output = 'hex'; SET search_path = '';",
    '',
  ].join('\n');
}

/**
 * Parses the header from its seven lines (without their `\n`). Returns a reason string when
 * a line does not match, so the caller can name the offset.
 */
export function parseHeaderLines(lines: readonly string[]): SegmentHeader | { problem: string; line: number } {
  if (lines[0] !== FORMAT_LINE) return { problem: `expected "${FORMAT_LINE}"`, line: 0 };
  const a = HEADER_LINE_2.exec(lines[1] ?? '');
  if (!a) return { problem: 'malformed header line 2 (system_identifier, database, server, encoding)', line: 1 };
  const b = HEADER_LINE_3.exec(lines[2] ?? '');
  if (!b) return { problem: 'malformed header line 3 (slot, decoder, start_lsn, timeline)', line: 2 };
  for (let i = 3; i < HEADER_LINES; i++) {
    if (!(lines[i] ?? '').startsWith('SET ')) return { problem: `expected a SET line in the header`, line: i };
  }
  return {
    systemIdentifier: a[1] as string,
    database: parseDatabase(a[2] as string),
    serverVersion: a[3] as string,
    encoding: a[4] as string,
    slot: b[1] as string,
    decoder: b[2] as string,
    startLsn: parseLsn(b[3] as string),
    timeline: Number(b[4]),
  };
}

/** Parses a header from the start of a segment (a byte string or its first bytes). */
export function parseHeader(text: string): SegmentHeader {
  const lines = text.split('\n').slice(0, HEADER_LINES);
  const parsed = parseHeaderLines(lines);
  if ('problem' in parsed) throw new Error(`segment header: ${parsed.problem} on line ${parsed.line + 1}`);
  return parsed;
}

/** A blank line, then the BEGIN marker line. */
export function renderBegin(m: BeginMeta): string {
  return `\n${BEGIN_PREFIX}${m.xid} commit_lsn ${formatLsn(m.commitLsn)} committed ${renderPgTime(m.commitTime)}\n`;
}

/** The COMMIT marker line. */
export function renderCommit(m: CommitMeta): string {
  return `${COMMIT_PREFIX}${m.xid} end_lsn ${formatLsn(m.endLsn)} changes ${m.changes}\n`;
}

/** The footer line (the blank line before it belongs to the body). */
export function renderFooter(f: SegmentFooter): string {
  return `${FOOTER_PREFIX}transactions ${f.transactions}  changes ${f.changes}  ` + `last_end_lsn ${formatLsn(f.lastEndLsn)}  body_sha256 ${f.bodySha256}\n`;
}

/** Parses a BEGIN marker line (without `\n`); `null` when malformed. */
export function parseBeginLine(line: string): BeginMeta | null {
  const m = BEGIN_LINE.exec(line);
  const time = m ? parsePgTime(m[3] as string) : null;
  if (!m || !time) return null;
  return { xid: Number(m[1]), commitLsn: parseLsn(m[2] as string), commitTime: time };
}

/** Parses a COMMIT marker line (without `\n`); `null` when malformed. */
export function parseCommitLine(line: string): CommitMeta | null {
  const m = COMMIT_LINE.exec(line);
  if (!m) return null;
  return { xid: Number(m[1]), endLsn: parseLsn(m[2] as string), changes: Number(m[3]) };
}

/** Parses the footer line (without `\n`); `null` when malformed. */
export function parseFooterLine(line: string): SegmentFooter | null {
  const m = FOOTER_LINE.exec(line);
  if (!m) return null;
  return {
    transactions: Number(m[1]),
    changes: Number(m[2]),
    lastEndLsn: parseLsn(m[3] as string),
    bodySha256: m[4] as string,
  };
}

/**
 * True when a rendered statement would put a transaction marker or footer at a line start,
 * which the grammar forbids (values never hold raw line breaks, so this means a bug upstream).
 */
export function containsMarker(statement: string): boolean {
  for (const prefix of [BEGIN_PREFIX, COMMIT_PREFIX, FOOTER_PREFIX]) {
    if (statement.startsWith(prefix) || statement.includes(`\n${prefix}`)) return true;
  }
  return false;
}

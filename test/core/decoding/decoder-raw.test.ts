/**
 * decoder_raw output (captured from pg_recvlogical + decoder_raw 07b0e94 on PostgreSQL 15.20)
 * → transactions → repaired statements; one case per measured fault.
 */
import { parseRawStatement, parseRawText, splitRawMessages } from '../../../src/core/decoding/decoder-raw';
import { lowestMarkerLsn, rawPositions, repairRawTransaction, type RawFactsLookup, type RawTableFacts } from '../../../src/core/decoding/decoder-raw-repair';
import { DdlOrdinals } from '../../../src/core/ddl/extract';
import type { CaptureContext } from '../../../src/core/sql/capture-tables';

const ctx = (): CaptureContext => ({ ordinals: new DdlOrdinals(), ddlInFunction: 'fail' });
const facts =
  (table: Record<string, Partial<RawTableFacts>>): RawFactsLookup =>
  (schema, name) => {
    const f = table[`${schema}.${name}`];
    return f ? { replicaIdentity: 'd', identityAlways: [], generated: [], partitioned: false, ...f } : undefined;
  };
const marker = (xid: string, lsn = '0/1A2B3C0') =>
  `INSERT INTO pgincr.raw_transactions (xid, lsn, at) VALUES ('${xid}', '${lsn}', '2026-11-27 16:00:00.123456+00');\n`;

function repairAll(raw: string, lookup: RawFactsLookup) {
  return parseRawText(raw).transactions.map((t) => repairRawTransaction(t, lookup, ctx()));
}

describe('decoder_raw parsing', () => {
  it('splits messages on ;\\n outside quotes only (values hold raw newlines, ; and COMMIT;)', () => {
    const raw = "BEGIN;\nINSERT INTO public.pk_t (id, v) VALUES (1, 'it''s\nmulti;\nCOMMIT;\nline \\ back');\nCOMMIT;\n";
    const msgs = splitRawMessages(raw).map((m) => m.text);
    expect(msgs).toHaveLength(3);
    const parsed = parseRawStatement(msgs[1] as string);
    expect(parsed).toEqual({
      kind: 'insert',
      schema: 'public',
      table: 'pk_t',
      values: [
        { column: 'id', value: { kind: 'text', value: '1' } },
        { column: 'v', value: { kind: 'text', value: "it's\nmulti;\nCOMMIT;\nline \\ back" } },
      ],
    });
  });

  it("reads print_literal forms as text output forms: true→t, B'101'→101, quoted NaN, bare numbers, null", () => {
    const s = parseRawStatement(`INSERT INTO "My ""S"."T" (bo, bits, n, f, i, x) VALUES (true, B'101', 'NaN', 1e-07, -12, null)`);
    expect(s).toMatchObject({ schema: 'My "S', table: 'T' });
    expect(s.kind === 'insert' && s.values.map((v) => v.value)).toEqual([
      { kind: 'text', value: 't' },
      { kind: 'text', value: '101' },
      { kind: 'text', value: 'NaN' },
      { kind: 'text', value: '1e-07' },
      { kind: 'text', value: '-12' },
      { kind: 'null' },
    ]);
  });

  it('refuses an unchanged TOAST value printed where a value is needed', () => {
    expect(() => parseRawStatement('UPDATE public.t SET n = 2 WHERE id = unchanged-toast-datum')).toThrow(/unchanged TOAST value/);
  });

  it('keeps whole transactions only: a torn one (restart) is dropped, a trailing open one is not complete', () => {
    const raw =
      'BEGIN;\nINSERT INTO public.a (x) VALUES (1);\nBEGIN;\nINSERT INTO public.a (x) VALUES (2);\nCOMMIT;\nBEGIN;\nINSERT INTO public.a (x) VALUES (3);\n';
    const r = parseRawText(raw);
    expect(r.tornTransactions).toBe(1);
    expect(r.transactions).toHaveLength(1);
    expect(r.completeLength).toBe(raw.indexOf('COMMIT;\n') + 'COMMIT;\n'.length);
  });

  it('refuses a statement outside a transaction (include_transaction off)', () => {
    expect(() => parseRawText('INSERT INTO public.a (x) VALUES (1);\n')).toThrow(/include_transaction=on/);
    expect(() => parseRawText('INSERT INTO public.a (x) VALUES (1);\nBEGIN;\n', { remainderAllowed: true })).toThrow(/include_transaction=on/);
  });

  it('at the start of pending files, skips the rest of a transaction begun in a deleted file (a rotation inside it)', () => {
    const rest = "INSERT INTO public.a (x) VALUES ('1;\nCOMMIT;\n');\nCOMMIT;\n";
    const raw = `${rest}BEGIN;\n${marker('7')}INSERT INTO public.a (x) VALUES (2);\nCOMMIT;\nBEGIN;\n`;
    expect(() => parseRawText(raw)).toThrow(/outside a transaction/);
    const r = parseRawText(raw, { remainderAllowed: true });
    expect(r.transactions).toHaveLength(1);
    expect(r.transactions[0]?.statements).toHaveLength(2);
    expect(r.completeLength).toBe(raw.length - 'BEGIN;\n'.length);
    // Its end not here yet: nothing is complete (the window grows).
    expect(parseRawText(rest.slice(0, 30), { remainderAllowed: true }).completeLength).toBe(0);
    expect(parseRawText('COMMIT;\n', { remainderAllowed: true })).toEqual({ transactions: [], completeLength: 8, tornTransactions: 0 });
  });

  it('parses megabytes of long literals quickly (a backlog is processed at tens of MB/s)', () => {
    const row = (i: number) => `INSERT INTO public.big (id, v) VALUES (${i}, '${"ab''c\n;".repeat(300)}');\n`;
    const raw = `BEGIN;\n${Array.from({ length: 2000 }, (_, i) => row(i)).join('')}COMMIT;\n`;
    const started = Date.now();
    const r = parseRawText(raw);
    const ms = Date.now() - started;
    expect(r.transactions[0]?.statements).toHaveLength(2000);
    expect(r.transactions[0]?.statements[5]).toMatchObject({ values: [{ value: { value: '5' } }, { value: { value: "ab'c\n;".repeat(300) } }] });
    expect(raw.length).toBeGreaterThan(4_000_000);
    expect(ms).toBeLessThan(1500); // was ~1.3 s per 4 MB with a char-by-char scanner
  });
});

describe('decoder_raw repair', () => {
  it("drops decoder_raw's empty BEGIN; COMMIT; and its own BEGIN/COMMIT lines", () => {
    const raw = `BEGIN;\nCOMMIT;\nBEGIN;\n${marker('740')}INSERT INTO public.nopk (x) VALUES (1);\nCOMMIT;\n`;
    const out = repairAll(raw, facts({ 'public.nopk': { replicaIdentity: 'f' } }));
    expect(out[0]!.statements).toEqual([]);
    expect(out[1]).toEqual({
      xid: 740,
      firstWriteLsn: 0x1a2b3c0n,
      time: '2026-11-27T16:00:00.123456+00:00',
      statements: ["INSERT INTO public.nopk (x) VALUES ('1');\n"],
    });
    expect(out[1]!.statements.join('')).not.toMatch(/^(BEGIN|COMMIT);$/m);
  });

  // Captured with REPLICA IDENTITY FULL and two identical rows.
  const FULL = `BEGIN;
${marker('741')}UPDATE public.full_t SET a = 2, b = null, j = '{"a": 1}', bo = true WHERE a = 1 AND b = null AND j = '{"a": 1}' AND bo = true;
UPDATE public.full_t SET a = 2, b = null, j = '{"a": 1}', bo = true WHERE a = 1 AND b = null AND j = '{"a": 1}' AND bo = true;
DELETE FROM public.full_t WHERE a = 2 AND b = null AND j = '{"a": 1}' AND bo = true;
COMMIT;
`;

  it('FULL: NULL compared with IS NULL, json by its text, one row per change among identical rows', () => {
    const [t] = repairAll(FULL, facts({ 'public.full_t': { replicaIdentity: 'f' } }));
    const where = `ctid = (SELECT ctid FROM ONLY public.full_t WHERE format('%s', a) = '1' AND b IS NULL AND format('%s', j) = '{"a": 1}' AND format('%s', bo) = 't' LIMIT 1)`;
    expect(t!.statements[0]).toBe(`UPDATE ONLY public.full_t SET a = '2' WHERE ${where};\n`);
    expect(t!.statements[1]).toBe(t!.statements[0]);
    expect(t!.statements[2]).toContain('b IS NULL');
    for (const s of t!.statements) expect(s).not.toMatch(/= null/);
  });

  it('a dropped table (no catalog facts) is treated as FULL: still exact, only slower', () => {
    const [t] = repairAll(FULL, () => undefined);
    expect(t!.statements[0]).toContain('ctid = (SELECT ctid');
  });

  it('generated columns are left out; GENERATED ALWAYS identity gets OVERRIDING SYSTEM VALUE and is not SET', () => {
    const raw = `BEGIN;
${marker('742')}INSERT INTO public.pk_t (id, v, g) VALUES (1, 'abc', 3);
UPDATE public.pk_t SET id = 1, v = 'short', g = 5 WHERE id = 1;
COMMIT;
`;
    const [t] = repairAll(raw, facts({ 'public.pk_t': { identityAlways: ['id'], generated: ['g'] } }));
    expect(t!.statements).toEqual([
      "INSERT INTO public.pk_t (id, v) OVERRIDING SYSTEM VALUE VALUES ('1', 'abc');\n",
      "UPDATE ONLY public.pk_t SET v = 'short' WHERE id = '1';\n",
    ]);
  });

  it('an unchanged TOAST column (left out of SET by decoder_raw) is not written', () => {
    const raw = `BEGIN;\n${marker('743')}UPDATE public.tt SET id = 'k', n = 2 WHERE id = 'k';\nCOMMIT;\n`;
    expect(repairAll(raw, facts({ 'public.tt': {} }))[0]!.statements).toEqual(["UPDATE ONLY public.tt SET n = '2' WHERE id = 'k';\n"]);
  });

  it('renders pgincr.raw_truncates rows as one TRUNCATE at their place, without the rows', () => {
    const raw = `BEGIN;
${marker('744')}INSERT INTO public.a (x) VALUES (1);
INSERT INTO pgincr.raw_truncates (xid, schema_name, table_name) VALUES ('744', 'public', 'a');
INSERT INTO pgincr.raw_truncates (xid, schema_name, table_name) VALUES ('744', 'public', 'b');
INSERT INTO public.a (x) VALUES (2);
COMMIT;
`;
    const [t] = repairAll(raw, facts({ 'public.a': { replicaIdentity: 'f' }, 'public.b': { partitioned: true } }));
    expect(t!.statements).toEqual([
      "INSERT INTO public.a (x) VALUES ('1');\n",
      'TRUNCATE ONLY public.a, public.b;\n',
      "INSERT INTO public.a (x) VALUES ('2');\n",
    ]);
  });

  it("keeps literals byte-exact (ISO dates from the pinned walsender session, multi-line text as E'')", () => {
    const raw = `BEGIN;\n${marker('745')}INSERT INTO public.dt (d, ts, v) VALUES ('2024-03-01', '2024-03-01 10:00:00.123456+00', 'a\nb');\nCOMMIT;\n`;
    expect(repairAll(raw, facts({ 'public.dt': { replicaIdentity: 'f' } }))[0]!.statements).toEqual([
      "INSERT INTO public.dt (d, ts, v) VALUES ('2024-03-01', '2024-03-01 10:00:00.123456+00', E'a\\nb');\n",
    ]);
  });

  it('renders pgincr.sequence_positions rows as setval lines, and ignores deletes of marker rows', () => {
    const raw = `BEGIN;
${marker('746')}INSERT INTO pgincr.sequence_positions (id, recorded_at, positions) VALUES (1, '2026-11-27 16:00:00+00', '[{"schema": "public", "name": "s", "last_value": "42", "is_called": true}]');
DELETE FROM pgincr.raw_transactions WHERE xid = '1';
COMMIT;
`;
    const [t] = repairAll(raw, facts({}));
    expect(t!.statements.join('')).toContain('setval');
    expect(t!.statements.join('')).toContain('42');
  });
});

describe('rawPositions', () => {
  it('is strictly increasing and after the previous end, never below the first-write LSN', () => {
    expect(rawPositions(100n, 500n)).toEqual({ commitLsn: 500n, endLsn: 501n });
    expect(rawPositions(501n, 300n)).toEqual({ commitLsn: 502n, endLsn: 503n });
    expect(rawPositions(503n, null)).toEqual({ commitLsn: 504n, endLsn: 505n });
  });
});

describe('lowestMarkerLsn', () => {
  it('finds the lowest first-write LSN among the marker rows of a raw text (commit order is not first-write order)', () => {
    const raw = `BEGIN;\n${marker('8', '0/2A0')}COMMIT;\nBEGIN;\n${marker('7', '0/1F0')}COMMIT;\nBEGIN;\n${marker('9', '1/10')}`;
    expect(lowestMarkerLsn(raw)).toBe(0x1f0n);
    expect(lowestMarkerLsn("BEGIN;\nINSERT INTO public.a (x) VALUES ('0/10');\nCOMMIT;\n")).toBeNull();
  });
});

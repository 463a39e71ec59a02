import { canonicalForm, rowSignature, signatureValid } from '../../../src/core/sql/capture-row-signature';
import { checkCaptureRow, refusedComment, type RefusedRow, type VerifyingCaptureContext } from '../../../src/core/sql/capture-row-verify';
import { parseRawText } from '../../../src/core/decoding/decoder-raw';
import { repairRawTransaction } from '../../../src/core/decoding/decoder-raw-repair';
import { DdlOrdinals } from '../../../src/core/ddl/extract';
import type { RelationInfo } from '../../../src/core/sql/render';
import type { Tuple } from '../../../src/core/decoding/model';
import { GOLDEN_CANONICAL, GOLDEN_KEY, GOLDEN_SIGNATURE, GOLDEN_VALUES } from '../../helpers/signature-golden';

describe('capture-row signatures', () => {
  it('matches the golden vector (the SQL side is checked against the same one)', () => {
    expect(canonicalForm(GOLDEN_VALUES).toString('utf8')).toBe(GOLDEN_CANONICAL);
    expect(rowSignature(GOLDEN_KEY, GOLDEN_VALUES)).toBe(GOLDEN_SIGNATURE);
    expect(signatureValid(GOLDEN_KEY, GOLDEN_VALUES, GOLDEN_SIGNATURE)).toBe(true);
  });

  it('tells NULL from empty and from "-", and field boundaries apart', () => {
    const sig = (v: Array<string | null>) => rowSignature(GOLDEN_KEY, v);
    expect(new Set([sig([null]), sig(['']), sig(['-']), sig(['ab', 'c']), sig(['a', 'bc']), sig(['abc'])]).size).toBe(6);
  });

  it('refuses a changed field, another key, a missing or malformed signature', () => {
    const changed = [...GOLDEN_VALUES];
    changed[6] = 'CREATE FUNCTION public.pwn() RETURNS void LANGUAGE sql AS $$ SELECT 1 $$';
    expect(signatureValid(GOLDEN_KEY, changed, GOLDEN_SIGNATURE)).toBe(false);
    expect(signatureValid(Buffer.alloc(32), GOLDEN_VALUES, GOLDEN_SIGNATURE)).toBe(false);
    expect(signatureValid(GOLDEN_KEY, GOLDEN_VALUES, null)).toBe(false);
    expect(signatureValid(GOLDEN_KEY, GOLDEN_VALUES, GOLDEN_SIGNATURE.toUpperCase())).toBe(false);
    expect(signatureValid(GOLDEN_KEY, GOLDEN_VALUES, `${GOLDEN_SIGNATURE}0`)).toBe(false);
  });
});

describe('checkCaptureRow', () => {
  const rel = (columns: string[]): RelationInfo =>
    ({
      relationId: 1,
      schema: 'pgincr',
      table: 'sequence_positions',
      replicaIdentity: 'd',
      columns: columns.map((name) => ({ name, flags: 0, typeOid: 25, typeMod: -1 })),
    }) as unknown as RelationInfo;
  const tuple = (values: Array<string | null>): Tuple => values.map((v) => (v === null ? { kind: 'null' as const } : { kind: 'text' as const, value: v }));
  const positions = '[{"schema": "public", "name": "s", "is_called": true, "last_value": "5"}]';
  const sig = rowSignature(GOLDEN_KEY, [positions]);

  it('passes a signed row, refuses an unsigned or altered one with digits only in the comment', () => {
    const r = rel(['id', 'recorded_at', 'positions', 'sig']);
    expect(checkCaptureRow(r, tuple(['7', '2026-01-01', positions, sig]), GOLDEN_KEY)).toBeNull();
    const refused = checkCaptureRow(r, tuple(['7', '2026-01-01', positions.replace('5', '999'), sig]), GOLDEN_KEY);
    expect(refused).toEqual({ table: 'sequence_positions', id: '7', xid: '?', reason: 'wrong signature' });
    expect(checkCaptureRow(r, tuple(['8\n-- x', '2026-01-01', positions, null]), GOLDEN_KEY)).toEqual({
      table: 'sequence_positions',
      id: '?',
      xid: '?',
      reason: 'no signature',
    });
    expect(refusedComment(refused!)).toBe(
      "-- pgincr: REFUSED pgincr.sequence_positions row id 7 xid ?: wrong signature, not written by pgincr's triggers; not replayed\n",
    );
  });

  it('renders rows of a table without a sig column (written before capture schema version 5)', () => {
    expect(checkCaptureRow(rel(['id', 'recorded_at', 'positions']), tuple(['7', '2026-01-01', positions]), GOLDEN_KEY)).toBeNull();
  });
});

describe('decoder_raw capture rows behind the check', () => {
  it('renders a signed sequence_positions row, refuses an altered one', () => {
    const positions = '[{"name": "s", "schema": "public", "is_called": true, "last_value": "42"}]';
    const sig = rowSignature(GOLDEN_KEY, [positions]);
    const row = (id: number, p: string) =>
      `INSERT INTO pgincr.sequence_positions (id, recorded_at, positions, sig) VALUES (${id}, '2026-11-27 16:00:00+00', '${p}', '${sig}');\n`;
    const raw =
      `BEGIN;\nINSERT INTO pgincr.raw_transactions (xid, lsn, at) VALUES ('746', '0/1A2B3C0', '2026-11-27 16:00:00.123456+00');\n` +
      `${row(1, positions)}${row(2, positions.replace('42', '999'))}COMMIT;\n`;
    const refused: RefusedRow[] = [];
    const ctx: VerifyingCaptureContext = { ordinals: new DdlOrdinals(), ddlInFunction: 'fail', trust: { key: GOLDEN_KEY, onRefused: (r) => refused.push(r) } };
    const [txn] = parseRawText(raw).transactions.map((t) => repairRawTransaction(t, () => undefined, ctx));
    expect(txn?.statements).toHaveLength(2);
    expect(txn?.statements[0]).toMatch(/^SELECT pg_catalog\.setval\(.*, 42, true\);\n$/);
    expect(txn?.statements[1]).toBe(
      "-- pgincr: REFUSED pgincr.sequence_positions row id 2 xid ?: wrong signature, not written by pgincr's triggers; not replayed\n",
    );
    expect(refused).toEqual([{ table: 'sequence_positions', id: '2', xid: '?', reason: 'wrong signature' }]);
  });
});

/**
 * The last data step of a restore: make every sequence safe to use. The segments carry
 * `setval` lines recorded at intervals, so a sequence can lag behind the rows that used it
 * after its last recorded position. For each sequence, the next `nextval` must give a value
 * past every value already in a column that draws from it — columns it is OWNED BY (serial,
 * identity) and columns whose default calls `nextval` on it (a shared sequence) — and past its
 * own current value. Ascending sequences move up to the columns' max, descending ones down to
 * their min; a sequence is never moved backwards.
 */
import type { Client } from 'pg';
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import type { SequenceReach } from '../core/verify/compare';
import { checksumKey } from '../core/restore/table-selection';

export interface SequenceFix {
  sequence: string;
  increment: string;
  /** Columns that draw from it, as `table.column`. */
  columns: string[];
  lastValue: string;
  isCalled: boolean;
  /** The value given to setval(…, true), or null when the sequence was already past the columns. */
  setTo: string | null;
  note?: string;
}

interface SequenceUse {
  seq: string;
  seq_schema: string;
  seq_name: string;
  increment: string;
  min: string;
  max: string;
  table: string | null;
  column: string | null;
}

/** Sequences of user schemas with every integer column that draws from them. */
const SEQUENCE_USES = `
WITH uses AS (
  SELECT d.objid AS seqid, d.refobjid AS relid, d.refobjsubid AS attnum
    FROM pg_catalog.pg_depend d
   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
     AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
  UNION
  SELECT d.refobjid, ad.adrelid, ad.adnum
    FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
   WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
)
SELECT s.seqrelid::regclass::text AS seq, n.nspname AS seq_schema, c.relname AS seq_name, s.seqincrement::text AS increment, s.seqmin::text AS min,
       s.seqmax::text AS max, a.attrelid::regclass::text AS "table", pg_catalog.quote_ident(a.attname) AS "column"
  FROM pg_catalog.pg_sequence s
  JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN uses u ON u.seqid = s.seqrelid
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = u.relid AND a.attnum = u.attnum AND NOT a.attisdropped
       AND a.atttypid IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype)
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
 ORDER BY 1, 5, 6`;

function groupBySequence(rows: SequenceUse[]): Map<string, { use: SequenceUse; columns: Array<[string, string]> }> {
  const out = new Map<string, { use: SequenceUse; columns: Array<[string, string]> }>();
  for (const row of rows) {
    const entry = out.get(row.seq) ?? { use: row, columns: [] };
    if (row.table && row.column && !entry.columns.some(([t, c]) => t === row.table && c === row.column)) {
      entry.columns.push([row.table, row.column]);
    }
    out.set(row.seq, entry);
  }
  return out;
}

/** max (ascending) or min (descending) over the columns; null when they hold no values. */
async function columnsExtreme(client: Client, columns: Array<[string, string]>, descending: boolean): Promise<bigint | null> {
  let best: bigint | null = null;
  for (const [table, column] of columns) {
    const r = await client.query<{ v: string | null }>(`SELECT ${descending ? 'min' : 'max'}(${column})::text AS v FROM ${table}`);
    const v = r.rows[0]?.v;
    if (v === null || v === undefined) continue;
    const n = BigInt(v);
    if (best === null || (descending ? n < best : n > best)) best = n;
  }
  return best;
}

async function fixOne(client: Client, use: SequenceUse, columns: Array<[string, string]>): Promise<SequenceFix> {
  const state = await client.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text, is_called FROM ${use.seq}`);
  const { last_value: lastValue, is_called: isCalled } = state.rows[0] as { last_value: string; is_called: boolean };
  const inc = BigInt(use.increment);
  const descending = inc < 0n;
  const fix: SequenceFix = {
    sequence: use.seq,
    increment: use.increment,
    columns: columns.map(([t, c]) => `${t}.${c}`),
    lastValue,
    isCalled,
    setTo: null,
  };
  const extreme = await columnsExtreme(client, columns, descending);
  if (extreme === null) return fix;
  const next = isCalled ? BigInt(lastValue) + inc : BigInt(lastValue);
  const behind = descending ? next >= extreme : next <= extreme;
  if (!behind) return fix;
  if (extreme < BigInt(use.min) || extreme > BigInt(use.max)) {
    return { ...fix, note: `column value ${extreme} is outside the sequence's bounds [${use.min}, ${use.max}]; left as it is` };
  }
  await client.query('SELECT pg_catalog.setval($1::regclass, $2::bigint, true)', [use.seq, extreme.toString()]);
  return { ...fix, setTo: extreme.toString() };
}

/** Moves every sequence of the target database past the values its columns hold. Idempotent. */
export async function fixSequences(profile: Profile): Promise<SequenceFix[]> {
  const client = await connectProfile(profile);
  try {
    await client.query("SET search_path = ''");
    const uses = await client.query<SequenceUse>(SEQUENCE_USES);
    const fixes: SequenceFix[] = [];
    for (const { use, columns } of groupBySequence(uses.rows).values()) fixes.push(await fixOne(client, use, columns));
    return fixes;
  } finally {
    await client.end();
  }
}

/** Each sequence's increment and the furthest value its columns hold, by checksums.json key (a partial verify compares them). */
export async function sequenceReach(profile: Profile): Promise<Record<string, SequenceReach>> {
  const client = await connectProfile(profile);
  try {
    await client.query("SET search_path = ''");
    const uses = await client.query<SequenceUse>(SEQUENCE_USES);
    const out: Record<string, SequenceReach> = {};
    for (const { use, columns } of groupBySequence(uses.rows).values()) {
      const extreme = await columnsExtreme(client, columns, BigInt(use.increment) < 0n);
      out[checksumKey({ schema: use.seq_schema, name: use.seq_name })] = { increment: use.increment, extreme: extreme === null ? null : extreme.toString() };
    }
    return out;
  } finally {
    await client.end();
  }
}

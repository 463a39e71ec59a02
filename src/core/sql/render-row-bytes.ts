/**
 * The capture's fast path: a pgoutput INSERT, UPDATE or DELETE message rendered from its bytes
 * straight into SQL bytes, with no object per value and no string per statement. It writes
 * exactly what `parsePgoutput` + `renderInsert`/`renderUpdate`/`renderDelete` (render.ts, the
 * reference) write for the same message; a property test holds the two to that.
 *
 * It handles the common cases only and declines (returns -1) the rest, which then take the
 * reference path, errors included: replica identity FULL or NOTHING, unchanged TOAST values
 * where a value is needed, an UPDATE that writes no column or changes an identity ALWAYS
 * column, INSERT … DEFAULT VALUES, binary tuple data, and any malformed or mismatched message.
 * Names are the reference's quoted names (`quoteIdent`: a name with a control character is a
 * `U&"…"` escape, so a statement stays one line; segment markers are whole lines). A quoted name
 * holding a raw line break all the same is declined, as a guard.
 */
import { planOf, type Plan, type RelationInfo } from './render';

const QUOTE = 0x27; // '
const BACKSLASH = 0x5c;
const LF = 0x0a;
const CR = 0x0d;

const KIND_TEXT = 0x74; // t
const KIND_NULL = 0x6e; // n
const KIND_UNCHANGED = 0x75; // u

/** The byte forms of a relation's plan (built once per RelationInfo, like the plan). */
interface BytePlan {
  plan: Plan;
  /** False when a quoted name holds CR or LF (never, see quoteIdent), or the identity is not DEFAULT/INDEX: decline. */
  usable: boolean;
  insertPrefix: Buffer | null;
  /** `"col" = ` per column. */
  assign: Buffer[];
  /** `"col" IS NULL` per column. */
  isNull: Buffer[];
  updatePrefix: Buffer;
  deletePrefix: Buffer;
  /** `"c" = "c"` (the no-op assignment), or null. */
  noop: Buffer | null;
  isKey: boolean[];
  /** Bytes of every name and fixed part a statement of this relation can hold (for the bound). */
  fixedBytes: number;
}

const bytePlans = new WeakMap<RelationInfo, BytePlan>();

const latin1 = (s: string) => Buffer.from(s, 'latin1');

function buildBytePlan(rel: RelationInfo): BytePlan {
  const plan = planOf(rel);
  const names = [plan.name, ...plan.quoted];
  const usable = (rel.replicaIdentity === 'd' || rel.replicaIdentity === 'i') && !names.some((n) => /[\r\n]/.test(n));
  const bp: BytePlan = {
    plan,
    usable,
    insertPrefix: plan.insertPrefix === null ? null : latin1(plan.insertPrefix),
    assign: plan.quoted.map((q) => latin1(`${q} = `)),
    isNull: plan.quoted.map((q) => latin1(`${q} IS NULL`)),
    updatePrefix: latin1(`UPDATE ${plan.target} SET `),
    deletePrefix: latin1(`DELETE FROM ${plan.target} WHERE `),
    noop: plan.noopColumn < 0 ? null : latin1(`${plan.quoted[plan.noopColumn]} = ${plan.quoted[plan.noopColumn]}`),
    isKey: rel.columns.map((c) => c.isKey),
    fixedBytes: 0,
  };
  // Each column's names may be written twice (SET and WHERE), with ` AND ` or `, ` and E''.
  let n = (bp.insertPrefix?.length ?? 0) + bp.updatePrefix.length + bp.deletePrefix.length + (bp.noop?.length ?? 0) + 64;
  for (let i = 0; i < bp.assign.length; i++) n += 2 * (bp.assign[i]!.length + bp.isNull[i]!.length) + 32;
  bp.fixedBytes = n;
  return bp;
}

function bytePlanOf(rel: RelationInfo): BytePlan {
  let bp = bytePlans.get(rel);
  if (!bp) {
    bp = buildBytePlan(rel);
    bytePlans.set(rel, bp);
  }
  return bp;
}

/** Where one tuple's values sit in the payload: kind, start and length per column. */
class TupleSpans {
  kind = new Uint8Array(64);
  start = new Int32Array(64);
  len = new Int32Array(64);
  count = 0;

  reserve(n: number): void {
    if (n <= this.kind.length) return;
    const size = Math.max(n, this.kind.length * 2);
    this.kind = new Uint8Array(size);
    this.start = new Int32Array(size);
    this.len = new Int32Array(size);
  }
}

const DECLINE = -1;

/** Renders row changes as SQL bytes; see the module comment. */
export class RowRenderer {
  /** The buffer being written (the caller's, during renderInto). */
  private out: Buffer = Buffer.allocUnsafe(0);
  private at = 0;
  private scratch: Buffer = Buffer.allocUnsafe(64 * 1024);
  private readonly newRow = new TupleSpans();
  private readonly oldRow = new TupleSpans();

  /**
   * The most bytes `renderInto` can write for this payload, or -1 when it will decline
   * whatever the payload holds (the relation's identity or names).
   */
  bound(payload: Buffer, rel: RelationInfo): number {
    const bp = bytePlanOf(rel);
    // Every value byte escaped (x2), each value written twice (SET and WHERE): x4.
    return bp.usable ? bp.fixedBytes + 4 * payload.length : DECLINE;
  }

  /**
   * Renders one pgoutput `I`/`U`/`D` payload for `rel` (the relation its id names) into
   * `out` from `at`, ending with `;\n`; `out` must have `bound()` bytes of room there. Returns
   * the end offset, or -1 when it declines (see the module comment): the caller then renders
   * the message the reference way, and ignores what was written past `at`.
   */
  renderInto(payload: Buffer, rel: RelationInfo, out: Buffer, at: number): number {
    const bp = bytePlanOf(rel);
    if (!bp.usable) return DECLINE;
    this.out = out;
    this.at = at;
    const ncols = rel.columns.length;
    switch (payload[0]) {
      case 0x49: // I
        return this.insert(payload, bp, ncols);
      case 0x55: // U
        return this.update(payload, bp, ncols);
      case 0x44: // D
        return this.delete(payload, bp, ncols);
      default:
        return DECLINE;
    }
  }

  /** {@link renderInto} a buffer of its own: the statement is `bytes.subarray(0, length)`; -1 when declined. */
  render(payload: Buffer, rel: RelationInfo): number {
    const bound = this.bound(payload, rel);
    if (bound < 0) return DECLINE;
    if (this.scratch.length < bound) this.scratch = Buffer.allocUnsafe(bound);
    return this.renderInto(payload, rel, this.scratch, 0);
  }

  /** The buffer of the last {@link render}. */
  get bytes(): Buffer {
    return this.scratch;
  }

  private insert(p: Buffer, bp: BytePlan, ncols: number): number {
    if (bp.insertPrefix === null || p.length < 6 || p[5] !== 0x4e /* N */) return DECLINE;
    if (readTuple(p, 6, this.newRow) !== p.length || this.newRow.count !== ncols) return DECLINE;
    const row = this.newRow;
    const cols = bp.plan.insertColumns;
    this.put(bp.insertPrefix);
    for (let k = 0; k < cols.length; k++) {
      const i = cols[k]!;
      if (row.kind[i] === KIND_UNCHANGED) return DECLINE;
      if (k > 0) this.ascii2(0x2c, 0x20); // ", "
      this.value(p, row, i);
    }
    this.ascii3(0x29, 0x3b, LF); // ");\n"
    return this.at;
  }

  private update(p: Buffer, bp: BytePlan, ncols: number): number {
    if (p.length < 6) return DECLINE;
    let pos = 5;
    let marker = p[pos++];
    let source: TupleSpans = this.newRow;
    if (marker === 0x4b /* K */ || marker === 0x4f /* O */) {
      pos = readTuple(p, pos, this.oldRow);
      if (pos < 0 || this.oldRow.count !== ncols || pos >= p.length) return DECLINE;
      source = this.oldRow;
      marker = p[pos++];
    }
    if (marker !== 0x4e /* N */) return DECLINE;
    if (readTuple(p, pos, this.newRow) !== p.length || this.newRow.count !== ncols) return DECLINE;
    const row = this.newRow;
    const plan = bp.plan;
    this.put(bp.updatePrefix);
    const setsFrom = this.at;
    for (let i = 0; i < ncols; i++) {
      const kind = row.kind[i];
      if (kind === KIND_UNCHANGED || plan.generated[i]) continue;
      // A key column's old value is known (the match is on it): left out when it stays.
      if (bp.isKey[i]) {
        if (sameValue(p, source, row, i)) continue;
        if (plan.identityAlways[i]) return DECLINE; // the reference path explains the error
      } else if (plan.identityAlways[i]) continue; // not known to change: never set
      if (this.at > setsFrom) this.ascii2(0x2c, 0x20); // ", "
      this.put(bp.assign[i]!);
      this.value(p, row, i);
    }
    if (this.at === setsFrom) {
      if (bp.noop === null) return DECLINE;
      this.put(bp.noop);
    }
    if (!this.where(p, bp, source)) return DECLINE;
    this.ascii2(0x3b, LF); // ";\n"
    return this.at;
  }

  private delete(p: Buffer, bp: BytePlan, ncols: number): number {
    const marker = p[5];
    if (p.length < 6 || (marker !== 0x4b /* K */ && marker !== 0x4f) /* O */) return DECLINE;
    if (readTuple(p, 6, this.oldRow) !== p.length || this.oldRow.count !== ncols) return DECLINE;
    this.put(bp.deletePrefix);
    if (!this.whereBody(p, bp, this.oldRow)) return DECLINE;
    this.ascii2(0x3b, LF);
    return this.at;
  }

  /** ` WHERE key = '…' AND …` on the replica identity columns. */
  private where(p: Buffer, bp: BytePlan, source: TupleSpans): boolean {
    this.put(WHERE);
    return this.whereBody(p, bp, source);
  }

  private whereBody(p: Buffer, bp: BytePlan, source: TupleSpans): boolean {
    const keys = bp.plan.keyColumns;
    if (keys.length === 0) return false;
    for (let k = 0; k < keys.length; k++) {
      const i = keys[k]!;
      if (k > 0) this.put(AND);
      const kind = source.kind[i];
      if (kind === KIND_NULL) this.put(bp.isNull[i]!);
      else if (kind === KIND_TEXT) {
        this.put(bp.assign[i]!);
        this.value(p, source, i);
      } else return false;
    }
    return true;
  }

  /** A value as the reference quoteLiteral writes it (`NULL` for null; text only otherwise). */
  private value(p: Buffer, row: TupleSpans, i: number): void {
    if (row.kind[i] === KIND_NULL) {
      this.put(NULL);
      return;
    }
    const start = row.start[i]!;
    const end = start + row.len[i]!;
    const out = this.out;
    // One pass, quotes doubled; a line break (rare) sends it back to write the E'' form.
    let at = this.at;
    out[at++] = QUOTE;
    let j = start;
    for (; j < end; j++) {
      const b = p[j]!;
      if (b === LF || b === CR) break;
      out[at++] = b;
      if (b === QUOTE) out[at++] = QUOTE;
    }
    if (j === end) {
      out[at++] = QUOTE;
      this.at = at;
      return;
    }
    at = this.at;
    out[at++] = 0x45; // E
    out[at++] = QUOTE;
    for (j = start; j < end; j++) {
      const b = p[j]!;
      if (b === BACKSLASH) {
        out[at++] = BACKSLASH;
        out[at++] = BACKSLASH;
      } else if (b === QUOTE) {
        out[at++] = QUOTE;
        out[at++] = QUOTE;
      } else if (b === LF) {
        out[at++] = BACKSLASH;
        out[at++] = 0x6e; // n
      } else if (b === CR) {
        out[at++] = BACKSLASH;
        out[at++] = 0x72; // r
      } else out[at++] = b;
    }
    out[at++] = QUOTE;
    this.at = at;
  }

  /** Copies a (short) name or keyword: a loop beats Buffer#copy's per-call setup at these sizes. */
  private put(b: Buffer): void {
    const out = this.out;
    let at = this.at;
    for (let k = 0; k < b.length; k++) out[at++] = b[k]!;
    this.at = at;
  }

  private ascii2(a: number, b: number): void {
    this.out[this.at++] = a;
    this.out[this.at++] = b;
  }

  private ascii3(a: number, b: number, c: number): void {
    this.out[this.at++] = a;
    this.out[this.at++] = b;
    this.out[this.at++] = c;
  }
}

const WHERE = latin1(' WHERE ');
const AND = latin1(' AND ');
const NULL = latin1('NULL');

/**
 * Reads TupleData at `pos` into `spans`; returns the offset after it, or -1 when it is
 * malformed or holds binary data (the reference parser then says what is wrong).
 */
function readTuple(p: Buffer, pos: number, spans: TupleSpans): number {
  if (pos + 2 > p.length) return -1;
  const n = p.readInt16BE(pos);
  pos += 2;
  if (n < 0) return -1;
  spans.reserve(n);
  spans.count = n;
  for (let i = 0; i < n; i++) {
    if (pos >= p.length) return -1;
    const kind = p[pos++]!;
    spans.kind[i] = kind;
    if (kind === KIND_TEXT) {
      if (pos + 4 > p.length) return -1;
      const len = p.readInt32BE(pos);
      pos += 4;
      if (len < 0 || pos + len > p.length) return -1;
      spans.start[i] = pos;
      spans.len[i] = len;
      pos += len;
    } else if (kind !== KIND_NULL && kind !== KIND_UNCHANGED) return -1;
  }
  return pos;
}

/** The reference's sameValue: same kind, and for text the same bytes. */
function sameValue(p: Buffer, a: TupleSpans, b: TupleSpans, i: number): boolean {
  const kind = a.kind[i];
  if (kind !== b.kind[i]) return false;
  if (kind !== KIND_TEXT) return true;
  const len = a.len[i]!;
  if (len !== b.len[i]) return false;
  if (a === b) return true;
  return p.compare(p, a.start[i], a.start[i]! + len, b.start[i], b.start[i]! + len) === 0;
}

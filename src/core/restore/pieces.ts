/**
 * A transaction too large to hold (src/restore/apply-large.ts) is sent to the target in pieces
 * of whole statements, all inside its one target transaction. Outside a DDL block every line of
 * a body is one whole statement (values never hold a raw line break: docs/architecture.md), so a
 * piece may end after any line, except inside a DDL block, whose statement may span lines (a
 * function body): a block is kept whole in one piece, its end found as the applier's merge and
 * the partial restore's filter find it (ddl-region.ts), so each piece reads to them exactly as
 * the same lines of the whole body would. A block whose shape is not the renderer's runs, as
 * there, to the end of the transaction: the rest of the transaction is then one piece.
 * Pure: bytes in, bytes out.
 */
import { ddlRegionEnd, isDdlHeader, mayEndDdlRegion } from './ddl-region';

const DDL_HEADER = Buffer.from('-- ddl: ');

export class PieceSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** The lines of the DDL block being read (decoded), or null outside one. */
  private block: string[] | null = null;

  /**
   * `pieceBytes`: a piece ends at the first line end allowed at or past this size.
   * `lineText`: a line's bytes (without `\n`) as text, as the applier decodes them.
   */
  constructor(
    private readonly pieceBytes: number,
    private readonly lineText: (line: Buffer) => string,
  ) {}

  /** Takes whole lines (each ending with `\n`; kept by reference); returns the pieces completed by them, in order. */
  push(bytes: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let from = 0;
    const cut = (at: number) => {
      if (this.size + (at - from) < this.pieceBytes) return;
      this.parts.push(bytes.subarray(from, at));
      out.push(this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts));
      this.parts = [];
      this.size = 0;
      from = at;
    };
    let pos = 0;
    while (pos < bytes.length) {
      const nl = bytes.indexOf(10, pos);
      const end = nl < 0 ? bytes.length : nl + 1;
      if (this.block) {
        const previous = this.block[this.block.length - 1] as string;
        this.block.push(this.lineText(bytes.subarray(pos, nl < 0 ? bytes.length : nl)));
        if (mayEndDdlRegion(previous) && ddlRegionEnd(this.block, 0) < this.block.length) {
          // The block ended before this line: read it again outside the block.
          this.block = null;
          cut(pos);
          continue;
        }
        pos = end;
        continue;
      }
      if (bytes[pos] === 0x2d && bytes.compare(DDL_HEADER, 0, DDL_HEADER.length, pos, Math.min(end, pos + DDL_HEADER.length)) === 0) {
        const header = this.lineText(bytes.subarray(pos, nl < 0 ? bytes.length : nl));
        if (isDdlHeader(header)) {
          cut(pos);
          this.block = [header];
          pos = end;
          continue;
        }
      }
      pos = end;
      cut(pos);
    }
    if (pos > from) {
      this.parts.push(bytes.subarray(from, pos));
      this.size += pos - from;
    }
    return out;
  }

  /** The last piece (what is left), or null when nothing is. */
  finish(): Buffer | null {
    if (this.size === 0) return null;
    const rest = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    this.block = null;
    return rest;
  }
}

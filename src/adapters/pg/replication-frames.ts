/**
 * The backend protocol's frame splitter for the replication socket (pure: no I/O, driven by
 * `push` with raw socket reads). Every message of the PostgreSQL protocol is a type byte and an
 * int32 length that counts itself; the splitter hands each CopyData ('d') frame's payload over
 * in place and forwards every other frame byte-exact, in arrival order. Why the stream frames the
 * socket itself rather than letting `pg` do it: replication-stream.ts.
 */
import { PgincrError } from '../../errors';

/** Backend message header: type byte + int32 length (which counts itself, not the type byte). */
const FRAME_HEADER_BYTES = 5;
const COPY_DATA = 0x64; // 'd'

/**
 * Frames the backend protocol on raw socket reads: every CopyData ('d') frame goes to
 * `onCopyData(chunk, start, end)` (its payload, in place), every other frame goes byte-exact to
 * `forward` (runs of them in one call), all strictly in arrival order and synchronously, so
 * whoever sees `forward` has seen every frame before the next CopyData is handed over.
 * A frame split across reads is reassembled into its own buffer (the only copy made).
 * `passThrough()` hands every byte not yet dispatched, and all later ones, to `forward`.
 * Pure: no I/O, driven by `push`.
 */
export class BackendFrameDemux {
  /** Header bytes of a frame cut before its length was complete. */
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  /** A frame whose length is known, being filled from the following reads. */
  private frame: Buffer | undefined;
  private frameFilled = 0;
  private bypass = false;

  constructor(
    private readonly onCopyData: (chunk: Buffer, start: number, end: number) => void,
    private readonly forward: (bytes: Buffer) => void,
  ) {}

  /** True while part of a frame waits for the next read. */
  hasPartial(): boolean {
    return this.headerFilled > 0 || this.frame !== undefined;
  }

  /** From now on every byte goes to `forward`, starting with a pending partial frame. */
  passThrough(): void {
    if (this.bypass) return;
    this.bypass = true;
    if (this.headerFilled > 0) this.forward(Buffer.from(this.header.subarray(0, this.headerFilled)));
    else if (this.frame) this.forward(this.frame.subarray(0, this.frameFilled));
    this.headerFilled = 0;
    this.frame = undefined;
  }

  push(chunk: Buffer): void {
    if (this.bypass) {
      this.forward(chunk);
      return;
    }
    const len = chunk.length;
    let off = 0;
    if (this.headerFilled > 0) {
      const n = Math.min(FRAME_HEADER_BYTES - this.headerFilled, len);
      chunk.copy(this.header, this.headerFilled, 0, n);
      this.headerFilled += n;
      off = n;
      if (this.headerFilled < FRAME_HEADER_BYTES) return;
      this.headerFilled = 0;
      this.frame = newFrame(this.header, 0);
      this.header.copy(this.frame, 0);
      this.frameFilled = FRAME_HEADER_BYTES;
    }
    if (this.frame) {
      const frame = this.frame;
      const n = Math.min(frame.length - this.frameFilled, len - off);
      chunk.copy(frame, this.frameFilled, off, off + n);
      this.frameFilled += n;
      off += n;
      if (this.frameFilled < frame.length) return;
      this.frame = undefined;
      if (frame[0] === COPY_DATA) this.onCopyData(frame, FRAME_HEADER_BYTES, frame.length);
      else this.forward(frame);
      if (this.bypass) return this.forwardRest(chunk, off);
    }
    // Whole frames in this read: CopyData handed over in place, runs of others forwarded as one slice.
    let others = -1;
    while (len - off >= FRAME_HEADER_BYTES) {
      const end = off + 1 + frameLength(chunk, off);
      if (end > len) break;
      if (chunk[off] === COPY_DATA) {
        if (others >= 0) {
          this.forward(chunk.subarray(others, off));
          others = -1;
          if (this.bypass) return this.forwardRest(chunk, off);
        }
        this.onCopyData(chunk, off + FRAME_HEADER_BYTES, end);
        if (this.bypass) return this.forwardRest(chunk, end);
      } else if (others < 0) {
        others = off;
      }
      off = end;
    }
    if (others >= 0) {
      this.forward(chunk.subarray(others, off));
      if (this.bypass) return this.forwardRest(chunk, off);
    }
    if (off === len) return;
    // A frame cut by the end of this read: keep its bytes (copied: the rest comes in later reads).
    if (len - off < FRAME_HEADER_BYTES) {
      chunk.copy(this.header, 0, off, len);
      this.headerFilled = len - off;
    } else {
      this.frame = newFrame(chunk, off);
      this.frameFilled = chunk.copy(this.frame, 0, off, len);
    }
  }

  private forwardRest(chunk: Buffer, off: number): void {
    if (off < chunk.length) this.forward(chunk.subarray(off));
  }
}

/** The int32 length of the frame at `off`, validated (it counts its own 4 bytes). */
function frameLength(buf: Buffer, off: number): number {
  const length = buf.readInt32BE(off + 1);
  if (length < 4) {
    throw new PgincrError('protocol', `replication: backend message 0x${buf[off]!.toString(16)} with length ${length} (< 4): the stream is out of step`);
  }
  return length;
}

function newFrame(headerBytes: Buffer, off: number): Buffer {
  return Buffer.allocUnsafe(1 + frameLength(headerBytes, off));
}

/**
 * A query text received as a byte string, prepared for libpg-query: the parser wants a JS
 * (Unicode) string and reports BYTE offsets into its UTF-8 form. This keeps the decoded text, maps
 * those byte offsets to string indices, and encodes slices back to the server's bytes.
 */
export class SourceText {
  /** The decoded text handed to the parser. */
  readonly text: string;
  private readonly utf8: boolean;
  /** UTF-8 byte length of the parser's input. */
  readonly byteLength: number;
  private readonly indexAt = new Map<number, number>();

  /**
   * @param bytes the query as a byte string (one char per byte)
   * @param encoding the server encoding; anything but UTF8 is read byte per char (every server
   *   encoding is ASCII-safe, so the lexer sees the same tokens)
   */
  constructor(bytes: string, encoding = 'UTF8') {
    this.utf8 = encoding.toUpperCase().replace(/[-_]/g, '') === 'UTF8';
    this.text = this.utf8 ? Buffer.from(bytes, 'latin1').toString('utf8') : bytes;
    let offset = 0;
    for (let i = 0; i < this.text.length; i++) {
      this.indexAt.set(offset, i);
      const code = this.text.charCodeAt(i);
      if (code < 0x80) offset += 1;
      else if (code < 0x800) offset += 2;
      else if (code >= 0xd800 && code <= 0xdbff) {
        offset += 4; // a surrogate pair is one 4-byte code point
        i++;
      } else offset += 3;
    }
    this.indexAt.set(offset, this.text.length);
    this.byteLength = offset;
  }

  /** String index of a UTF-8 byte offset the parser reported. */
  index(byteOffset: number): number {
    const i = this.indexAt.get(byteOffset);
    if (i === undefined) throw new Error(`byte offset ${byteOffset} is not a character boundary of the query text`);
    return i;
  }

  /** Encodes decoded text back to a byte string in the server's encoding. */
  toBytes(text: string): string {
    return this.utf8 ? Buffer.from(text, 'utf8').toString('latin1') : text;
  }
}

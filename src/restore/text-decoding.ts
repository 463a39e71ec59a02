/**
 * Segment bytes → JS strings for node-postgres, which always sends UTF-8. The applier keeps
 * `client_encoding = UTF8` on its connection and decodes each segment by the source encoding
 * named in its header; the target server then converts UTF-8 to its own encoding, as it does
 * for any client. LATIN1 is decoded as true ISO-8859-1 (WHATWG's "iso-8859-1" label means
 * windows-1252). SQL_ASCII has no defined encoding: its bytes are taken as UTF-8 when they
 * are valid UTF-8, and refused otherwise (`psql -f` replays such a segment byte for byte).
 */
import { isUtf8 } from 'node:buffer';
import { SegmentCorruptError } from '../errors';

const WHATWG_LABELS: Record<string, string> = {
  UTF8: 'utf-8',
  LATIN2: 'iso-8859-2',
  LATIN3: 'iso-8859-3',
  LATIN4: 'iso-8859-4',
  LATIN5: 'windows-1254',
  LATIN6: 'iso-8859-10',
  LATIN7: 'iso-8859-13',
  LATIN8: 'iso-8859-14',
  LATIN9: 'iso-8859-15',
  LATIN10: 'iso-8859-16',
  ISO_8859_5: 'iso-8859-5',
  ISO_8859_6: 'iso-8859-6',
  ISO_8859_7: 'iso-8859-7',
  ISO_8859_8: 'iso-8859-8',
  WIN866: 'ibm866',
  WIN874: 'windows-874',
  WIN1250: 'windows-1250',
  WIN1251: 'windows-1251',
  WIN1252: 'windows-1252',
  WIN1253: 'windows-1253',
  WIN1254: 'windows-1254',
  WIN1255: 'windows-1255',
  WIN1256: 'windows-1256',
  WIN1257: 'windows-1257',
  WIN1258: 'windows-1258',
  KOI8R: 'koi8-r',
  KOI8U: 'koi8-u',
  EUC_JP: 'euc-jp',
  EUC_KR: 'euc-kr',
  EUC_CN: 'gbk',
  SQL_ASCII: 'utf-8',
};

/** A decoder for one source encoding; throws on bytes that are invalid in it. */
export type SegmentDecoder = (bytes: Buffer, where: string) => string;

/** Returns the decoder for a PostgreSQL encoding name, or throws naming it. */
export function decoderFor(encoding: string, file: string): SegmentDecoder {
  const name = encoding.toUpperCase();
  if (name === 'LATIN1') return (bytes) => bytes.toString('latin1');
  const label = WHATWG_LABELS[name];
  if (!label) {
    throw new SegmentCorruptError(`${file}: source encoding ${encoding} is not supported by the applier`, {
      hint: 'replay this segment with psql (docs/restore.md), which sends its bytes unchanged',
    });
  }
  const invalid = (where: string, cause?: unknown) =>
    new SegmentCorruptError(`${file}: ${where}: bytes are not valid ${encoding}`, {
      cause,
      hint:
        name === 'SQL_ASCII'
          ? 'a SQL_ASCII source holds bytes of no declared encoding: replay it with psql (docs/restore.md)'
          : 'the segment is damaged or its header names the wrong encoding',
    });
  if (label === 'utf-8') {
    // Strict validation, then Node's own decoder: several times faster than TextDecoder; a leading
    // U+FEFF is kept, as the bytes say (TextDecoder would drop it by default).
    return (bytes, where) => {
      if (!isUtf8(bytes)) throw invalid(where);
      return bytes.toString('utf8');
    };
  }
  const decoder = new TextDecoder(label, { fatal: true, ignoreBOM: true });
  return (bytes, where) => {
    try {
      return decoder.decode(bytes);
    } catch (cause) {
      throw invalid(where, cause);
    }
  };
}

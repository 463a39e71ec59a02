import { decoderFor } from '../../src/restore/text-decoding';

describe('decoderFor', () => {
  it('decodes UTF-8 exactly, a leading BOM included, and refuses invalid bytes naming the place', () => {
    const utf8 = decoderFor('UTF8', 'seg.sql');
    expect(utf8(Buffer.from("\uFEFFINSERT 'é ✓ 𝄞'\n"), 'xid 1')).toBe("\uFEFFINSERT 'é ✓ 𝄞'\n");
    for (const bad of [[0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff]]) {
      expect(() => utf8(Buffer.from([0x61, ...bad]), 'xid 7 (offset 9)')).toThrow('seg.sql: xid 7 (offset 9): bytes are not valid UTF8');
    }
  });

  it('decodes LATIN1 as ISO-8859-1 and other encodings with their WHATWG decoder', () => {
    expect(decoderFor('LATIN1', 'f')(Buffer.from([0x80, 0xe9]), 'x')).toBe('\u0080é');
    expect(decoderFor('LATIN2', 'f')(Buffer.from([0xb1, 0xe9]), 'x')).toBe('ąé');
    expect(decoderFor('WIN1252', 'f')(Buffer.from([0xef, 0xbb, 0xbf]), 'x')).toBe('ï»¿');
    expect(() => decoderFor('MULE_INTERNAL', 'f')).toThrow('f: source encoding MULE_INTERNAL is not supported by the applier');
  });
});

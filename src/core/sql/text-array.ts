/**
 * Parses the text output of a one-dimensional text[] (`{a,"b c",NULL}`), as pgoutput sends
 * `pgincr.ddl_history.object_identities`. Byte strings in and out.
 */
export function parseTextArray(text: string): Array<string | null> {
  if (!text.startsWith('{') || !text.endsWith('}')) throw new Error(`not a one-dimensional array literal: ${JSON.stringify(text)}`);
  const out: Array<string | null> = [];
  const body = text.slice(1, -1);
  if (body === '') return out;
  let i = 0;
  while (i <= body.length) {
    if (body[i] === '"') {
      let value = '';
      i++;
      while (i < body.length && body[i] !== '"') {
        if (body[i] === '\\') i++;
        value += body[i] ?? '';
        i++;
      }
      out.push(value);
      i++; // closing quote
    } else {
      let end = body.indexOf(',', i);
      if (end < 0) end = body.length;
      const raw = body.slice(i, end);
      out.push(raw === 'NULL' ? null : raw);
      i = end;
    }
    if (i >= body.length) break;
    if (body[i] !== ',') throw new Error(`malformed array literal at ${i}: ${JSON.stringify(text)}`);
    i++;
  }
  return out;
}

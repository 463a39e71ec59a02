/** pg_dump's identifiers in its scripts: bare (lower case) or `"…"` with `""` for a quote. */

/** A pg_dump identifier at `p` of `s` (bare, or `"…"` with `""`): its text and end, or null. */
function ident(s: string, p: number): { text: string; end: number } | null {
  if (s.charCodeAt(p) === 0x22) {
    let out = '';
    for (let i = p + 1; i < s.length; i++) {
      if (s.charCodeAt(i) !== 0x22) out += s[i];
      else if (s.charCodeAt(i + 1) === 0x22) {
        out += '"';
        i++;
      } else return { text: out, end: i + 1 };
    }
    return null;
  }
  const m = /^[a-z_][a-z0-9_$]*/.exec(s.slice(p, p + 64));
  return m ? { text: m[0], end: p + m[0].length } : null;
}

/** `schema.name` at `p` (byte string), or null. */
export function qualified(s: string, p: number): { schema: string; name: string; end: number } | null {
  const a = ident(s, p);
  if (!a || s.charCodeAt(a.end) !== 0x2e) return null;
  const b = ident(s, a.end + 1);
  return b ? { schema: a.text, name: b.text, end: b.end } : null;
}

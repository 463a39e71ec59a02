/**
 * Names as a person types them on a command line or in a workflow input: `a.b`, `"My Table"`,
 * `public."A.B"`. Pure string code (no Buffer), so workflow code may use it.
 */

/** Splits `a.b`, `"My Table"`, `public."A.B"` into its parts (quoted parts as written, bare parts folded to lower case as PostgreSQL does). */
export function splitUserName(input: string): string[] | null {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    if (input[i] === '"') {
      let j = i + 1;
      let name = '';
      for (;;) {
        const q = input.indexOf('"', j);
        if (q < 0) return null;
        name += input.slice(j, q);
        if (input[q + 1] === '"') {
          name += '"';
          j = q + 2;
        } else {
          j = q + 1;
          break;
        }
      }
      parts.push(name);
      i = j;
    } else {
      let j = i;
      while (j < input.length && input[j] !== '.' && input[j] !== '"') j++;
      const bare = input.slice(i, j).trim();
      if (bare === '') return null;
      parts.push(bare.replace(/[A-Z]+/g, (c) => c.toLowerCase())); // ASCII only, as PostgreSQL folds in UTF8
      i = j;
    }
    if (i === input.length) return parts;
    if (input[i] !== '.') return null;
    i++;
  }
}

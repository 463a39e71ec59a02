/**
 * A large transaction's pieces (src/core/restore/pieces.ts): whole lines, about the piece size,
 * together exactly the body, and never cut inside a DDL block, wherever the pushes are cut.
 */
import { PieceSplitter } from '../../../src/core/restore/pieces';
import { DDL_BLOCK_END } from '../../../src/core/restore/ddl-region';

const PATH = "SELECT pg_catalog.set_config('search_path', 'public', true);";
const row = (i: number) => `INSERT INTO public.t (id, v) VALUES ('${i}', 'value ${i}');`;
const block = [
  '-- ddl: CREATE FUNCTION public.f() role alice at 2026-11-27 14:00:00+00',
  'SET ROLE "alice";',
  PATH,
  'CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$',
  row(-1),
  DDL_BLOCK_END,
  'RESET ROLE;',
  row(-2),
  '$$;',
  DDL_BLOCK_END,
  'RESET ROLE;',
];

/** Pushes the body's lines in groups of `group` lines; returns the pieces. */
function split(lines: string[], pieceBytes: number, group: number): string[] {
  const s = new PieceSplitter(pieceBytes, (b) => b.toString('utf8'));
  const out: Buffer[] = [];
  for (let i = 0; i < lines.length; i += group)
    out.push(
      ...s.push(
        Buffer.from(
          lines
            .slice(i, i + group)
            .map((l) => `${l}\n`)
            .join(''),
        ),
      ),
    );
  const rest = s.finish();
  if (rest) out.push(rest);
  return out.map((b) => b.toString('utf8'));
}

describe('PieceSplitter', () => {
  const rows = Array.from({ length: 300 }, (_v, i) => row(i));

  it.each([1, 7, 300])('cuts rows into pieces of whole lines of about the size (pushed %i lines at a time)', (group) => {
    const pieces = split(rows, 1000, group);
    expect(pieces.join('')).toBe(rows.map((l) => `${l}\n`).join(''));
    expect(pieces.length).toBeGreaterThan(10);
    for (const p of pieces.slice(0, -1)) {
      expect(p.endsWith('\n')).toBe(true);
      expect(p.length).toBeGreaterThanOrEqual(1000);
      expect(p.length).toBeLessThan(1000 + row(299).length + 1);
    }
  });

  it.each([1, 3, 100])('never cuts inside a DDL block, even where its function body looks like rows (pushed %i lines at a time)', (group) => {
    const lines = [...rows.slice(0, 50), ...block, ...rows.slice(50, 100), ...block, ...block, ...rows.slice(100)];
    const pieces = split(lines, 200, group);
    expect(pieces.join('')).toBe(lines.map((l) => `${l}\n`).join(''));
    const whole = block.map((l) => `${l}\n`).join('');
    const withBlock = pieces.filter((p) => p.includes('-- ddl: '));
    expect(withBlock.length).toBeGreaterThan(0);
    // Every block is whole inside one piece.
    expect(withBlock.reduce((n, p) => n + p.split(whole).length - 1, 0)).toBe(3);
    for (const p of pieces) expect(p.split('-- ddl: ').length - 1).toBe(p.split(whole).length - 1);
  });

  it('a block not of the renderer’s shape runs to the end of the transaction: one piece', () => {
    const odd = ['-- ddl: CREATE TABLE public.x role alice at 2026-11-27 14:00:00+00', 'CREATE TABLE x (a int);'];
    const lines = [...rows.slice(0, 20), ...odd, ...rows.slice(20)];
    const pieces = split(lines, 200, 5);
    const last = pieces.at(-1) as string;
    expect(last.startsWith(odd[0] as string)).toBe(true);
    expect(last).toContain(row(299));
    expect(pieces.join('')).toBe(lines.map((l) => `${l}\n`).join(''));
  });
});

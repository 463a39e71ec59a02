/**
 * Every repository path that README and docs/ name in backquotes exists (docs/architecture.md's
 * stage table, file references in prose): a move or a rename that leaves a doc behind fails here.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** `src/…`, `test/…`, `bench/…`, `scripts/…`, `docs/…` in backquotes; globs and placeholders are cut at the first wildcard. */
function namedPaths(text: string): string[] {
  return [...text.matchAll(/`((?:src|test|bench|scripts|docs)\/[A-Za-z0-9_./*<>-]*)`/g)].map((m) => (m[1] as string).replace(/[*<].*$/, '').replace(/\/$/, ''));
}

describe('paths named in docs', () => {
  it.each(DOCS)('%s names only paths that exist', (doc) => {
    const missing = namedPaths(readFileSync(join(ROOT, doc), 'utf8')).filter((p) => !existsSync(join(ROOT, p)));
    expect(missing).toEqual([]);
  });

  it('docs/architecture.md names every stage folder of src/', () => {
    const arch = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
    const folders = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(folders.filter((f) => !arch.includes(`src/${f}`))).toEqual([]);
  });
});

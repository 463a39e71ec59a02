import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(__dirname, '../../scripts/build-stale.sh');

/** scripts/build-stale.sh's answer for a tree at `root`: rebuild or not. */
function stale(root: string): boolean {
  try {
    execFileSync('bash', ['-c', `. '${SCRIPT}' && pgincr_build_stale "$1"`, 'stale', root]);
    return true;
  } catch {
    return false;
  }
}

describe('build staleness (bin/pgincr rebuilds dist/ when it is stale)', () => {
  let root: string;
  const past = new Date(Date.now() - 60_000);
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pgincr-stale-'));
    mkdirSync(join(root, 'src'));
    mkdirSync(join(root, 'dist'));
    for (const f of ['src/a.ts', 'tsconfig.json', 'package.json', 'package-lock.json']) {
      writeFileSync(join(root, f), '{}');
      utimesSync(join(root, f), past, past);
    }
    utimesSync(join(root, 'src'), past, past);
    writeFileSync(join(root, 'dist/.build-stamp'), '');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is fresh when nothing changed since the stamp, stale without one', () => {
    expect(stale(root)).toBe(false);
    rmSync(join(root, 'dist/.build-stamp'));
    expect(stale(root)).toBe(true);
  });

  // The workflow bundle's manifest hashes package.json: a newer one would make every worker bundle at start.
  it.each(['src/a.ts', 'tsconfig.json', 'package.json', 'package-lock.json'])('is stale when %s is newer than the stamp', (file) => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, file), later, later);
    expect(stale(root)).toBe(true);
  });
});

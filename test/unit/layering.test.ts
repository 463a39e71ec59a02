/**
 * The house layering rules (docs/architecture.md, "Layers"), checked on the source text: the pure core
 * imports no I/O, and workflow code imports only what the Temporal sandbox allows.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(__dirname, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function imports(path: string): { spec: string; typeOnly: boolean }[] {
  const text = readFileSync(path, 'utf8');
  const found: { spec: string; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(/^\s*import\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
    found.push({ spec: m[2] as string, typeOnly: Boolean(m[1]) });
  }
  for (const m of text.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push({ spec: (m[1] ?? m[2]) as string, typeOnly: false });
  }
  return found;
}

describe('layering', () => {
  it('src/core imports no pg, execa, pino, node:fs, Temporal, adapters or activities', () => {
    const forbidden = /^(pg|execa|pino|node:fs|fs|node:fs\/promises|node:child_process|node:net|@temporalio\/.*)$|\/(adapters|activities|capture|restore|monitor|workflows|cli)\//;
    const violations = files(join(SRC, 'core')).flatMap((f) =>
      imports(f).filter((i) => !i.typeOnly && forbidden.test(i.spec)).map((i) => `${relative(SRC, f)} imports ${i.spec}`));
    expect(violations).toEqual([]);
  });

  it('src/workflows imports only the workflow SDK, its own files, zod, workflow-safe core and types', () => {
    const allowed = (spec: string, typeOnly: boolean) =>
      typeOnly || /^@temporalio\/(workflow|common)$/.test(spec) || spec === 'zod' || /^\.\/[\w-]+$/.test(spec) || /^\.\.\/core\//.test(spec);
    const violations = files(join(SRC, 'workflows')).flatMap((f) =>
      imports(f).filter((i) => !allowed(i.spec, i.typeOnly)).map((i) => `${relative(SRC, f)} imports ${i.spec}`));
    expect(violations).toEqual([]);
  });
});

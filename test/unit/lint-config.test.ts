/**
 * The layering rules of docs/architecture.md ("Layers") live in eslint.config.mjs. This test lints
 * fixture files as if they sat in src/core and src/workflows and asserts the violations are
 * reported, so the config cannot silently stop enforcing them. ESLint runs in a child process:
 * it loads its ES-module config with import(), which jest's CommonJS runtime does not provide.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

interface LintMessage {
  ruleId: string | null;
  line: number;
  message: string;
}

/** Lints each fixture's text under the name given (relative to the repository), in one ESLint run. */
function lintAs(cases: { fixture: string; asFile: string }[]): LintMessage[][] {
  // Type-aware rules need the file in the TypeScript project; the layering rules do not.
  const script = `
    const { ESLint } = require('eslint');
    const tseslint = require('typescript-eslint');
    const eslint = new ESLint({ cwd: process.argv[1], overrideConfig: [tseslint.configs.disableTypeChecked] });
    Promise.all(JSON.parse(process.argv[2]).map(({ text, filePath }) => eslint.lintText(text, { filePath }))).then(
      (results) => process.stdout.write(JSON.stringify(results.map((r) => r.flatMap((f) => f.messages)))),
      (error) => { console.error(error); process.exit(1); },
    );`;
  const input = cases.map((c) => ({ text: readFileSync(join(ROOT, 'test/fixtures/lint', c.fixture), 'utf8'), filePath: join(ROOT, c.asFile) }));
  const out = execFileSync(process.execPath, ['-e', script, ROOT, JSON.stringify(input)], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out) as LintMessage[][];
}

const lineOf = (fixture: string, needle: string) =>
  readFileSync(join(ROOT, 'test/fixtures/lint', fixture), 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(needle)) + 1;

const layering = (messages: LintMessage[]) =>
  messages
    .filter((m) => m.ruleId === 'import-x/no-restricted-paths' || m.ruleId === '@typescript-eslint/no-restricted-imports')
    .map((m) => ({ rule: m.ruleId, line: m.line }));

describe('lint config: layering', () => {
  const core = 'core-layer-violation.ts.txt';
  const workflow = 'workflow-layer-violation.ts.txt';
  let coreInCore: LintMessage[];
  let coreInActivities: LintMessage[];
  let workflowInWorkflows: LintMessage[];

  beforeAll(() => {
    [coreInCore = [], coreInActivities = [], workflowInWorkflows = []] = lintAs([
      { fixture: core, asFile: 'src/core/lint-fixture.ts' },
      { fixture: core, asFile: 'src/activities/lint-fixture.ts' },
      { fixture: workflow, asFile: 'src/workflows/lint-fixture.ts' },
    ]);
  });

  it('reports src/core importing an adapter (path zone) and pg (I/O package), not its own files', () => {
    expect(layering(coreInCore)).toEqual([
      { rule: 'import-x/no-restricted-paths', line: lineOf(core, "'../adapters/pg/server-info'") },
      { rule: '@typescript-eslint/no-restricted-imports', line: lineOf(core, "from 'pg'") },
    ]);
  });

  it('allows the same imports outside src/core (the zone is the core only)', () => {
    expect(layering(coreInActivities)).toEqual([]);
  });

  it('reports a workflow importing activity code at run time, not a type-only import', () => {
    expect(layering(workflowInWorkflows)).toEqual([{ rule: '@typescript-eslint/no-restricted-imports', line: lineOf(workflow, "from '../activities';") }]);
  });
});

// ESLint flat config: typescript-eslint's type-checked rules plus the layering rules of
// docs/architecture.md ("Layers"), which used to be a regex test over the source text.
// test/unit/lint-config.test.ts proves that a layering violation is still reported.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

// The stage folders under src/ (one per pipeline stage, each holding that stage's activities and
// services) and the layers above them. Adding a stage folder: add its name here, and the zones
// below keep src/adapters from importing it and it from importing the CLI or the worker. src/core
// needs nothing: its zone is an allowlist (src/core and src/errors.ts only).
const STAGES = ['activities', 'setup', 'capture', 'base', 'restore', 'verify', 'retention', 'monitor', 'catalog', 'dev'];
const ABOVE_STAGES = ['workflows', 'cli', 'worker.ts', 'client.ts', 'schedules.ts'];

// Packages src/core must not import: the core is pure and deterministic (an anchored regex, so
// that a relative path such as '../adapters/pg/x' is left to the path zones below).
const IO_PACKAGES = ['pg', 'pg-[\\w-]+', 'execa', 'pino', 'pino-[\\w-]+', 'prom-client', 'commander', 'cli-progress', '@temporalio/[\\w-]+'];
const IO_NODE_MODULES = ['fs', 'fs/promises', 'child_process', 'net', 'dgram', 'http', 'https', 'os', 'process', 'worker_threads'];
const CORE_FORBIDDEN = `^(${IO_PACKAGES.join('|')}|(node:)?(${IO_NODE_MODULES.join('|')}))$`;

const layerMessage = 'docs/architecture.md, "Layers"';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tools/**', '.pgincr/**', 'temporal-docker/**', 'grafana/**'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { 'import-x': importX },
    settings: {
      // Which files import-x parses to follow imports (no-cycle): TypeScript sources included.
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/external-module-folders': ['node_modules', 'node_modules/@types'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: {
      // A promise nobody awaits loses its error: an unhandled rejection or a failure reported as success.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { args: 'after-used', argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `typeof import('x')` stays allowed: it types the lazy requires below.
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // Off: pg's rows, JSON.parse and the Temporal payloads are `any` by design and are validated
      // (zod, explicit casts at the boundary); flagging every access would be hundreds of
      // mechanical edits without finding a bug.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Off: async callbacks without an await implement Promise-returning interfaces (activities,
      // hooks, fakes in tests); a missing await on a promise is no-floating-promises' business.
      '@typescript-eslint/require-await': 'off',
      // Off: matching control characters is the point of the quoting and DDL-scanning regexes.
      'no-control-regex': 'off',
      // Off: what they flag here is rethrowing a failure kept for later (`let failed: unknown`,
      // then `if (failed) throw failed`, which TypeScript narrows to `{}`); what is thrown is
      // always an Error by construction (src/errors.ts).
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      // Lazy requires keep the CLI's start fast (bench/cli-start.ts) and are allowed, typed:
      // `require('x') as typeof import('x')`; an untyped require is refused.
      '@typescript-eslint/no-require-imports': 'off',
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.type='Identifier'][callee.name='require']:not(TSAsExpression > CallExpression)",
          message: "a lazy require must be typed: require('x') as typeof import('x')",
        },
      ],
      // No import cycles: a cycle makes load order matter (undefined imports at start-up).
      // Type-only imports are not followed (they vanish at run time).
      'import-x/no-cycle': 'error',
      'import-x/no-self-import': 'error',
      'import-x/no-duplicates': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          basePath: import.meta.dirname,
          zones: [
            {
              target: './src/core',
              from: './src',
              except: ['./core', './errors.ts'],
              message: `src/core is pure: it imports only src/core and src/errors.ts (${layerMessage}).`,
            },
          ],
        },
      ],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: CORE_FORBIDDEN,
              message: `src/core is pure and deterministic: no pg, execa, pino, file system, processes or Temporal; take what it needs as a parameter (${layerMessage}).`,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/adapters/**/*.ts'],
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          basePath: import.meta.dirname,
          zones: [
            {
              target: './src/adapters',
              from: [...STAGES, ...ABOVE_STAGES].map((d) => `./src/${d}`),
              message: `src/adapters are thin I/O used by the stages, not the other way round (${layerMessage}).`,
            },
          ],
        },
      ],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^@temporalio/', message: `src/adapters import no Temporal package (${layerMessage}).` }] },
      ],
    },
  },
  {
    files: STAGES.map((d) => `src/${d}/**/*.ts`),
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          basePath: import.meta.dirname,
          zones: [
            {
              target: STAGES.map((d) => `./src/${d}`),
              from: ['./src/cli', './src/worker.ts'],
              message: `the stages are called by the composition roots (cli, worker), not the other way round (${layerMessage}).`,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      // The Temporal workflow sandbox: only the workflow SDK, zod, the workflows' own files and the
      // pure core at run time; type-only imports of anything vanish at compile time.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!(@temporalio/(workflow|common)|zod|\\./[\\w-]+|\\.\\./core/[\\w/-]+)$)',
              allowTypeImports: true,
              message: `workflow code runs in Temporal's sandbox: it imports only @temporalio/workflow|common, zod, ./ files and ../core at run time (use \`import type\` for anything else) (${layerMessage}).`,
            },
          ],
        },
      ],
    },
  },
  {
    // Plain JavaScript config files (jest.config.js, this file): no type information needed.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { module: 'readonly', require: 'readonly', __dirname: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);

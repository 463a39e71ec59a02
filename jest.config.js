// CommonJS jest on Node 20 with execa 9 (ESM-only): transform execa and its ESM dependencies.
// Each entry is an ESM-only package that execa 9 pulls in; ts-jest compiles them to CommonJS.
// age-encryption (client-side encryption of an S3 repository) and its noble/scure dependencies are ESM-only too.
const esmOnly = [
  'age-encryption',
  '@noble',
  '@scure',
  'execa',
  '@sindresorhus/merge-streams',
  '@sec-ant/readable-stream',
  'figures',
  'get-stream',
  'human-signals',
  'is-plain-obj',
  'is-stream',
  'is-unicode-supported',
  'npm-run-path',
  'path-key',
  'parse-ms',
  'pretty-ms',
  'strip-final-newline',
  'unicorn-magic',
  'yoctocolors',
];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true } }] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: { '^unicorn-magic$': '<rootDir>/node_modules/unicorn-magic/node.js' },
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', roots: ['<rootDir>/test/core', '<rootDir>/test/unit'] },
    {
      ...common,
      displayName: 'integration',
      roots: ['<rootDir>/test/integration'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
      setupFiles: ['<rootDir>/test/helpers/worker-namespace.ts'],
    },
  ],
  // Per-project testTimeout is ignored by jest; integration hooks start clusters and servers.
  testTimeout: 300000,
};

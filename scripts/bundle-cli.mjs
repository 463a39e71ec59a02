#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js) into one file, dist/pgincr-cli.js, which
// dist/cli/start.js runs with a V8 code cache (src/cli/start.ts says why). Run by scripts/build
// after tsc; exits 0 without a bundle when esbuild is not installed (the CLI then runs unbundled).
//
// What goes in: pgincr's own modules, and the libraries every start loads (zod, commander, pg)
// with their dependencies. Every other library stays in node_modules, loaded by require() when a
// command needs it: the Temporal SDK (native code), the AWS SDK, libpg-query (WebAssembly), pino
// (loads its transports by path), execa (ESM), and whatever is added later.
import { renameSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLED = new Set(['zod', 'commander', 'pg']);
const packageName = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
const say = (line) => process.stderr.write(`pgincr: ${line}\n`);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  say('esbuild is not installed: the CLI runs unbundled (slower start)');
  process.exit(0);
}

const ownCode = join(ROOT, 'dist') + '/';
const keepOtherLibrariesOut = {
  name: 'keep-other-libraries-out',
  setup(build) {
    // A bare import from pgincr's code: a library. Imports inside a bundled library (pg's own
    // dependencies) are bundled with it.
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || !args.importer.startsWith(ownCode)) return undefined;
      return BUNDLED.has(packageName(args.path)) ? undefined : { path: args.path, external: true };
    });
  },
};

// Built in a folder of its own, then moved: a start never reads a half-written bundle, and the
// source map's name in the bundle is its final one.
const outfile = join(ROOT, 'dist', 'pgincr-cli.js');
const tmpDir = join(ROOT, 'dist', `.bundle-${process.pid}`);
mkdirSync(tmpDir, { recursive: true });
try {
  await esbuild.build({
    entryPoints: [join(ROOT, 'dist', 'cli', 'main.js')],
    outfile: join(tmpDir, 'pgincr-cli.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Smaller and ASCII only (comments dropped, other characters escaped outside template
    // literals), so reading it is cheap: a start reads the whole file. Names stay (error classes
    // are told apart by name); dist/pgincr-cli.js.map maps stack traces back
    // (NODE_OPTIONS=--enable-source-maps).
    minifyWhitespace: true,
    minifySyntax: true,
    charset: 'ascii',
    sourcemap: 'linked',
    logLevel: 'error',
    plugins: [keepOtherLibrariesOut],
  });
  renameSync(join(tmpDir, 'pgincr-cli.js.map'), `${outfile}.map`);
  renameSync(join(tmpDir, 'pgincr-cli.js'), outfile);
} catch (err) {
  say(`bundling the CLI failed (${err instanceof Error ? err.message : String(err)}): the CLI runs unbundled`);
} finally {
  rmSync(tmpDir, { recursive: true, force: true });
}

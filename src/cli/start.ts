/**
 * `bin/pgincr`'s entry: runs the CLI from one file, dist/pgincr-cli.js (scripts/build bundles
 * dist/cli/main.js with its start-up libraries, zod, commander and pg), through a V8 code cache
 * kept per command in dist/.code-cache/. Node 20 has no compile cache of its own
 * (module.enableCompileCache is Node 22), and without one a start spends much of its time
 * resolving, reading and compiling some 190 modules (bench/cli-start.ts, README). Without the
 * bundle (no esbuild at build time) it runs dist/cli/main.js as before.
 *
 * The cache is V8's own (vm.Script cachedData), made at the exit of a command's first run: it
 * holds every function that run compiled, and the next runs of that command skip compiling
 * them. V8 rejects a cache of another V8 version or of other flags (it is then made again); a
 * cache of another bundle is never read, since its folder is named after the bundle's size and
 * mtime (and scripts/build removes the folder). Nothing here may fail a command or print: a cache
 * that cannot be read or written is skipped. `NODE_DEBUG=pgincr` says what happened to it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { constants, Script } from 'node:vm';

const DIST = join(__dirname, '..');
const BUNDLE = join(DIST, 'pgincr-cli.js');
const CACHE_ROOT = join(DIST, '.code-cache');
/** Long-running commands: their start-up does not matter, and the worker changes V8 flags (heap tuning), which would reject the cache. */
const UNCACHED_COMMANDS = new Set(['worker', 'dev']);
const debug = debuglog('pgincr');

type CliModule = typeof import('./main');

/** The command a cache is kept for: the first word that is not an option (nor --config's or --profile's value), else `help`. */
export function cacheKey(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--config' || arg === '--profile') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return 'help';
}

/** The bundle's exports, run with the code cache of `key`; the cache is written at exit when there was none or V8 rejected it. */
function loadBundle(key: string): CliModule {
  const source = readFileSync(BUNDLE, 'utf8');
  const stat = statSync(BUNDLE);
  const dir = join(CACHE_ROOT, `${stat.size}-${Math.trunc(stat.mtimeMs)}-${process.version}-${process.arch}`);
  const cacheFile = join(dir, `${key}.v8cache`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // none yet: made at exit
  }
  // CommonJS's own wrapper, so the bundle sees exports, require, module, __filename and __dirname as a module does.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: BUNDLE,
    ...(cachedData ? { cachedData } : {}),
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const outcome = !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted';
  debug('code cache %s: %s', cacheFile, outcome);
  const module = { exports: {} as CliModule };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(BUNDLE), module, BUNDLE, DIST);
  const cli = module.exports;
  if (outcome !== 'accepted') process.once('exit', () => writeCache(cli, script, key, dir, cacheFile));
  return cli;
}

/**
 * Writes the cache (every function compiled so far) atomically, for a command the CLI has (not
 * for a typo), and removes the caches of other bundles. Never throws: dist/ may be read-only.
 */
function writeCache(cli: CliModule, script: Script, key: string, dir: string, file: string): void {
  try {
    if (UNCACHED_COMMANDS.has(key)) return;
    if (!cli.commandNames().includes(key)) return;
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, file);
    for (const other of readdirSync(CACHE_ROOT)) if (join(CACHE_ROOT, other) !== dir) rmSync(join(CACHE_ROOT, other), { recursive: true, force: true });
    debug('code cache %s: written', file);
  } catch (err) {
    debug('code cache %s: not written (%s)', file, err instanceof Error ? err.message : String(err));
  }
}

function start(): void {
  const key = cacheKey(process.argv.slice(2));
  // `pgincr --help` loads some 30 small modules unbundled, less than reading the whole bundle
  // (bench/cli-start.ts: 200-250 ms of CPU against 240-290 at load 10-13).
  const cli = existsSync(BUNDLE) && key !== 'help' ? loadBundle(key) : (require('./main') as CliModule);
  void cli.main(process.argv);
}

if (require.main === module) start();

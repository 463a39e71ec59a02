/**
 * How `bin/pgincr` starts (issue 15: `--help` and `check --nagios` fast): scripts/build bundles
 * the CLI into dist/pgincr-cli.js, and dist/cli/start.js runs it with a V8 code cache per command
 * (src/cli/start.ts). What must hold: the bundle is there after a build; a command's first run
 * writes its cache and the next run's V8 accepts it (a cache V8 rejects at every start would
 * only cost time, silently); a mistyped command leaves no cache; a changed bundle never reads
 * the old one's cache (and the old caches go); without a bundle the CLI runs unbundled. The
 * cache is observed with NODE_DEBUG=pgincr, as an operator would. Everything but the first
 * `--help` runs on a copy of dist/ (other test files use the shared one meanwhile).
 * Lean: no database, no Temporal; about ten CLI starts.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

jest.setTimeout(300_000);

const ROOT = resolve(__dirname, '../../..');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { cwd: ROOT, env, timeout: 240_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

/** `node <dist>/cli/start.js ARGS` with NODE_DEBUG=pgincr: what happened to the code cache. */
async function start(dist: string, args: string[]): Promise<Run & { cache: string[] }> {
  const r = await run(process.execPath, [join(dist, 'cli/start.js'), ...args], { ...process.env, NODE_DEBUG: 'pgincr' });
  return { ...r, cache: [...r.stderr.matchAll(/code cache .*\/([^/]+\.v8cache): (\w+)/g)].map((m) => `${m[1]} ${m[2]}`) };
}

describe('bin/pgincr starts from one bundled file with a code cache per command', () => {
  let dir: string;
  let dist: string;

  beforeAll(async () => {
    // Builds dist/ when a source changed (the launcher), as every user's first start does.
    const help = await run(join(ROOT, 'bin/pgincr'), ['--help']);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: pgincr') });
    expect(existsSync(join(ROOT, 'dist/pgincr-cli.js'))).toBe(true);
    dir = mkdtempSync(join(tmpdir(), 'pgincr-cli-start-'));
    dist = join(dir, 'dist');
    cpSync(join(ROOT, 'dist'), dist, { recursive: true, filter: (src) => !src.includes('.code-cache') });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cacheFolders = () => (existsSync(join(dist, '.code-cache')) ? readdirSync(join(dist, '.code-cache')) : []);

  it("writes a command's cache at its first run and uses it at the next; none for a typo", async () => {
    // --help runs unbundled (fewer bytes to read than the bundle), the same help.
    const help = await start(dist, ['--help']);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: pgincr'), cache: [] });
    const first = await start(dist, ['schedules', '--help']);
    expect(first).toMatchObject({ code: 0, cache: ['schedules.v8cache none', 'schedules.v8cache written'] });
    const second = await start(dist, ['schedules', '--help']);
    expect(second).toMatchObject({ code: 0, cache: ['schedules.v8cache accepted'] });
    expect(second.stdout).toBe(first.stdout);

    // `check` without a config: UNKNOWN (exit 3) at once, and its own cache.
    const env = ['check', '--nagios', '--config', join(dir, 'missing.json')];
    expect(await start(dist, env)).toMatchObject({ code: 3, cache: ['check.v8cache none', 'check.v8cache written'] });
    expect(await start(dist, env)).toMatchObject({ code: 3, stdout: expect.stringMatching(/^PGINCR UNKNOWN - /), cache: ['check.v8cache accepted'] });

    const typo = await start(dist, ['chekc']);
    expect(typo.code).not.toBe(0);
    expect(typo.cache).toEqual(['chekc.v8cache none']);
    expect(readdirSync(join(dist, '.code-cache', cacheFolders()[0]!)).sort()).toEqual(['check.v8cache', 'schedules.v8cache']);
  });

  it("a changed bundle never reads the old bundle's cache, and the old caches go", async () => {
    const [before] = cacheFolders();
    appendFileSync(join(dist, 'pgincr-cli.js'), '\n// changed\n');
    expect(await start(dist, ['schedules', '--help'])).toMatchObject({ code: 0, cache: ['schedules.v8cache none', 'schedules.v8cache written'] });
    expect(cacheFolders()).toHaveLength(1);
    expect(cacheFolders()[0]).not.toBe(before);
    expect(await start(dist, ['schedules', '--help'])).toMatchObject({ code: 0, cache: ['schedules.v8cache accepted'] });
  });

  it('without a bundle (no esbuild at build time) the CLI runs unbundled', async () => {
    rmSync(join(dist, 'pgincr-cli.js'));
    const r = await start(dist, ['schedules', '--help']);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: pgincr schedules'), cache: [] });
  });
});

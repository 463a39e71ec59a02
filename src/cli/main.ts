/**
 * `pgincr` — the command line over pgincr's workflows, for people and CI.
 * Every command takes --config FILE (or $PGINCR_CONFIG), --profile NAME and --json.
 * Commands that start workflows wait for the result and print it (--no-wait prints the id).
 */
import { Command, Option } from 'commander';
import { CliContext, type GlobalOptions } from './context';
import { registerCommands } from './commands';

export function buildProgram(): Command {
  const program = new Command('pgincr')
    .description('incremental, human-readable SQL backups of PostgreSQL on logical decoding and Temporal')
    .option(
      '--config <file>',
      'config file (JSON); default $PGINCR_CONFIG, else $PGINCR_REPOSITORY + the PG* environment, else .pgincr/dev.json of a running `pgincr dev` here',
    )
    .option('--profile <name>', 'connection profile from the config')
    .option('--json', 'machine-readable output')
    .addOption(new Option('--no-wait', 'print the workflow id instead of waiting for the result'))
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nConfiguration, first match wins: --config FILE, $PGINCR_CONFIG, $PGINCR_REPOSITORY (with the PG* environment),\n' +
        'then .pgincr/dev.json in this folder, written by a running `pgincr dev` (npm run dev): explicit configuration wins.',
    );
  registerCommands(program, () => new CliContext(program.opts<GlobalOptions>()));
  return program;
}

/** The top-level commands (src/cli/start.ts keeps a code cache for each, and for nothing else). */
export function commandNames(): string[] {
  return buildProgram().commands.map((c) => c.name());
}

/**
 * Node 21+ defines `navigator` (userAgent `Node.js/<major>`); Node 20 does not, and then pg,
 * when it loads, probes for Cloudflare Workers by building a fetch `Response`, which loads
 * undici (a tenth of `pgincr check`'s start-up, bench/cli-start.ts). The CLI defines it as
 * Node 21+ does, so every library sees what it sees on a newer Node.
 */
function defineNavigatorAsNewerNode(): void {
  if ('navigator' in globalThis) return;
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  });
}

export async function main(argv: string[]): Promise<void> {
  defineNavigatorAsNewerNode();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`pgincr: ${message}\n`);
    if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = 2;
  }
}

if (require.main === module) {
  void main(process.argv);
}

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

export async function main(argv: string[]): Promise<void> {
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

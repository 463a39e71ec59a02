/**
 * `pgincr log`: which transactions touched these tables (of this kind, with this key) in this
 * window — xid, commit time and LSN, counts per table and kind, the statements with --show.
 * Reads the repository directly (no Temporal, no worker), like `pgincr list`.
 */
import type { Command } from 'commander';
import type { ContextFactory } from './index';
import type { LogFilter, KindCounts } from '../../core/segment/txn-log';
import type { LogFile, LoggedTxn } from '../../adapters/fs/segment-log-reader';
import type { Config } from '../../config';
import { basename } from 'node:path';
import { CATALOG_FILE } from '../../core/repository/paths';
import type { Readable } from 'node:stream';

interface LogOptions {
  from?: string;
  to?: string;
  fromLsn?: string;
  toLsn?: string;
  tables?: string;
  kind?: string;
  where?: string;
  show?: boolean;
  limit?: string;
}

/** Segments hold the server's bytes (UTF8 in practice); the filter compares bytes. */
const toBytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const NON_ASCII = /[^\x00-\x7f]/;
const fromBytes = (s: string) => (NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s);

function counts(tables: Record<string, KindCounts>): string[] {
  return Object.entries(tables).map(
    ([t, k]) =>
      `${fromBytes(t)}: ${Object.entries(k)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(', ')}`,
  );
}

function human(t: LoggedTxn): string {
  const lines = [`xid ${t.xid}  committed ${t.commitTime}  commit_lsn ${t.commitLsn}  end_lsn ${t.endLsn}  ${t.segment}`];
  for (const c of counts(t.tables)) lines.push(`  ${c}`);
  if (t.refused) lines.push(`  ${t.refused} refused capture row(s) (-- pgincr: REFUSED, docs/security.md)`);
  for (const s of t.statements ?? []) lines.push(`    ${fromBytes(s)}`);
  if (t.statementsOmitted) lines.push(`    … ${t.statementsOmitted} more statement(s) not shown`);
  return lines.join('\n');
}

function json(t: LoggedTxn): string {
  const tables: Record<string, KindCounts> = {};
  for (const [name, k] of Object.entries(t.tables)) tables[fromBytes(name)] = k;
  return JSON.stringify({
    ...t,
    tables,
    ...(t.statements ? { statements: t.statements.map(fromBytes) } : {}),
  });
}

/**
 * With an object store: the bucket's catalog and sealed segments, read directly (streamed, no
 * download, no local folder needed), then this host's open segment when it has one.
 */
async function bucketSource(
  config: Config,
  chain: string,
  filter: LogFilter,
): Promise<{ where: string; files: LogFile[]; open(file: LogFile): Promise<Readable> }> {
  const { objectStoreOf } = require('../../activities/object-store') as typeof import('../../activities/object-store');
  const { loadStoredCatalog, openStoredFile } = require('../../adapters/s3/chain-mirror') as typeof import('../../adapters/s3/chain-mirror');
  const { filesForWindowFromCatalog } = require('../../adapters/fs/segment-log-reader') as typeof import('../../adapters/fs/segment-log-reader');
  const store = objectStoreOf(config)!;
  const name = basename(chain);
  const catalog = await loadStoredCatalog(store, name);
  if (!catalog)
    throw new Error(
      `no catalog at ${store.describe(`${name}/${CATALOG_FILE}`)}: has \`pgincr setup\` run with this repository? (\`pgincr catalog rebuild\` recreates it from the bucket's files)`,
    );
  return {
    where: store.describe(name),
    files: await filesForWindowFromCatalog(chain, catalog, filter),
    async open(file) {
      const body = await openStoredFile(store, name, file.file); // decrypted when the repository is encrypted
      if (!body) throw new Error(`${store.describe(`${name}/${file.file}`)} is in the catalog but not in the bucket; run \`pgincr catalog rebuild\``);
      return body;
    },
  };
}

export function registerLog(program: Command, ctx: ContextFactory): void {
  program
    .command('log')
    .description('find transactions: which ones touched these tables, of this kind, with this key, in this window (reads the repository; no Temporal needed)')
    .option('--from <time>', 'commits at or after this time (with its zone: 2026-11-27T14:00:00Z, 2026-11-27 15:00:00+01)')
    .option('--to <time>', 'commits at or before this time')
    .option('--from-lsn <lsn>', 'commits at or after this commit LSN')
    .option('--to-lsn <lsn>', 'commits at or before this commit LSN')
    .option('--tables <names>', 'comma-separated tables, schema.table as quote_ident writes it (public.orders, public."My Table"); no schema means public')
    .option('--kind <kinds>', 'comma-separated statement kinds: INSERT, UPDATE, DELETE, TRUNCATE, DDL')
    .option(
      '--where <col=value>',
      "row changes whose key, FULL-identity match, SET list or inserted row has column = value (compared as the value's text: id=42 matches '42'); a TRUNCATE always matches",
    )
    .option('--show', 'print the matching statements (every statement without --tables/--kind/--where)')
    .option('--limit <n>', 'stop after n transactions')
    .addHelpText(
      'after',
      '\nWith --json: one JSON object per transaction per line (xid, commitTime, commitLsn, endLsn, segment, tables, matched, refused[, statements]).',
    )
    .action(async (opts: LogOptions) => {
      const c = ctx();
      const { normalizeTime } = require('../../core/segment/commit-time') as typeof import('../../core/segment/commit-time');
      const { tableName, parseKinds, parseWhere } = require('../../core/segment/txn-log') as typeof import('../../core/segment/txn-log');
      const { logTransactions, lsnOption } = require('../../adapters/fs/segment-log-reader') as typeof import('../../adapters/fs/segment-log-reader');
      const { chainDirFor } = require('../../activities/chain-dir') as typeof import('../../activities/chain-dir');
      const time = (name: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        try {
          return normalizeTime(v);
        } catch (err) {
          throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
        }
      };
      const fromLsn = lsnOption('--from-lsn', opts.fromLsn);
      const toLsn = lsnOption('--to-lsn', opts.toLsn);
      const fromTime = time('--from', opts.from);
      const toTime = time('--to', opts.to);
      const limit = opts.limit === undefined ? Infinity : Number(opts.limit);
      if (!(limit > 0) || (!Number.isInteger(limit) && limit !== Infinity)) throw new Error(`--limit: ${opts.limit} is not a positive whole number`);
      const filter: LogFilter = {
        ...(fromLsn !== undefined ? { fromLsn } : {}),
        ...(toLsn !== undefined ? { toLsn } : {}),
        ...(fromTime ? { fromTime } : {}),
        ...(toTime ? { toTime } : {}),
        ...(opts.tables ? { tables: new Set(opts.tables.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/).map((t) => tableName(toBytes(t)))) } : {}),
        ...(opts.kind ? { kinds: parseKinds(opts.kind) } : {}),
        ...(opts.where ? { where: parseWhere(toBytes(opts.where)) } : {}),
        ...(opts.show ? { show: true } : {}),
      };
      const chain = await chainDirFor({ config: c.config, logger: c.logger }, c.profile);
      // Two repositories: the local one is whole, read it (it answers while the bucket does not).
      const source = c.config.objectStore && !c.config.objectStore.copy ? await bucketSource(c.config, chain, filter) : undefined;
      const where = source?.where ?? chain;
      const asJson = c.options.json === true;
      // `pgincr log | head`: a reader that has seen enough is not an error.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
        throw err;
      });
      let found = 0;
      // Written as found (a long window prints its first transactions at once), in batches:
      // one write per transaction would cost more than reading it.
      let pending = '';
      let flushedAt = Date.now();
      for await (const t of logTransactions(chain, filter, limit, source)) {
        found++;
        pending += `${asJson ? json(t) : human(t)}\n`;
        if (pending.length > 1 << 16 || ((found & 255) === 0 && Date.now() - flushedAt > 200)) {
          process.stdout.write(pending);
          pending = '';
          flushedAt = Date.now();
        }
      }
      process.stdout.write(pending);
      if (!asJson) {
        process.stdout.write(
          found
            ? `${found} transaction(s)${found === limit ? ` (--limit ${limit} reached)` : ''}\n`
            : `no transaction in ${where} matches; widen --from/--to or check the names with pgincr list\n`,
        );
      }
    });
}

/**
 * Where a profile's backup chain lives. Kept free of Temporal and tool imports: `pgincr check`
 * and `capture status` load it at start-up.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { serverIdentity } from '../adapters/pg/server-info';
import { chainDir as chainDirPath, chainDirName } from '../core/repository/paths';
import { describeLocation } from '../core/repository/object-store';
import { ConfigError } from '../errors';
import { profileByName, withProfileClient, type ProfileInput, type SetupDeps } from './profiles';
import type { ChainInfo } from './types';

/** The chain folder of the profile's database: `<repository>/<system_identifier>-<dbname>`. */
export async function chainInfo(deps: SetupDeps, input: ProfileInput): Promise<ChainInfo> {
  return withProfileClient(deps, input.profile, async (client) => {
    const id = await serverIdentity(client);
    return { systemIdentifier: id.systemIdentifier, database: id.database, chainDir: chainDirPath(deps.config.repository, id.systemIdentifier, id.database) };
  });
}

/**
 * The chain folder of a profile's database. Asks the server for its system identifier; when the
 * source is unreachable (a disaster restore), falls back to the one chain in the repository
 * whose database matches the profile's dbname.
 */
export async function chainDirFor(deps: SetupDeps, profile: string): Promise<string> {
  try {
    return (await chainInfo(deps, { profile })).chainDir;
  } catch (err) {
    const dbname = profileByName(deps.config, profile).dbname ?? process.env.PGDATABASE;
    const entries = await repositoryChains(deps);
    const suffix = dbname ? chainDirName('0', dbname).replace(/^0/, '') : undefined;
    const matches = suffix ? entries.filter((e) => e.endsWith(suffix) && /^\d+-/.test(e)) : [];
    if (matches.length === 1 && matches[0]) {
      deps.logger.warn({ profile, chain: matches[0], err }, 'source unreachable: using the repository chain of its database');
      return join(deps.config.repository, matches[0]);
    }
    throw new ConfigError(`cannot find the backup chain of profile ${profile}: ${(err as Error).message}`, {
      cause: err,
      hint: `the source is unreachable and ${matches.length} chains in ${describeRepository(deps)} match database ${dbname ?? '(unknown)'}`,
    });
  }
}

/** The chain folders of the repository: the bucket's with an object store (the local folder may be empty), else the folder's. */
async function repositoryChains(deps: SetupDeps): Promise<string[]> {
  if (deps.config.objectStore) {
    // Loaded here only: `pgincr check` with a reachable source never needs the AWS SDK for this.
    const { objectStoreOf } = require('./object-store') as typeof import('./object-store');
    return (await objectStoreOf(deps.config)?.folders('')) ?? [];
  }
  return readdir(deps.config.repository).catch(() => [] as string[]);
}

function describeRepository(deps: SetupDeps): string {
  return deps.config.objectStore ? describeLocation(deps.config.objectStore) : deps.config.repository;
}

/** What the setup activities share: their dependencies and profile lookup. */
import type { Client } from 'pg';
import type { Config, Profile } from '../config';
import { ConfigError } from '../errors';
import type { Logger } from '../logger';
import { connectProfile } from '../adapters/pg/connect';
import type { CreatedSlot } from '../adapters/pg/slot';

export interface SetupDeps {
  config: Config;
  logger: Logger;
  /** Test seams: called at fixed points of a step. */
  hooks?: { afterSlotCreated?: (slot: CreatedSlot) => Promise<void> };
}

export interface ProfileInput {
  /** A profile name from the worker's configuration. */
  profile: string;
}

/** Looks a profile up by name (the only thing a workflow knows). */
export function profileByName(config: Config, name: string): Profile {
  const profile = config.profiles[name];
  if (!profile) {
    throw new ConfigError(`unknown profile ${JSON.stringify(name)}`, { hint: `configured profiles: ${Object.keys(config.profiles).join(', ') || '(none)'}` });
  }
  return profile;
}

export async function withProfileClient<T>(deps: SetupDeps, name: string, fn: (client: Client, profile: Profile) => Promise<T>): Promise<T> {
  const profile = profileByName(deps.config, name);
  const client = await connectProfile(profile);
  try {
    return await fn(client, profile);
  } finally {
    await client.end().catch(() => undefined);
  }
}

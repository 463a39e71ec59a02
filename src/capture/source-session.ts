/**
 * The connections one capture run holds to the source: a normal one (catalog lookups,
 * sequence recording, idle messages) and a `replication=database` one with the pinned session
 * settings, plus the facts a segment header states (IDENTIFY_SYSTEM, version, encoding).
 */
import type { Client, ClientConfig } from 'pg';
import type { Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { pinSessionSettings, replicationSessionOptions } from '../adapters/pg/replication-session';
import { catalogFactsLookup } from './relation-cache';
import type { SourceSession } from './capture-types';

async function showSetting(client: Client, name: string): Promise<string> {
  const { rows } = await client.query<Record<string, string>>(`SHOW ${name}`);
  return Object.values(rows[0] ?? {})[0] ?? '';
}

/** Opens both connections; on any failure closes what was opened. */
export async function openSourceSession(profile: Profile, slot: string, env: NodeJS.ProcessEnv = process.env): Promise<SourceSession> {
  const opened: Client[] = [];
  const close = async () => {
    for (const c of opened.reverse()) await c.end().catch(() => undefined);
  };
  try {
    const client = await connectProfile(profile, { application_name: 'pgincr capture' }, env);
    client.on('error', () => undefined); // surfaced by the next query
    opened.push(client);
    const replication = await connectProfile(
      profile,
      { replication: 'database', options: replicationSessionOptions(), application_name: 'pgincr capture' } as Partial<ClientConfig>,
      env,
    );
    replication.on('error', () => undefined); // surfaced by the stream
    opened.push(replication);
    const encoding = await showSetting(replication, 'server_encoding');
    await pinSessionSettings(replication, encoding);
    const ident = (await replication.query('IDENTIFY_SYSTEM')).rows[0] as { systemid: string; timeline: number | string; dbname: string };
    const version = await showSetting(replication, 'server_version');
    return {
      client,
      replication,
      header: {
        systemIdentifier: String(ident.systemid),
        database: ident.dbname,
        serverVersion: `PostgreSQL ${version.split(' ')[0]}`,
        encoding,
        slot,
        decoder: 'pgoutput',
        timeline: Number(ident.timeline),
      },
      factsLookup: catalogFactsLookup(client),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

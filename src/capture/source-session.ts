/**
 * The connections one capture run holds to the source: a normal one (catalog lookups,
 * sequence recording, idle messages) and a `replication=database` one with the pinned session
 * settings, plus the facts a segment header states (IDENTIFY_SYSTEM, version, encoding).
 */
import type { Client, ClientConfig } from 'pg';
import type { Profile } from '../config';
import { PgincrError } from '../errors';
import { connectProfile, describeProfile, livenessSettings } from '../adapters/pg/connect';
import { destroyConnection } from '../adapters/pg/pg-internals';
import { pinSessionSettings, replicationSessionOptions } from '../adapters/pg/replication-session';
import { catalogFactsLookup } from './relation-cache';
import type { SourceSession } from './capture-types';

async function showSetting(client: Client, name: string): Promise<string> {
  const { rows } = await client.query<Record<string, string>>(`SHOW ${name}`);
  return Object.values(rows[0] ?? {})[0] ?? '';
}

/** How long close() waits for a clean goodbye before it destroys the sockets (a dead link never answers). */
const CLOSE_GRACE_MS = 2000;

/** Opens both connections; on any failure closes what was opened. */
export async function openSourceSession(
  profile: Profile,
  slot: string,
  receiveTimeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SourceSession> {
  const opened: Client[] = [];
  const close = async () => {
    for (const c of opened.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
      await Promise.race([c.end().catch(() => undefined), late]);
      clearTimeout(timer);
      destroyConnection(c);
    }
  };
  const live = livenessSettings(receiveTimeoutMs);
  try {
    const client = await connectProfile(profile, { application_name: 'pgincr capture', options: live.server, ...live.client }, env);
    client.on('error', () => undefined); // surfaced by the next query
    opened.push(client);
    const replication = await connectProfile(
      profile,
      {
        replication: 'database',
        options: `${replicationSessionOptions()} ${live.server} ${live.walsender}`,
        application_name: 'pgincr capture',
        ...live.client,
      } as Partial<ClientConfig>,
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
      server: describeProfile(profile, env),
      abort: () => opened.forEach(destroyConnection),
      close,
    };
  } catch (err) {
    await close();
    // pg says only "timeout expired": name the server and the setting.
    if ((err as Error).message === 'timeout expired') {
      throw new PgincrError(
        'connect_timeout',
        `slot ${slot}: cannot connect to the source (${describeProfile(profile, env)}) within capture.receiveTimeout (${receiveTimeoutMs / 1000} s): the network to PostgreSQL or the server is gone`,
        { cause: err, hint: 'check the network path to the server; the capture is retried and resumes from the segments once it answers' },
      );
    }
    throw err;
  }
}

/**
 * The walsender session of the capture: the settings that shape the text the output functions
 * produce are pinned, and the server's bytes are sent unconverted.
 */
import type { Client } from 'pg';
import { PgincrError } from '../../errors';

/**
 * Startup `options` for the replication connection: pins the settings that shape the text the
 * output functions produce (dates, intervals, floats, bytea, money). `client_encoding` is not
 * among them: node-postgres always sends `client_encoding=UTF8` in the startup packet, which
 * wins over `options`; `pinSessionSettings` sets it afterwards.
 */
export function replicationSessionOptions(): string {
  return Object.entries(PINNED_SETTINGS)
    .map(([k, v]) => `-c ${k}=${v.replace(/[\\ ]/g, (c) => `\\${c}`)}`)
    .join(' ');
}

/** The settings pinned in the walsender session, in the form SHOW reports them. */
export const PINNED_SETTINGS: Readonly<Record<string, string>> = {
  DateStyle: 'ISO, YMD',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '3',
  bytea_output: 'hex',
  lc_monetary: 'C',
};

/**
 * On the replication connection, before START_REPLICATION: sets `client_encoding` to the
 * server encoding (so the walsender sends the stored bytes unconverted) and checks that every
 * pinned setting took effect (a pooler or an `ALTER ROLE … SET` cannot undo them silently).
 */
export async function pinSessionSettings(client: Client, serverEncoding: string): Promise<void> {
  if (!/^[A-Za-z0-9_]+$/.test(serverEncoding)) throw new PgincrError('session_settings', `invalid server encoding ${JSON.stringify(serverEncoding)}`);
  await client.query(`SET client_encoding = '${serverEncoding}'`);
  const expected: Record<string, string> = { ...PINNED_SETTINGS, client_encoding: serverEncoding };
  for (const [name, want] of Object.entries(expected)) {
    const res = await client.query<Record<string, string>>(`SHOW ${name}`);
    const got = Object.values(res.rows[0] ?? {})[0] ?? '';
    if (got.toLowerCase() !== want.toLowerCase()) {
      throw new PgincrError('session_settings', `replication session: ${name} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`, {
        hint: 'the walsender must run with the settings pgincr pins in the startup options; check poolers and ALTER ROLE/DATABASE SET',
      });
    }
  }
}

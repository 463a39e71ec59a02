/**
 * One capture per chain (docs/design.md invariant 11): before a capture opens the chain's open
 * segment it takes a session-level advisory lock in the source database, keyed by the slot. A
 * second capture for the same slot (a retried activity whose first attempt is still alive, a
 * second worker, a second profile pointing at the same database) fails fast with
 * CaptureBusyError and never touches the segment. The lock goes with the capture's session, so
 * a capture that dies (process killed, connection lost) releases it.
 */
import type { Client } from 'pg';
import { CaptureBusyError } from '../../errors';

/** The lock key: a 64-bit hash of the slot name, so different slots never block each other. */
const KEY_SQL = `pg_catalog.hashtextextended('pgincr capture ' || $1, 0)`;

interface Holder {
  pid: number;
  application_name: string | null;
  client_addr: string | null;
  backend_start: string | null;
}

/** Takes the chain lock for `slot` on `client`'s session, or throws CaptureBusyError naming the holder. */
export async function holdChainLock(client: Client, slot: string): Promise<void> {
  const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_catalog.pg_try_advisory_lock(${KEY_SQL}) AS locked`, [slot]);
  if (rows[0]?.locked) return;
  const holders = await client.query<Holder>(
    `SELECT a.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start::text AS backend_start
       FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
        AND l.classid = ((${KEY_SQL} >> 32) & 4294967295)::text::oid AND l.objid = (${KEY_SQL} & 4294967295)::text::oid`,
    [slot],
  );
  const who = holders.rows.map(
    (h) => `backend pid ${h.pid} (${h.application_name ?? '?'}${h.client_addr ? ` from ${h.client_addr}` : ''}, since ${h.backend_start ?? '?'})`,
  );
  throw new CaptureBusyError(
    `slot ${slot}: another capture holds this chain: ${who.join(', ') || 'a session that just ended'}; this one did not open the segment`,
    {
      hint: 'only one capture may write a chain; this attempt is retried and takes over once the other capture stops (`pgincr capture status`, or end that backend with pg_terminate_backend if it is a leftover)',
    },
  );
}

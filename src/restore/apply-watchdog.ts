/**
 * The applier's dead-network check (`restore.receiveTimeout`, default 60 s). A link that drops
 * every packet leaves the applier's connection open for ~15 minutes (a statement or COPY data in
 * flight is retransmitted) or hours (waiting for a result: keepalives), while the activity
 * heartbeats as if all were well. Silence alone proves nothing here: a long statement (a CREATE
 * INDEX replayed, a COPY of many rows) legitimately sends nothing back until it ends. So after
 * `timeoutMs` with a statement outstanding and no byte from the server, the watchdog asks the
 * server over a NEW connection (it gives up connecting after the same timeout) whether the
 * applier's backend is still running a statement: yes, it waits again; no answer, or the backend
 * is gone or idle (the statement or its result was lost), and it destroys the applier's connection
 * with an error naming the server and the setting. The activity fails and Temporal retries it;
 * the first attempt after the network returns resumes from the replication origin, exactly once
 * (its session setup ends the stale backend, whose transaction rolls back).
 */
import type { Client } from 'pg';
import type { Profile } from '../config';
import { connectProfile, describeProfile, livenessSettings } from '../adapters/pg/connect';
import { destroyConnection, pgBackendPid, pgClientIdle, pgConnection } from '../adapters/pg/pg-internals';
import { PgincrError } from '../errors';

/** restore.receiveTimeout's default. */
export const DEFAULT_APPLY_RECEIVE_TIMEOUT_MS = 60_000;

export class ApplyWatchdog {
  private receivedAt = Date.now();
  private busySince: number | null = null;
  private probing = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly onData = () => {
    this.receivedAt = Date.now();
  };
  /** Set once the link was found dead: the apply's failure (the pending query's error is only its echo). */
  error: PgincrError | null = null;

  constructor(
    private readonly client: Client,
    private readonly profile: Profile,
    private readonly timeoutMs: number,
  ) {}

  start(): void {
    pgConnection(this.client).stream.on('data', this.onData);
    this.timer = setInterval(() => this.check(), Math.max(100, Math.floor(this.timeoutMs / 8)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    pgConnection(this.client).stream.removeListener('data', this.onData);
  }

  private check(): void {
    if (this.error || this.probing) return;
    const now = Date.now();
    if (pgClientIdle(this.client)) {
      this.busySince = null;
      return;
    }
    this.busySince ??= now;
    const silentMs = now - Math.max(this.receivedAt, this.busySince);
    if (silentMs < this.timeoutMs) return;
    this.probing = true;
    void this.probe(silentMs).finally(() => {
      this.probing = false;
    });
  }

  /** Asks the server, over a new connection, what the applier's backend is doing. */
  private async probe(silentMs: number): Promise<void> {
    const pid = pgBackendPid(this.client);
    let verdict: string;
    let probe: Client | undefined;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs / 1000} s`)), this.timeoutMs);
      });
      const ask = (async () => {
        probe = await connectProfile(this.profile, { ...livenessSettings(this.timeoutMs).client, application_name: 'pgincr restore check' });
        probe.on('error', () => undefined);
        const r = await probe.query<{ state: string | null }>('SELECT state FROM pg_catalog.pg_stat_activity WHERE pid = $1', [pid]);
        return r.rows[0]?.state ?? null;
      })();
      ask.catch(() => undefined);
      const state = await Promise.race([ask, late]);
      if (state === 'active') {
        // A long statement: the server is working on it. Wait again.
        this.receivedAt = Date.now();
        return;
      }
      verdict = state === null ? 'its backend is gone' : `its backend is ${state}, not running the statement sent`;
    } catch (error) {
      verdict = `a new connection could not ask the server either (${(error as Error).message})`;
    } finally {
      clearTimeout(timer);
      if (probe) destroyConnection(probe);
    }
    if (pgClientIdle(this.client)) return; // the answer came meanwhile
    const waited = (silentMs + Date.now() - started) / 1000;
    this.error = new PgincrError(
      'receive_timeout',
      `restore apply: nothing received from the target server (${describeProfile(this.profile)}) for ${waited.toFixed(1)} s with a statement outstanding, ` +
        `past restore.receiveTimeout (${this.timeoutMs / 1000} s), and ${verdict}: the network to PostgreSQL or the server is gone. ` +
        'The connection was closed; what was committed stays, and the apply is retried from its replication origin',
      {
        hint: 'check the network path to the target server (link, firewall, VPN, load balancer idle timeouts); raise restore.receiveTimeout if the server is only slow to answer',
      },
    );
    destroyConnection(this.client);
  }
}

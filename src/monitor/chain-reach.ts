/**
 * How far a restore to "latest" reaches, and what it cannot include: the end of the planned
 * sealed segments (LSN, last commit), the capture's state (running, failing since when and why,
 * stopped, or unknown) and, when the source answers, how much WAL the source has written past
 * that end. A restore report carries it so a restore never silently stops short. Never throws:
 * what cannot be observed is left out.
 */
import type { Client } from '@temporalio/client';
import type { Config, Profile } from '../config';
import { connectProfile } from '../adapters/pg/connect';
import { parseLsn } from '../core/lsn';
import { describeCaptureFailure, type ChainReach } from '../core/monitor/capture-failure';

export type { ChainReach };
import { loadCaptureFailure } from './capture-failures';
import { askCaptureState } from './capture-state';
import { describeError } from './check';

async function sourceWalLsn(profile: Profile): Promise<string | undefined> {
  let client;
  try {
    client = await connectProfile(profile, { application_name: 'pgincr-restore-plan', connectionTimeoutMillis: 5000, statement_timeout: 10_000 });
    const { rows } = await client.query<{ lsn: string }>('SELECT pg_catalog.pg_current_wal_lsn()::text AS lsn');
    return rows[0]?.lsn;
  } catch {
    return undefined;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

export async function chainReach(opts: {
  config: Config;
  profileName: string;
  profile: Profile;
  chainDir: string;
  end: { lsn: string; commitTime: string | null };
  client?: Client;
}): Promise<ChainReach> {
  const slot = opts.config.capture.slot;
  const [failure, state, walLsn] = await Promise.all([
    loadCaptureFailure(opts.chainDir, slot).catch(() => null),
    askCaptureState(opts.config, opts.profileName, opts.client ? { client: opts.client } : { connectTimeoutMs: 2000 }),
    sourceWalLsn(opts.profile),
  ]);
  const wf = state.captureWorkflow;
  let capture: ChainReach['capture'];
  let captureDetail: string;
  if (failure) {
    capture = 'failing';
    captureDetail = failure.nonRetryable
      ? `capture stopped at ${failure.lastAt} on ${describeCaptureFailure(failure)}`
      : `capture failing since ${failure.since} (${failure.failures} failed attempts): ${describeCaptureFailure(failure)}`;
  } else if (state.captureRunning === true && wf.paused) {
    capture = 'paused';
    captureDetail = `capture workflow ${wf.id} is paused (\`pgincr capture resume\` resumes it)`;
  } else if (state.captureRunning === true) {
    capture = 'running';
    captureDetail = `capture workflow ${wf.id} is running`;
  } else if (state.captureRunning === false) {
    capture = 'stopped';
    captureDetail = `capture workflow ${wf.id} is not running (${wf.status ?? 'unknown'})`;
  } else {
    capture = 'unknown';
    captureDetail = `capture workflow ${wf.id} not checked: Temporal not reachable${wf.error ? ` (${wf.error})` : ''}`;
  }
  let behindBytes: number | undefined;
  if (walLsn) {
    try {
      behindBytes = Math.max(0, Number(parseLsn(walLsn) - parseLsn(opts.end.lsn)));
    } catch (error) {
      captureDetail += `; source WAL position unreadable (${describeError(error)})`;
    }
  }
  return {
    lsn: opts.end.lsn,
    commitTime: opts.end.commitTime,
    capture,
    captureDetail,
    ...(failure ? { failure } : {}),
    ...(walLsn ? { sourceWalLsn: walLsn } : {}),
    ...(behindBytes !== undefined ? { behindBytes } : {}),
    behind: capture !== 'running' || (behindBytes ?? 0) > 0,
  };
}

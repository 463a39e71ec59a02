/**
 * Preflight: is this database ready for pgincr? Never throws for "not ready": a refused
 * connection or a missing database is a `fail` finding, so the CLI can print the whole report.
 */
import type { Profile } from '../config';
import { connectProfile, describeProfile } from '../adapters/pg/connect';
import { gatherPreflightFacts } from '../adapters/pg/preflight-queries';
import { evaluatePreflight, type PreflightOptions } from '../core/preflight/checks';
import { buildReport, type Finding, type PreflightReport } from '../core/preflight/report';
import { missingRepositoryFinding } from '../core/preflight/repository';
import { pgDumpFinding, repositoryFinding } from './local-checks';

/** Checks of the worker's machine, added to the server's: the repository folder, the local pg_dump. */
export interface LocalPreflight {
  /** The repository folder to check; null: none is configured (a not-ready line, the rest still runs). */
  repository?: string | null;
  pgDump?: boolean;
}

function connectionHint(code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOENT':
      return 'is the server running and listening there? check host and port in the profile (or PGHOST/PGPORT)';
    case '3D000':
      return 'create the database or fix dbname in the profile';
    case '28P01':
    case '28000':
      return 'check the role and its password (PGPASSWORD or a pgpass file) and pg_hba.conf';
    default:
      return 'check the connection settings of the profile';
  }
}

export async function runPreflight(profile: Profile, options: PreflightOptions, local: LocalPreflight = {}): Promise<PreflightReport> {
  const repository: Finding[] =
    local.repository === null ? [missingRepositoryFinding()] : local.repository !== undefined ? [await repositoryFinding(local.repository)] : [];
  let client;
  try {
    client = await connectProfile(profile, { connectionTimeoutMillis: 10_000 });
  } catch (err) {
    const e = err as Error & { code?: string };
    return buildReport([
      {
        check: 'connection',
        status: 'fail',
        message: `cannot connect to ${describeProfile(profile)}: ${e.message}${e.code ? ` (${e.code})` : ''}`,
        hint: connectionHint(e.code),
      },
      ...repository,
    ]);
  }
  try {
    const facts = await gatherPreflightFacts(client, options);
    const pgDump = local.pgDump ? [await pgDumpFinding(profile, facts.serverVersionNum)] : [];
    const findings = [
      { check: 'connection', status: 'ok' as const, message: describeProfile(profile) },
      ...evaluatePreflight(facts, options),
      ...pgDump,
      ...repository,
    ];
    return buildReport(findings, { server: `PostgreSQL ${facts.serverVersion}`, database: facts.database });
  } finally {
    await client.end().catch(() => undefined);
  }
}

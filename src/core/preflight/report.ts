/**
 * The preflight report: findings → one verdict. The exit code is the CLI's contract:
 * 0 ready, 1 ready with warnings, 2 not ready (at least one `fail`).
 */

/** One check's outcome. `hint` says what to change when the status is not `ok`. */
export interface Finding {
  check: string;
  status: 'ok' | 'warning' | 'fail';
  message: string;
  hint?: string;
}

export interface PreflightReport {
  status: 'ready' | 'warnings' | 'not ready';
  ready: boolean;
  exitCode: 0 | 1 | 2;
  /** `PostgreSQL 15.20 …` when the server answered. */
  server?: string;
  database?: string;
  findings: Finding[];
}

/** Builds the verdict: any `fail` → not ready (2), else any `warning` → warnings (1), else ready (0). */
export function buildReport(findings: Finding[], info: { server?: string; database?: string } = {}): PreflightReport {
  const failed = findings.some((f) => f.status === 'fail');
  const warned = findings.some((f) => f.status === 'warning');
  const status = failed ? 'not ready' : warned ? 'warnings' : 'ready';
  const exitCode = failed ? 2 : warned ? 1 : 0;
  return {
    status,
    ready: !failed,
    exitCode,
    ...(info.server !== undefined ? { server: info.server } : {}),
    ...(info.database !== undefined ? { database: info.database } : {}),
    findings,
  };
}

const MARK = { ok: 'ok  ', warning: 'WARN', fail: 'FAIL' } as const;

/** Renders the report for people: one line per finding, hints indented under it. */
export function formatReport(report: PreflightReport): string {
  const lines = [`preflight: ${report.status}${report.server ? ` (${report.server}${report.database ? `, database ${report.database}` : ''})` : ''}`];
  for (const f of report.findings) {
    lines.push(`  [${MARK[f.status]}] ${f.check}: ${f.message}`);
    if (f.hint && f.status !== 'ok') lines.push(`         hint: ${f.hint}`);
  }
  return lines.join('\n');
}

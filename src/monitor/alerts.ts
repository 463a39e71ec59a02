/**
 * Alerts: every problem finding becomes a structured log event at its severity (warning →
 * warn, unknown/critical → error, emergency → fatal) and, when `alerts.webhookUrl` is set, a
 * JSON POST to that URL. The webhook never blocks the check: it runs in the background, each
 * attempt is time-limited, three attempts with backoff; `delivered` lets a caller (or a test)
 * await the outcome. The URL itself is never logged (it may carry a token).
 */
import type { Logger } from 'pino';
import type { HealthFinding, HealthReport } from '../core/monitor/health';

export type AlertLogger = Pick<Logger, 'info' | 'warn' | 'error' | 'fatal'>;

export interface AlertOptions {
  webhookUrl?: string | undefined;
  /** Slot the finding is about (in the log event and the payload). */
  slot?: string;
  attempts?: number;
  /** Time limit per attempt. */
  timeoutMs?: number;
  /** First backoff; doubled after each failed attempt. */
  backoffMs?: number;
  fetchImpl?: typeof fetch;
}

/** The JSON body POSTed to the webhook. */
export interface AlertPayload {
  source: 'pgincr';
  /** `alert` for a problem, `recovered` when an incident (below) is over. */
  event: 'alert' | 'recovered';
  slot: string | undefined;
  check: string;
  severity: HealthFinding['severity'];
  message: string;
  value?: number;
  hint?: string;
  at: string;
}

export interface EmittedAlert {
  payload: AlertPayload;
  /** Resolves true when the webhook accepted the alert, false otherwise (never rejects). */
  delivered: Promise<boolean>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

async function postWithRetry(url: string, payload: AlertPayload, opts: AlertOptions, logger: AlertLogger): Promise<boolean> {
  const attempts = opts.attempts ?? 3;
  let backoff = opts.backoffMs ?? 500;
  const doFetch = opts.fetchImpl ?? fetch;
  let lastError = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return true;
      lastError = `http ${res.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (attempt < attempts) {
      await sleep(backoff);
      backoff *= 2;
    }
  }
  logger.warn(
    { event: 'pgincr.alert.webhook_failed', check: payload.check, attempts, error: lastError },
    `alert webhook failed after ${attempts} attempts: ${lastError}`,
  );
  return false;
}

/** Logs one finding at its severity and starts the webhook POST in the background. */
export function emitAlert(
  logger: AlertLogger,
  finding: HealthFinding,
  opts: AlertOptions = {},
  nowMs = Date.now(),
  event: AlertPayload['event'] = 'alert',
): EmittedAlert {
  const payload: AlertPayload = {
    source: 'pgincr',
    event,
    slot: opts.slot,
    check: finding.check,
    severity: finding.severity,
    message: finding.message,
    ...(finding.value !== undefined ? { value: finding.value } : {}),
    ...(finding.hint ? { hint: finding.hint } : {}),
    at: new Date(nowMs).toISOString(),
  };
  const fields = {
    event: event === 'alert' ? 'pgincr.alert' : 'pgincr.alert.recovered',
    slot: opts.slot,
    check: finding.check,
    severity: finding.severity,
    value: finding.value,
    hint: finding.hint,
  };
  switch (finding.severity) {
    case 'ok':
      logger.info(fields, finding.message);
      break;
    case 'warning':
      logger.warn(fields, finding.message);
      break;
    case 'emergency':
      logger.fatal(fields, finding.message);
      break;
    default:
      logger.error(fields, finding.message);
  }
  const delivered = opts.webhookUrl ? postWithRetry(opts.webhookUrl, payload, opts, logger).catch(() => false) : Promise.resolve(false);
  return { payload, delivered };
}

/**
 * Checks alerted once per incident instead of at every check: when the finding turns into a
 * problem, and once more (`event: "recovered"`, severity ok) when it is over. A stuck capture
 * stays a problem at every check for as long as it fails; one page is what on-call needs.
 */
export const INCIDENT_CHECKS: ReadonlySet<string> = new Set(['capture.failing']);

/** An incident alerted and not yet over, by check (kept between checks in monitor/incidents.json). */
export interface OpenIncident {
  since: string;
  severity: HealthFinding['severity'];
  message: string;
}

/** Emits an alert for every problem in a report; returns them (await `delivered` if needed). */
export function emitReportAlerts(logger: AlertLogger, report: HealthReport, opts: AlertOptions = {}): EmittedAlert[] {
  const now = Date.parse(report.checkedAt);
  return report.findings
    .filter((f) => f.severity !== 'ok' && !INCIDENT_CHECKS.has(f.check))
    .map((f) => emitAlert(logger, f, { slot: report.slotName, ...opts }, now));
}

/**
 * The incident checks of a report against the incidents already open: alerts the ones that
 * begin, and the end of the ones that are over; returns those alerts and the incidents open now.
 */
export function emitIncidentAlerts(
  logger: AlertLogger,
  report: HealthReport,
  open: Record<string, OpenIncident>,
  opts: AlertOptions = {},
): { emitted: EmittedAlert[]; open: Record<string, OpenIncident> } {
  const now = Date.parse(report.checkedAt);
  const emitted: EmittedAlert[] = [];
  const next: Record<string, OpenIncident> = {};
  for (const check of INCIDENT_CHECKS) {
    const finding = report.findings.find((f) => f.check === check);
    const was = open[check];
    if (finding && finding.severity !== 'ok') {
      if (was) next[check] = was;
      else {
        emitted.push(emitAlert(logger, finding, { slot: report.slotName, ...opts }, now));
        next[check] = { since: report.checkedAt, severity: finding.severity, message: finding.message };
      }
    } else if (was) {
      const message = `recovered after ${Math.round((now - Date.parse(was.since)) / 1000)}s: ${finding ? finding.message : 'no longer reported'} (was: ${was.message})`;
      emitted.push(emitAlert(logger, { check, severity: 'ok', message }, { slot: report.slotName, ...opts }, now, 'recovered'));
    }
  }
  return { emitted, open: next };
}

/**
 * Temporal Schedules from the config, created or updated idempotently. Overlap policy SKIP:
 * two dumps never run at once. The server keeps a cron expression only as the calendars it
 * compiles it into, so the configured cron also travels in the action's memo (`pgincrCron`,
 * replaced by every apply), which is what `listSchedules` shows.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleHandle, type ScheduleOptions } from '@temporalio/client';
import type { Config } from './config';
import { scheduleIds } from './constants';
import { labelOptions, labelsFor, unregisteredSearchAttribute, unregisteredSearchAttributesMessage, type WorkflowArgs, type WorkflowName } from './client';
import type { WorkflowKind } from './workflows/boundary';

/** The action memo key holding the configured cron expression. */
export const CRON_MEMO = 'pgincrCron';

/** A scheduled workflow: its name and arguments checked against the workflow function. */
type ScheduleDef = {
  [N in WorkflowName]: { key: keyof Config['schedules']; name: string; workflowType: N; scheduleId: string; args: WorkflowArgs<N> };
}[WorkflowName];

function definitions(config: Config, profile: string): ScheduleDef[] {
  return [
    { key: 'fullBackup', name: 'full-backup', workflowType: 'fullBackupWorkflow', scheduleId: scheduleIds.fullBackup(profile), args: [{ profile }] },
    {
      key: 'globalsBackup',
      name: 'globals-backup',
      workflowType: 'globalsBackupWorkflow',
      scheduleId: scheduleIds.globalsBackup(profile),
      args: [{ profile }],
    },
    { key: 'healthCheck', name: 'health-check', workflowType: 'healthCheckWorkflow', scheduleId: scheduleIds.healthCheck(profile), args: [{ profile }] },
    { key: 'retention', name: 'retention', workflowType: 'retentionWorkflow', scheduleId: scheduleIds.retention(profile), args: [{ profile }] },
    { key: 'verify', name: 'verify', workflowType: 'verifyWorkflow', scheduleId: scheduleIds.verify(profile), args: [{ profile }] },
  ];
}

function options(config: Config, def: ScheduleDef, profile: string, labelled: boolean): ScheduleOptions {
  const sched = config.schedules[def.key];
  // The runs carry the UI labels (search attributes unless the server lacks them, and a summary).
  const labels = labelOptions(labelsFor(config, profile, def.name as WorkflowKind, `scheduled ${sched.cron}`));
  return {
    scheduleId: def.scheduleId,
    spec: { cronExpressions: [sched.cron] },
    action: {
      type: 'startWorkflow',
      workflowType: def.workflowType,
      args: def.args,
      taskQueue: config.temporal.taskQueue,
      workflowId: `${def.scheduleId}-run`,
      memo: { [CRON_MEMO]: sched.cron },
      staticSummary: labels.staticSummary,
      ...(labelled ? { typedSearchAttributes: labels.typedSearchAttributes } : {}),
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    state: { paused: sched.paused, note: 'managed by pgincr schedules apply' },
  };
}

export interface AppliedSchedule {
  scheduleId: string;
  action: 'created' | 'updated';
  cron: string;
}

export async function applySchedules(
  client: Client,
  config: Config,
  profile: string,
  warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
): Promise<AppliedSchedule[]> {
  try {
    return await applyAll(client, config, profile, true);
  } catch (err) {
    // A server without pgincr's search attributes: the schedules still run, unlabelled.
    const said = unregisteredSearchAttribute(err);
    if (said === undefined) throw err;
    warn(unregisteredSearchAttributesMessage(client.options.namespace, said));
    return applyAll(client, config, profile, false);
  }
}

async function applyAll(client: Client, config: Config, profile: string, labelled: boolean): Promise<AppliedSchedule[]> {
  const results: AppliedSchedule[] = [];
  for (const def of definitions(config, profile)) {
    const opts = options(config, def, profile, labelled);
    const cron = config.schedules[def.key].cron;
    try {
      await client.schedule.create(opts);
      results.push({ scheduleId: def.scheduleId, action: 'created', cron });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(def.scheduleId).update((prev) => ({
        ...prev,
        spec: opts.spec,
        action: { ...prev.action, ...opts.action },
        policies: { ...prev.policies, overlap: ScheduleOverlapPolicy.SKIP },
        state: { ...prev.state, paused: opts.state?.paused ?? false },
      }));
      results.push({ scheduleId: def.scheduleId, action: 'updated', cron });
    }
  }
  return results;
}

export interface ScheduleRow {
  scheduleId: string;
  workflowType: string;
  cron: string;
  paused: boolean;
  next: string | null;
}

export async function listSchedules(client: Client, profile: string): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  // Describe each known id: list() goes through visibility, which lags behind creation.
  for (const scheduleId of Object.values(scheduleIds).map((f) => f(profile))) {
    let d;
    try {
      d = await client.schedule.getHandle(scheduleId).describe();
    } catch (err) {
      if ((err as Error).name === 'ScheduleNotFoundError') continue;
      throw err;
    }
    const memoCron = d.action.type === 'startWorkflow' ? d.action.memo?.[CRON_MEMO] : undefined;
    rows.push({
      scheduleId,
      workflowType: d.action.type === 'startWorkflow' ? d.action.workflowType : '?',
      cron: typeof memoCron === 'string' ? memoCron : JSON.stringify(d.spec.calendars ?? d.spec.intervals ?? []),
      paused: d.state.paused,
      next: d.info.nextActionTimes[0]?.toISOString() ?? null,
    });
  }
  return rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

export function scheduleHandle(client: Client, profile: string, name: string): ScheduleHandle {
  const byName: Record<string, string> = {
    'full-backup': scheduleIds.fullBackup(profile),
    'globals-backup': scheduleIds.globalsBackup(profile),
    'health-check': scheduleIds.healthCheck(profile),
    retention: scheduleIds.retention(profile),
    verify: scheduleIds.verify(profile),
  };
  return client.schedule.getHandle(byName[name] ?? name);
}

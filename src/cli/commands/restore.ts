import type { Command } from 'commander';
import type { ContextFactory } from './index';
import { table, describeWorkflowFailure } from '../context';
import { workflowIds } from '../../constants';
import type { RestoreInput } from '../../workflows/inputs';
import type { RestoreReport } from '../../workflows/restore';
import { normalizeTime } from '../../core/segment/commit-time';
import { describeReach } from '../../core/monitor/capture-failure';
import { parseSelection, splitNameList } from '../../core/restore/table-selection';
import { commentText } from '../../core/sql/quote';

/** A partial restore's lines: what was kept, and what a person must know was left out. */
function describePartial(report: RestoreReport): string[] {
  const p = report.partial!;
  const tally = report.apply.partial;
  const lines = [`partial: tables ${p.tables.join(', ')}; ${p.removed} other relation(s) left out`];
  const data = p.baseData;
  if (data?.filtered)
    lines.push(
      data.unreadFiles !== undefined
        ? `base: only their data loaded (${data.skippedTables} other table(s); ${data.unreadFiles} data file(s) of the base, ${(
            (data.unreadBytes ?? 0) / 1048576
          ).toFixed(1)} MiB on disk, never read)`
        : `base: only their data loaded (${data.skippedTables} other table(s), ${(data.skippedBytes / 1048576).toFixed(1)} MiB, never sent to the server)`,
    );
  else if (data?.wholeBase) lines.push(`base: loaded whole (${data.wholeBase})`);
  if (report.intoSchema) lines.push(`copied into the new schema ${JSON.stringify(report.intoSchema)} of database ${report.targetDb}`);
  if (report.intoSchemaFunctions?.length)
    lines.push(
      `the copies' defaults, constraints and triggers call ${report.targetDb}'s own functions (a sequence such a function uses is the live one): ${report.intoSchemaFunctions.join(', ')}`,
    );
  if (p.views?.length) lines.push(`views kept (they read only restored tables): ${p.views.join(', ')}`);
  for (const v of p.viewsLeftOut ?? []) lines.push(`view left out (it reads a table not restored): ${v}`);
  for (const fk of p.foreignKeys) lines.push(`foreign key left out (its table is not restored): ${fk}`);
  for (const a of p.alsoChanged) lines.push(`also: ${a}`);
  if (p.objects?.removed.length) lines.push(`types and functions left out (no restored relation uses them): ${p.objects.removed.join(', ')}`);
  if (p.objects?.keptByName.length) lines.push(`kept since a kept function's body names them: ${p.objects.keptByName.join(', ')}`);
  if (p.objects?.notRemoved) lines.push(`types and functions: ${p.objects.notRemoved}`);
  if (tally?.skippedDdl) {
    lines.push(`DDL on other objects skipped: ${tally.skippedDdl}`);
    for (const h of tally.skippedDdlShown) lines.push(`  ${h}`);
  }
  // Names come from the database: a line break in one must not start a line of the report.
  return lines.map((l) => commentText(l));
}

/** The status of a restore run Temporal no longer knows (its history expired): it ended. */
const NOT_FOUND = 'NOT FOUND (history expired)';

/** The target as the report echoes it: a time is the instant used, in UTC. */
function describeTarget(target: RestoreReport['target']): string {
  const bound = 'inclusive' in target ? (target.inclusive ? '<=' : '<') : '';
  switch (target.kind) {
    case 'latest':
      return 'latest';
    case 'time':
      return `commit time ${bound} ${target.time} (UTC)`;
    case 'lsn':
      return `commit lsn ${bound} ${target.lsn}`;
    case 'xid':
      return `${target.inclusive ? 'through' : 'before'} xid ${target.xid}`;
  }
}

function targetFrom(opts: { toTime?: string; toLsn?: string; toXid?: string; exclusive?: boolean }): RestoreInput['target'] {
  const inclusive = !opts.exclusive;
  // Checked here too, so a time without a zone fails before any workflow starts (same rule).
  if (opts.toTime) return { kind: 'time', time: normalizeTime(opts.toTime), inclusive };
  if (opts.toLsn) return { kind: 'lsn', lsn: opts.toLsn, inclusive };
  if (opts.toXid) return { kind: 'xid', xid: Number(opts.toXid), inclusive };
  return { kind: 'latest' };
}

export function registerRestore(program: Command, ctx: ContextFactory): void {
  program
    .command('restore')
    .description('restore into a NEW database: to the latest state or a point in time, then verify')
    .requiredOption('--target-db <name>', 'the new database (never overwritten); with --into-schema, the existing database to add the schema to')
    .option('--target-profile <name>', 'where to create it (default: the source profile)')
    .option('--to-time <timestamptz>', "stop at this commit time, with its zone: '2026-11-27 14:00:00.123456+00', 2026-11-27T16:00:00+02:00")
    .option('--to-lsn <lsn>', 'stop at this commit LSN')
    .option('--to-xid <xid>', 'stop at this transaction')
    .option('--exclusive', 'stop just before the target instead of after it')
    .option('--from-base <id>', 'start from this base instead of the newest suitable one')
    .option('--globals', 'also restore roles and tablespaces')
    .option('--tables <list>', 'restore only these tables (schema.table, comma-separated; a quoted part is kept as written: public."My Table")')
    .option('--schemas <list>', 'restore only the tables of these schemas (comma-separated)')
    .option(
      '--into-schema <name>',
      'restore the chosen tables into this NEW schema of the existing database --target-db (the live one included); refused if it exists',
    )
    .option('--no-owner', 'replay DDL as the restoring role and load the base without ownership changes (like pg_restore --no-owner)')
    .action(
      async (opts: {
        targetDb: string;
        targetProfile?: string;
        toTime?: string;
        toLsn?: string;
        toXid?: string;
        exclusive?: boolean;
        fromBase?: string;
        globals?: boolean;
        owner?: boolean;
        tables?: string;
        schemas?: string;
        intoSchema?: string;
      }) => {
        const c = ctx();
        const tables = opts.tables === undefined ? [] : splitNameList(opts.tables);
        const schemas = opts.schemas === undefined ? [] : splitNameList(opts.schemas);
        // Checked here too, so a bad name fails before any workflow starts (same parser).
        if (tables.length > 0 || schemas.length > 0) parseSelection(tables, schemas);
        else if (opts.tables !== undefined || opts.schemas !== undefined) throw new Error('--tables/--schemas: no name given');
        if (opts.intoSchema !== undefined && tables.length === 0 && schemas.length === 0)
          throw new Error('--into-schema restores chosen tables: give --tables or --schemas');
        const input: RestoreInput = {
          profile: c.profile,
          targetProfile: opts.targetProfile,
          targetDb: opts.targetDb,
          target: targetFrom(opts),
          fromBase: opts.fromBase,
          restoreGlobals: Boolean(opts.globals),
          ...(opts.owner === false ? { noOwner: true } : {}),
          ...(tables.length > 0 ? { tables } : {}),
          ...(schemas.length > 0 ? { schemas } : {}),
          ...(opts.intoSchema !== undefined ? { intoSchema: opts.intoSchema } : {}),
        };
        const workflowId = workflowIds.restore(opts.targetDb);
        const report = await c.withTemporal(async (client) => {
          const { labelsFor, startLabelled } = require('../../client') as typeof import('../../client');
          const labels = labelsFor(
            c.config,
            c.profile,
            'restore',
            `into ${opts.targetDb}${opts.intoSchema !== undefined ? ` schema ${commentText(opts.intoSchema)}` : ''}${tables.length ? ` · tables ${commentText(tables.join(','))}` : ''}${schemas.length ? ` · schemas ${commentText(schemas.join(','))}` : ''} · to ${describeTarget(input.target as RestoreReport['target'])}`,
            [opts.targetDb],
          );
          const handle = await startLabelled(client, 'restoreWorkflow', { taskQueue: c.config.temporal.taskQueue, workflowId, args: [input] }, labels);
          if (c.options.wait === false) {
            c.print(`started restoreWorkflow: workflow id ${workflowId}`, { workflowId });
            return undefined;
          }
          const { SingleBar, Presets } = require('cli-progress') as typeof import('cli-progress');
          const bar =
            !c.options.json && process.stderr.isTTY
              ? new SingleBar({ format: 'restore {step} |{bar}| {percentage}%  {lsn}' }, Presets.shades_classic)
              : undefined;
          bar?.start(1, 0, { step: 'plan', lsn: '' });
          const timer = setInterval(() => {
            void handle
              .describe()
              .then((d) => {
                const { pendingHeartbeat, restoreHeartbeat } = require('../../workflows/boundary') as typeof import('../../workflows/boundary');
                const p = pendingHeartbeat(d.raw, restoreHeartbeat);
                if (!p) return;
                if ('verified' in p) {
                  bar?.setTotal(Math.max(1, p.of));
                  bar?.update(p.verified, { step: 'plan: files verified', lsn: '' });
                } else if ('bytesDone' in p) {
                  // The applier's real totals: segment bytes done of all planned.
                  bar?.setTotal(Math.max(1, p.bytesTotal));
                  bar?.update(p.bytesDone, { step: `segments (${p.transactions} txns)`, lsn: p.lsn ?? '' });
                }
              })
              .catch(() => undefined);
          }, 1000);
          try {
            return (await handle.result()) as RestoreReport;
          } catch (err) {
            throw new Error(describeWorkflowFailure('restoreWorkflow', workflowId, err), { cause: err });
          } finally {
            clearInterval(timer);
            bar?.stop();
          }
        });
        if (!report) return;
        const verdict = report.verify?.compared
          ? report.verify.ok
            ? 'verified: checksums equal'
            : 'VERIFY FAILED'
          : `not compared (row counts: ${Object.keys(report.verify?.rowCounts ?? {}).length} tables)`;
        c.print(
          [
            `restored ${report.targetDb} from base ${report.plan.baseId} (${report.plan.baseLsn}) + ${report.apply.appliedTransactions} transactions to ${report.apply.lastEndLsn}${report.apply.lastCommitTime ? ` (${report.apply.lastCommitTime})` : ''}`,
            `target: ${describeTarget(report.target)}`,
            // to latest: how far the chain reaches, and whether the capture is failing or behind
            ...(report.plan.reach ? describeReach(report.plan.reach) : []),
            ...(report.partial ? describePartial(report) : []),
            verdict,
            table(
              ['STEP', 'MS'],
              report.steps.map((s) => [s.name, s.ms]),
            ),
          ].join('\n'),
          report,
        );
      },
    );

  program
    .command('verify')
    .description('restore a base plus segments up to a later checkpoint into a scratch database and compare exactly; non-zero exit on failure')
    .option('--checkpoint', 'take a fresh checkpoint first and verify up to it')
    .option('--target-profile <name>', 'where the scratch database is created')
    .option('--tables <list>', 'a partial verification: restore only these tables (as restore --tables) and compare only them')
    .option('--schemas <list>', 'a partial verification: only the tables of these schemas (comma-separated)')
    .action(async (opts: { checkpoint?: boolean; targetProfile?: string; tables?: string; schemas?: string }) => {
      const c = ctx();
      const tables = opts.tables === undefined ? [] : splitNameList(opts.tables);
      const schemas = opts.schemas === undefined ? [] : splitNameList(opts.schemas);
      // Checked here too, so a bad name fails before any workflow starts (same parser).
      if (tables.length > 0 || schemas.length > 0) parseSelection(tables, schemas);
      else if (opts.tables !== undefined || opts.schemas !== undefined) throw new Error('--tables/--schemas: no name given');
      const report = await c.runWorkflow('verifyWorkflow', `${workflowIds.verify(c.profile)}-${Date.now()}`, [
        {
          profile: c.profile,
          checkpoint: Boolean(opts.checkpoint),
          targetProfile: opts.targetProfile,
          ...(tables.length > 0 ? { tables } : {}),
          ...(schemas.length > 0 ? { schemas } : {}),
        },
      ]);
      if (!report) return;
      // A table's name may hold a line break: it must not start a line of the output.
      c.print(report.ok ? `OK: ${commentText(report.message)} (base ${report.fromBase ?? '-'} → ${report.toLsn ?? '-'})` : `FAILED: ${report.message}`, report);
      process.exitCode = report.ok ? 0 : 1;
    });

  program
    .command('leftovers')
    .description('databases and restore progress (replication origins) left by restores that failed or were terminated; --clean drops them')
    .option('--target-profile <name>', 'the cluster the restores went to (default: the source profile)')
    .option('--clean', "drop those databases and origins (never a database without a failed restore's mark)")
    .action(async (opts: { targetProfile?: string; clean?: boolean }) => {
      const c = ctx();
      const profileName = opts.targetProfile ?? c.profile;
      const { cleanRestoreMarks, findRestoreMarks, restoreRunOf, workflowIdTail } =
        require('../../restore/leftovers') as typeof import('../../restore/leftovers');
      const { profileByName } = require('../../activities/profiles') as typeof import('../../activities/profiles');
      const profile = profileByName(c.config, profileName);
      const marks = await findRestoreMarks(profile);
      // A mark is a leftover only when its restore run ended without completing: Temporal says
      // so, or no longer knows the run at all (its history expired: a run is kept at least as
      // long as it runs, so "not found" is a run that ended; a completed restore re-marks its
      // database `… completed`, which is never listed). Never when a session of it is connected.
      const { WorkflowNotFoundError } = require('@temporalio/client') as typeof import('@temporalio/client');
      const judged = await c.withTemporal((client) =>
        Promise.all(
          marks.map(async (m) => {
            const run = restoreRunOf(m.restoreId);
            if (!run) return { marks: m, status: 'UNCONFIRMED', workflowId: null, runId: null };
            let unknown = false; // an answer other than "not found": not proof of anything
            // The CLI's workflow id for a database name first (a describe needs no visibility store)...
            const candidates = m.databases.map((d) => workflowIds.restore(d)).filter((w) => workflowIdTail(w) === run.workflowIdTail);
            for (const wid of candidates) {
              try {
                const d = await client.workflow.getHandle(wid, run.runId).describe();
                if (d.type === 'restoreWorkflow') return { marks: m, status: d.status.name, workflowId: wid, runId: run.runId };
              } catch (err) {
                if (!(err instanceof WorkflowNotFoundError)) unknown = true;
              }
            }
            // ...else any restore run with that run id (started from the UI, a verification's scratch restore).
            try {
              for await (const wf of client.workflow.list({ query: `RunId = '${run.runId}'` })) {
                if (wf.type === 'restoreWorkflow' && workflowIdTail(wf.workflowId) === run.workflowIdTail) {
                  return { marks: m, status: wf.status.name, workflowId: wf.workflowId, runId: run.runId };
                }
              }
            } catch {
              unknown = true;
            }
            if (unknown || m.sessions > 0) return { marks: m, status: 'UNCONFIRMED', workflowId: null, runId: run.runId };
            return { marks: m, status: NOT_FOUND, workflowId: candidates[0] ?? null, runId: run.runId };
          }),
        ),
      );
      const ended = new Set(['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED', NOT_FOUND]);
      const leftovers = judged.filter((j) => ended.has(j.status));
      const running = judged.filter((j) => j.status === 'RUNNING').length;
      const unconfirmed = judged.filter((j) => j.status === 'UNCONFIRMED').length;
      const expired = leftovers.filter((l) => l.status === NOT_FOUND).length;
      const cleaned: { restoreId: string; databases: string[]; origin: string | null }[] = [];
      if (opts.clean) {
        for (const l of leftovers) cleaned.push({ restoreId: l.marks.restoreId, ...(await cleanRestoreMarks(profile, l.marks)) });
      }
      const rows = leftovers.map((l) => [
        `${l.workflowId ?? `restore ${l.marks.restoreId}`} (run ${l.runId})`,
        l.status,
        l.marks.databases.join(', ') || '-',
        l.marks.origin ? `${l.marks.origin.name} at ${l.marks.origin.lsn}` : '-',
      ]);
      const lines =
        leftovers.length === 0
          ? [`no leftovers of failed restores on profile ${profileName}`]
          : [
              table(['RESTORE', 'STATUS', 'DATABASES', 'PROGRESS (ORIGIN)'], rows),
              '',
              opts.clean
                ? `removed: ${cleaned.flatMap((x) => [...x.databases.map((d) => `database ${d}`), ...(x.origin ? [`origin ${x.origin}`] : [])]).join(', ') || 'nothing'}`
                : `${leftovers.length} failed restore(s) left these; \`pgincr leftovers --clean\` drops them`,
            ];
      if (expired) {
        lines.push(
          `${expired} of them: Temporal (namespace ${c.config.temporal.namespace}) no longer knows the run (its history expired after the retention period), ` +
            'so it ended; never completed (a completed restore marks its database "completed"), and none of its sessions is connected',
        );
      }
      if (running) lines.push(`${running} restore(s) still running: not leftovers, not touched`);
      if (unconfirmed) {
        lines.push(
          `${unconfirmed} database(s)/origin(s) carry a restore mark that is not of this pgincr's form, has a session connected, or that Temporal did not answer for: not touched; drop them yourself if unused`,
        );
      }
      c.print(lines.join('\n'), {
        profile: profileName,
        leftovers: leftovers.map((l) => ({
          restoreId: l.marks.restoreId,
          workflowId: l.workflowId,
          runId: l.runId,
          status: l.status,
          databases: l.marks.databases,
          origin: l.marks.origin,
        })),
        ...(opts.clean ? { cleaned } : {}),
        running,
        unconfirmed,
        expired,
      });
    });

  program
    .command('list')
    .description('chains, bases, segments, restorable window')
    .action(async () => {
      const c = ctx();
      const listing = await (await c.activities()).listRepository({ profile: c.profile });
      c.print(listing.text, listing.data);
    });

  program
    .command('catalog')
    .description('catalog maintenance')
    .command('rebuild')
    .description('rebuild the catalog from the files alone')
    .action(async () => {
      const c = ctx();
      const result = await (await c.activities()).rebuildCatalog({ profile: c.profile });
      const damaged = result.damaged
        .map((d) => `\nDAMAGED, left out (the chain has a gap there; restore it from a copy, or restore with --to-lsn before it): ${d}`)
        .join('');
      c.print(`catalog rebuilt: ${result.bases} bases, ${result.segments} segments${damaged}`, result);
      if (result.damaged.length) process.exitCode = 1;
    });
}

/**
 * The restore activities: each step idempotent, its progress in the target database
 * (replication origin) or in the repository, so a retry resumes exactly. Verification's are in
 * src/verify/.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseGrant, PgincrActivities, RestorePlanResult } from '../activities/types';
import { activityClient, cancellationSignal, chainDirFor, heartbeat, profileByName, type ActivityDeps } from '../activities/context';
import { chainReach } from '../monitor/chain-reach';
import { askCaptureState } from '../monitor/capture-state';
import { durationMs, type Profile } from '../config';

import { planRestore } from '../core/restore/plan';
import type { Catalog } from '../core/catalog/schema';
import { loadOrRebuildCatalog } from '../adapters/fs/catalog-store';
import { readBaseMetadata } from '../base/base-files';
import { checkBaseFiles, checkChainFolder, checkSegmentFiles } from './check-plan';
import { createTargetDatabase, dropOwnTargetDatabase, markRestoreCompleted } from './create-target';
import { restoreGlobals } from './restore-globals';
import { checkDdlRoles, rolesOfLines } from './check-roles';
import { restoreBase } from './restore-base';
import { applySegments, finishRestore } from './apply-segments';
import { fixSequences } from './sequences';
import { keepOnlySelection } from './partial-base';
import { removeUnneededObjects } from './partial-objects';
import { partialApplyFilter, targetRelations } from './partial-apply';
import { checkIntoSchema, restoreIntoSchema } from './into-schema';
import { checkSelectionNames } from './check-selection';
import { findTransactions } from './find-transactions';
import { selectionNames } from '../core/restore/table-selection';
import { BASE_FILES, baseDir } from '../core/repository/paths';
import { repositoryCatalog, requestRotation } from '../activities/object-store';
import { formatLsn, parseLsn } from '../core/lsn';
import { recordRestoreProgress } from '../monitor/activity-metrics';
import { lastCommitEnd, waitForSealed, type OpenSegmentOutcome } from './open-segment';
import { planOpenPrefix, readOpenPrefix, type OpenPrefix } from './open-prefix';
import { findPartial } from '../adapters/fs/segment-files';
import { connectProfile } from '../adapters/pg/connect';
import { slotInfo } from '../adapters/pg/slot';
import { initDdlParser } from '../core/ddl/extract';

/** How long a restore to latest waits for the capture to seal the open segment. */
const LATEST_SEAL_TIMEOUT_MS = 90_000;

type RestoreActivities = Pick<
  PgincrActivities,
  | 'planRestore'
  | 'createTargetDatabase'
  | 'restoreGlobals'
  | 'restoreBase'
  | 'applySegments'
  | 'keepSelectedTables'
  | 'removeUnneededObjects'
  | 'checkIntoSchema'
  | 'restoreIntoSchema'
  | 'fixSequences'
  | 'finishRestore'
  | 'findTransactions'
>;

/** Where a checksum file for exactly this LSN exists: a base's snapshot or a checkpoint. */
function checksumsAt(catalog: Catalog, lsn: string): string | undefined {
  const base = catalog.bases.find((b) => parseLsn(b.lsn) === parseLsn(lsn));
  if (base) return base.checksumsFile;
  return catalog.checkpoints.find((c) => parseLsn(c.lsn) === parseLsn(lsn))?.file;
}

const onDb = (profile: Profile, dbname: string): Profile => ({ ...profile, dbname });

/** A directory base's restore list (pgincr's entries left out), when it has one (older bases do not). */
const directoryList = (baseDir: string): { listPath?: string } => {
  const listPath = join(baseDir, BASE_FILES.dumpList);
  return existsSync(listPath) ? { listPath } : {};
};

export function restoreActivities(deps: ActivityDeps): RestoreActivities {
  const profileOf = (name: string) => profileByName(deps.config, name);

  /** The open segment's last whole transaction, sealed by the running capture (null: no open transactions). */
  async function sealOpenSegment(chain: string, profile: string): Promise<OpenSegmentOutcome | null> {
    const partial = await findPartial(chain);
    const end = partial ? await lastCommitEnd(partial.path) : null;
    if (end === null) return null;
    // A paused capture seals nothing until it resumes: no wait, and no rotate request that the
    // capture would act on long after this restore (at its resume).
    const state = await askCaptureState(deps.config, profile, activityClient() ? { client: activityClient()! } : { connectTimeoutMs: 2000 });
    if (state.captureWorkflow.paused) {
      const outcome = { lsn: formatLsn(parseLsn(end)), sealed: false, waitedMs: 0, reason: 'the capture is paused, so nothing seals the open segment' };
      deps.logger.info({ chain, openSegment: outcome }, 'open segment not sealed');
      return outcome;
    }
    const outcome = await waitForSealed(
      parseLsn(end),
      {
        requestRotation: () => requestRotation(deps.config, chain),
        sealedEnd: async () => {
          const segments = (await repositoryCatalog(deps.config, chain))?.segments ?? []; // the bucket's, with an object store
          return segments.reduce<bigint | null>((max, s) => (max === null || parseLsn(s.endLsn) > max ? parseLsn(s.endLsn) : max), null);
        },
        captureRunning: async () => {
          const client = await connectProfile(profileOf(profile), { connectionTimeoutMillis: 5000 }).catch(() => null);
          if (!client) return false;
          try {
            return (await slotInfo(client, deps.config.capture.slot))?.active === true;
          } finally {
            await client.end().catch(() => undefined);
          }
        },
        heartbeat,
        ...(cancellationSignal() ? { signal: cancellationSignal()! } : {}),
      },
      { timeoutMs: LATEST_SEAL_TIMEOUT_MS, inactiveGraceMs: 5000 },
    );
    deps.logger.info({ chain, openSegment: outcome }, outcome.sealed ? 'open segment sealed for a restore to latest' : 'open segment not sealed');
    return outcome;
  }

  return {
    async planRestore({ profile, target, fromBase, targetProfile, restoreGlobals: withGlobals, noOwner, selection }) {
      const chain = await chainDirFor(deps, profile);
      await checkChainFolder(deps.config.repository, chain);
      // Latest means latest: the open segment's whole transactions are sealed first (bounded wait).
      // So for an xid: the bad DELETE of a minute ago is still in the open segment.
      const openSegment = target.kind === 'latest' || target.kind === 'xid' ? await sealOpenSegment(chain, profile) : null;
      const catalog = await loadOrRebuildCatalog(chain);
      const plan = planRestore(catalog, target, fromBase ? { fromBaseId: fromBase } : {});
      const metadata = await readBaseMetadata(join(chain, plan.base.dir));
      // Every file the restore needs is checked before the target is touched (issue 6).
      await checkBaseFiles(chain, plan.base, metadata?.dumpFile ?? 'dump.sql.gz');
      const roleLines = new Set<string>();
      const segments = await checkSegmentFiles(
        chain,
        plan.segments,
        plan.base.lsn,
        (done) => heartbeat({ step: 'plan', verified: done, of: plan.segments.length }),
        roleLines,
      );
      // Not sealed for this restore (no capture running, or not in time): the open segment's whole transactions are read instead.
      let prefix: OpenPrefix | undefined;
      if (openSegment && !openSegment.sealed) {
        const read = await planOpenPrefix(chain, { baseLsn: plan.base.lsn, segmentsEnd: plan.segments.at(-1)?.endLsn ?? null });
        if ('prefix' in read) {
          prefix = read.prefix;
          for (const line of read.roleLines) roleLines.add(line);
        } else openSegment.reason = `${openSegment.reason ?? 'not sealed'}; ${read.reason}`;
      }
      const server = metadata?.server as { encoding?: string; owner?: string; grants?: DatabaseGrant[] } | undefined;
      // A partial restore's names exist in the base or are created by the segments up to the target: checked before anything is created.
      if (selection) {
        await checkSelectionNames(selection, {
          baseDir: join(chain, plan.base.dir),
          baseId: plan.base.id,
          format: metadata?.dumpFormat ?? 'plain',
          dumpFile: metadata?.dumpFile ?? 'dump.sql.gz',
          segments,
          ...(prefix ? { openPrefix: { path: join(chain, prefix.file), length: prefix.length } } : {}),
          encoding: server?.encoding ?? 'UTF8',
        });
      }
      const ddlRoles = rolesOfLines(roleLines, server?.encoding ?? 'UTF8', chain);
      // The new database gets the source database's owner and grants (DDL run by its owner needs them).
      const databaseRoles = [...(server?.owner ? [server.owner] : []), ...(server?.grants ?? []).map((g) => g.grantee)];
      // DDL replays as the role that ran it: those roles must be there (or come with the globals) before anything is created.
      if (targetProfile !== undefined && !noOwner) {
        await checkDdlRoles({
          profile: profileOf(targetProfile),
          profileName: targetProfile,
          roles: [...new Set([...ddlRoles, ...databaseRoles])],
          ...(withGlobals ? { globalsFile: join(baseDir(chain, plan.base.id), BASE_FILES.globals) } : {}),
        });
      }
      const expected = target.kind === 'lsn' ? checksumsAt(catalog, target.lsn) : undefined;
      const result: RestorePlanResult = {
        chainDir: chain,
        baseId: plan.base.id,
        baseLsn: plan.base.lsn,
        segments,
        encoding: server?.encoding ?? 'UTF8',
        ddlRoles,
        ...(server?.owner ? { databaseOwner: server.owner } : {}),
        ...(server?.grants?.length ? { databaseGrants: server.grants } : {}),
        ...(expected ? { expectedChecksumsFile: join(chain, expected) } : {}),
        ...(prefix ? { openSegment: prefix } : {}),
      };
      // "latest" is the end of the sealed segments, and of the open segment's whole transactions
      // when nothing sealed it (no capture running, or it did not seal in time): say how far that
      // is and whether the capture is failing or behind.
      if (target.kind === 'latest') {
        const last = plan.segments.at(-1);
        result.reach = await chainReach({
          config: deps.config,
          profileName: profile,
          profile: profileOf(profile),
          chainDir: chain,
          end: prefix
            ? { lsn: prefix.lastEndLsn, commitTime: prefix.lastCommitTime }
            : last
              ? { lsn: last.endLsn, commitTime: last.lastCommitTime }
              : { lsn: plan.base.lsn, commitTime: plan.base.takenAt },
          ...(activityClient() ? { client: activityClient()! } : {}),
        });
        if (openSegment) {
          result.reach.openSegment = prefix
            ? { ...openSegment, read: { transactions: prefix.transactions, lastEndLsn: prefix.lastEndLsn, lastCommitTime: prefix.lastCommitTime } }
            : openSegment;
        }
      }
      deps.logger.info({ chain, base: result.baseId, segments: result.segments.length, target }, 'restore planned');
      return result;
    },

    async createTargetDatabase({ targetProfile, targetDb, restoreId, encoding, owner, grants }) {
      const r = await createTargetDatabase(profileOf(targetProfile), targetDb, {
        restoreId,
        encoding,
        template0: true,
        ...(owner ? { owner } : {}),
        ...(grants ? { grants } : {}),
      });
      return { created: r.created };
    },

    async restoreGlobals({ targetProfile, plan }) {
      const globals = join(baseDir(plan.chainDir, plan.baseId), BASE_FILES.globals);
      return restoreGlobals(profileOf(targetProfile), globals, cancellationSignal());
    },

    async restoreBase({ targetProfile, targetDb, restoreId, plan, noOwner, selection }) {
      const dir = baseDir(plan.chainDir, plan.baseId);
      const metadata = await readBaseMetadata(dir);
      const format = metadata?.dumpFormat ?? 'plain';
      const path = join(dir, metadata?.dumpFile ?? 'dump.sql.gz');
      const beat = setInterval(() => heartbeat({ step: 'base' }), 10_000);
      try {
        const r = await restoreBase({
          profile: onDb(profileOf(targetProfile), targetDb),
          restoreId,
          baseLsn: plan.baseLsn,
          dump: format === 'directory' ? { format, path, jobs: deps.config.setup.dumpJobs, ...directoryList(dir) } : { format: 'plain', path },
          signal: cancellationSignal(),
          ...(noOwner ? { noOwner } : {}),
          ...(selection ? { dataOf: { selection, encoding: plan.encoding } } : {}),
        });
        if (r.data)
          deps.logger.info(
            { targetDb, ...r.data },
            r.data.filtered ? 'partial restore: base loaded with the kept tables data only' : 'partial restore: whole base loaded',
          );
        return { skipped: r.skipped, ...(r.data ? { data: r.data } : {}) };
      } finally {
        clearInterval(beat);
      }
    },

    async checkIntoSchema({ targetProfile, targetDb, intoSchema, restoreId, tables }) {
      await checkIntoSchema(onDb(profileOf(targetProfile), targetDb), intoSchema, restoreId, tables);
    },

    async restoreIntoSchema({ targetProfile, stagingDb, targetDb, intoSchema, restoreId, tables }) {
      const r = await restoreIntoSchema({
        staging: onDb(profileOf(targetProfile), stagingDb),
        target: onDb(profileOf(targetProfile), targetDb),
        schema: intoSchema,
        tables,
        restoreId,
        ...(cancellationSignal() ? { signal: cancellationSignal()! } : {}),
      });
      deps.logger.info({ targetDb, tables: tables.length, copied: r.copied }, 'partial restore copied into a new schema');
      return r;
    },

    async keepSelectedTables({ targetProfile, targetDb, selection }) {
      const report = await keepOnlySelection(onDb(profileOf(targetProfile), targetDb), selection);
      deps.logger.info(
        { targetDb, kept: report.tables.length, removed: report.removed, foreignKeys: report.foreignKeys.length },
        'partial restore: base reduced',
      );
      return report;
    },

    async removeUnneededObjects({ targetProfile, targetDb }) {
      const report = await removeUnneededObjects(onDb(profileOf(targetProfile), targetDb));
      deps.logger.info(
        { targetDb, removed: report.removed.length, keptByName: report.keptByName.length, ...(report.notRemoved ? { notRemoved: report.notRemoved } : {}) },
        'partial restore: unneeded types and functions removed',
      );
      return report;
    },

    async applySegments({ targetProfile, targetDb, restoreId, plan, target, noOwner, partial }) {
      if (partial) await initDdlParser(); // the filter reads CREATE INDEX statements (core/ddl/index-target.ts)
      // The indexes and views the target holds belong to kept relations: DDL on them applies.
      const only = partial
        ? partialApplyFilter(partial.selection, partial.sequences, await targetRelations(onDb(profileOf(targetProfile), targetDb)))
        : undefined;
      const chosen = partial ? selectionNames(partial.selection) : undefined;
      const r = await applySegments({
        ...(only ? { filterTransaction: only.filter } : {}),
        profile: onDb(profileOf(targetProfile), targetDb),
        restoreId,
        segments: plan.segments,
        ...(plan.openSegment ? { openPrefix: { read: () => readOpenPrefix(plan.chainDir, plan.openSegment!) } } : {}),
        stopAt: target,
        startLsn: plan.baseLsn,
        receiveTimeoutMs: durationMs(deps.config.restore.receiveTimeout),
        ...(noOwner ? { noOwner } : {}),
        onProgress: (p) => {
          heartbeat({ ...p, transactions: p.appliedTransactions, lsn: p.lastEndLsn, fromLsn: plan.baseLsn, ...(chosen ? { tables: chosen } : {}) });
          recordRestoreProgress(deps.metrics, targetDb, p);
        },
        signal: cancellationSignal(),
      });
      // The planner already checked that sealed segments cover an LSN or time target.
      const reachedTarget = r.reachedTarget || target.kind === 'lsn' || target.kind === 'time' || target.kind === 'latest';
      return {
        appliedTransactions: r.appliedTransactions,
        lastEndLsn: r.lastEndLsn ?? plan.baseLsn,
        ...(r.lastCommitTime ? { lastCommitTime: r.lastCommitTime } : {}),
        reachedTarget,
        ...(only ? { partial: only.tally } : {}),
      };
    },

    async findTransactions(input) {
      return findTransactions(deps, input);
    },

    async fixSequences({ targetProfile, targetDb }) {
      const fixes = await fixSequences(onDb(profileOf(targetProfile), targetDb));
      return { adjusted: fixes.length };
    },

    async finishRestore({ targetProfile, targetDb, restoreId, dropDatabase }) {
      const target = onDb(profileOf(targetProfile), targetDb);
      await finishRestore(target, restoreId);
      if (dropDatabase) await dropOwnTargetDatabase(profileOf(targetProfile), targetDb, restoreId);
      // Completed: the database is the user's now, whatever happens to the run's history.
      else await markRestoreCompleted(profileOf(targetProfile), targetDb, restoreId);
    },
  };
}

/**
 * Preflight checks as pure functions of facts gathered from the server
 * (`adapters/pg/preflight-queries.ts`). Each returns one finding; messages name the setting or
 * table to fix, hints say how.
 */
import type { Finding } from './report';

/** What the server told us. `null` means "could not be determined". */
export interface PreflightFacts {
  serverVersionNum: number;
  serverVersion: string;
  database: string;
  walLevel: string;
  maxReplicationSlots: number;
  usedReplicationSlots: number;
  maxWalSenders: number;
  usedWalSenders: number;
  /** The configured capture slot, when it exists already. */
  slot: { name: string; plugin: string | null; database: string | null; slotType: string; failover?: boolean | null } | null;
  superuser: boolean;
  replication: boolean;
  roleName: string;
  maxSlotWalKeepSize: string;
  tablesWithoutIdentity: string[];
  /** Tables with REPLICA IDENTITY FULL that have a primary key or a usable unique index. */
  fullIdentityWithKey: FullIdentityTable[];
  unloggedTables: string[];
  largeObjects: number;
  /** `output_plugin_libraries` when the server has that setting (15.19+ builds), else null. */
  outputPluginLibraries: string | null;
  /** For decoder_raw: null = not checked, else whether loading the plugin worked (and why not). */
  decoderLoad: { ok: boolean; error?: string } | null;
  /** `event_triggers` (PostgreSQL 17+) as the preflight session sees it; absent/null before 17. */
  eventTriggers?: string | null;
}

/** A table that is REPLICA IDENTITY FULL although it has a key. */
export interface FullIdentityTable {
  /** `"schema"."table"` */
  table: string;
  /** The usable unique index (`"name"`) when there is no primary key; null: it has a primary key. */
  index: string | null;
}

export interface PreflightOptions {
  decoder: 'pgoutput' | 'decoder_raw';
  slot?: string;
}

const MIN_VERSION_NUM = 130000;

/**
 * The server majors the test suite runs (capture from, restore onto; README "PostgreSQL
 * majors"). Others at or above 13 are expected to work but unproven: a warning, not a failure.
 */
export const TESTED_MAJORS: readonly number[] = [15, 16, 17, 18];

function finding(check: string, status: Finding['status'], message: string, hint?: string): Finding {
  return hint === undefined ? { check, status, message } : { check, status, message, hint };
}

export function checkVersion(f: PreflightFacts): Finding {
  if (f.serverVersionNum < MIN_VERSION_NUM) {
    return finding('server version', 'fail', `PostgreSQL ${f.serverVersion} is older than 13`, 'upgrade the server to PostgreSQL 13 or later');
  }
  const major = Math.floor(f.serverVersionNum / 10000);
  const tested = TESTED_MAJORS.join(', ');
  return TESTED_MAJORS.includes(major)
    ? finding('server version', 'ok', `PostgreSQL ${f.serverVersion}: major ${major} is tested (tested majors: ${tested})`)
    : finding(
        'server version',
        'warning',
        `PostgreSQL ${f.serverVersion}: major ${major} is not one of the majors pgincr is tested on (${tested}); capture and restore are expected to work but unproven`,
        `run a restore and pgincr verify on this major before relying on it (docs/restore.md "PostgreSQL majors"), or use a tested major`,
      );
}

/**
 * Failover slots (PostgreSQL 17+): whether the capture slot is synchronized to standbys
 * (sync_replication_slots), so a promoted standby has it and capture goes on there; without it
 * a failover loses the slot and the chain needs a new base. Reported, not judged: null below 17
 * or before the slot exists.
 */
export function checkFailoverSlot(f: PreflightFacts): Finding | null {
  if (f.serverVersionNum < 170000 || !f.slot || f.slot.failover === undefined || f.slot.failover === null) return null;
  return f.slot.failover
    ? finding(
        'failover slot',
        'ok',
        `slot ${f.slot.name} is a failover slot: standbys with sync_replication_slots = on keep it, so capture can go on from a promoted standby`,
      )
    : finding(
        'failover slot',
        'ok',
        `slot ${f.slot.name} is not a failover slot: after a failover to a standby it is gone and the chain needs a new base ` +
          `(pgincr setup); ALTER_REPLICATION_SLOT ${f.slot.name} (FAILOVER true) on a replication connection makes it one`,
      );
}

/**
 * `event_triggers = off` (a 17+ setting) stops every event trigger, the capture schema's DDL
 * triggers included: DDL would be missing from the stream and restores would fail or differ.
 */
export function checkEventTriggers(f: PreflightFacts): Finding | null {
  if (f.eventTriggers === undefined || f.eventTriggers === null) return null;
  return f.eventTriggers === 'on'
    ? finding('event_triggers', 'ok', 'event_triggers is on')
    : finding(
        'event_triggers',
        'fail',
        `event_triggers is '${f.eventTriggers}': pgincr's DDL event triggers would not fire, and DDL would be missing from the segments`,
        'ALTER SYSTEM RESET event_triggers; SELECT pg_reload_conf(); and remove any ALTER DATABASE/ROLE … SET event_triggers = off',
      );
}

export function checkWalLevel(f: PreflightFacts): Finding {
  return f.walLevel === 'logical'
    ? finding('wal_level', 'ok', "wal_level is 'logical'")
    : finding(
        'wal_level',
        'fail',
        `wal_level is '${f.walLevel}'; set wal_level = logical in postgresql.conf and restart`,
        "ALTER SYSTEM SET wal_level = 'logical'; then restart PostgreSQL",
      );
}

/** A new capture slot (unless ours exists) plus one temporary slot for later full backups. */
export function checkSlots(f: PreflightFacts, o: PreflightOptions): Finding[] {
  const needed = (f.slot ? 0 : 1) + 1;
  const freeSlots = f.maxReplicationSlots - f.usedReplicationSlots;
  const freeSenders = f.maxWalSenders - f.usedWalSenders;
  const limit = (name: string, free: number, max: number): Finding => {
    const message = `${name}: ${free} free of ${max}`;
    const hint = `raise ${name} in postgresql.conf (pgincr needs ${needed} free) and restart`;
    if (free < needed - 1) return finding(name, 'fail', message, hint);
    if (free < needed) return finding(name, 'warning', `${message}; none left for the temporary slot of full backups`, hint);
    return finding(name, 'ok', message);
  };
  const out = [limit('max_replication_slots', freeSlots, f.maxReplicationSlots), limit('max_wal_senders', freeSenders, f.maxWalSenders)];
  if (f.slot && o.slot) {
    const expected = o.decoder;
    if (f.slot.slotType !== 'logical' || f.slot.plugin !== expected || f.slot.database !== f.database) {
      out.push(
        finding(
          'slot',
          'fail',
          `slot ${o.slot} exists for ${f.slot.slotType} decoding with plugin ${f.slot.plugin ?? '(none)'} on database ${f.slot.database ?? '(none)'}, not ${expected} on ${f.database}`,
          `choose another capture.slot name, or drop that slot if it is unused (pgincr slot drop ${o.slot} --confirm ${o.slot})`,
        ),
      );
    } else {
      out.push(finding('slot', 'ok', `slot ${o.slot} exists (${expected})`));
    }
  }
  return out;
}

export function checkPrivileges(f: PreflightFacts): Finding[] {
  const replication =
    f.superuser || f.replication
      ? finding('replication privilege', 'ok', `role ${f.roleName} may use replication`)
      : finding('replication privilege', 'fail', `role ${f.roleName} has neither REPLICATION nor SUPERUSER`, `ALTER ROLE ${f.roleName} REPLICATION;`);
  const superuser = f.superuser
    ? finding('superuser', 'ok', `role ${f.roleName} is a superuser`)
    : finding(
        'superuser',
        'fail',
        `role ${f.roleName} is not a superuser; the DDL event triggers of the capture schema need one`,
        'run setup as a superuser (or on managed services, a role allowed to create event triggers)',
      );
  return [replication, superuser];
}

export function checkWalKeep(f: PreflightFacts): Finding {
  return f.maxSlotWalKeepSize === '-1'
    ? finding(
        'max_slot_wal_keep_size',
        'warning',
        'max_slot_wal_keep_size is -1 (unlimited): a stopped capture keeps WAL until the disk is full',
        "set max_slot_wal_keep_size (e.g. '50GB') and watch `pgincr check`; a slot that passes it is lost and needs a new base",
      )
    : finding('max_slot_wal_keep_size', 'ok', `max_slot_wal_keep_size is ${f.maxSlotWalKeepSize} MB`);
}

export function checkTables(f: PreflightFacts): Finding[] {
  const out: Finding[] = [];
  out.push(
    f.tablesWithoutIdentity.length
      ? finding(
          'replica identity',
          'warning',
          `tables without primary key or replica identity (updates and deletes cannot be captured, and fail under a publication): ${f.tablesWithoutIdentity.join(', ')}`,
          'setup sets REPLICA IDENTITY USING INDEX or FULL on them (setup.fixReplicaIdentity), or add primary keys',
        )
      : finding('replica identity', 'ok', 'every table has a primary key or a replica identity'),
  );
  const full = fullIdentityWarning(f.fullIdentityWithKey);
  out.push(
    full
      ? finding('replica identity full', 'warning', full.message, full.hint)
      : finding('replica identity full', 'ok', 'no table is REPLICA IDENTITY FULL while it has a key'),
  );
  out.push(
    f.unloggedTables.length
      ? finding(
          'unlogged tables',
          'warning',
          `UNLOGGED tables, whose changes cannot be captured: ${f.unloggedTables.join(', ')}`,
          'ALTER TABLE … SET LOGGED to back them up incrementally; otherwise only their definition is restored',
        )
      : finding('unlogged tables', 'ok', 'no UNLOGGED tables'),
  );
  out.push(
    f.largeObjects > 0
      ? finding(
          'large objects',
          'warning',
          `${f.largeObjects} large objects: they are in base dumps, but changes to them are not captured`,
          'store the data in bytea columns to have it captured',
        )
      : finding('large objects', 'ok', 'no large objects'),
  );
  return out;
}

/**
 * The warning for tables that are REPLICA IDENTITY FULL although they have a primary key or a
 * usable unique index (set by a user, or before pgincr returned its own FULL to the key): what
 * it costs, the tables, and the ALTERs that fix it. Shared by preflight and `pgincr check`.
 */
export function fullIdentityWarning(tables: readonly FullIdentityTable[]): { message: string; hint: string } | null {
  if (tables.length === 0) return null;
  const shown = tables.slice(0, 10);
  const more = tables.length > shown.length ? ` and ${tables.length - shown.length} more` : '';
  const named = shown.map((t) => `${t.table} (${t.index === null ? 'primary key' : `unique index ${t.index}`})`).join(', ');
  const fixes = shown.map((t) => `ALTER TABLE ${t.table} REPLICA IDENTITY ${t.index === null ? 'DEFAULT' : `USING INDEX ${t.index}`};`).join(' ');
  return {
    message:
      `tables with REPLICA IDENTITY FULL although they have a key: every UPDATE and DELETE logs the whole old row ` +
      `(more WAL and decoding on the source, and the restore matches rows by every column): ${named}${more}`,
    hint: `${fixes}${more ? ' (and the same for the others)' : ''} — pgincr never changes an identity a user set`,
  };
}

/** Splits a list setting as the server shows it (`a, "b c"`) into its elements. */
export function parseListSetting(value: string): string[] {
  return value
    .split(',')
    .map((s) =>
      s
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .replace(/""/g, '"'),
    )
    .filter(Boolean);
}

/** The decoder must be allow-listed (15.19+ `output_plugin_libraries`) and loadable. */
export function checkDecoder(f: PreflightFacts, o: PreflightOptions): Finding {
  if (f.outputPluginLibraries !== null) {
    const allowed = parseListSetting(f.outputPluginLibraries);
    if (!allowed.includes(o.decoder)) {
      const wanted = [...allowed, o.decoder].join(', ');
      return finding(
        'output plugin',
        'fail',
        `output_plugin_libraries is '${f.outputPluginLibraries}' and does not allow ${o.decoder}; set output_plugin_libraries = '${wanted}'`,
        `in postgresql.conf, or: ALTER SYSTEM SET output_plugin_libraries = ${wanted}; SELECT pg_reload_conf();`,
      );
    }
  }
  if (f.decoderLoad && !f.decoderLoad.ok) {
    return finding(
      'output plugin',
      'fail',
      `output plugin ${o.decoder} cannot be loaded: ${f.decoderLoad.error ?? 'unknown error'}`,
      o.decoder === 'decoder_raw' ? 'install decoder_raw (github.com/michaelpq/pg_plugins) into $libdir, or use capture.decoder = pgoutput' : undefined,
    );
  }
  return finding('output plugin', 'ok', `${o.decoder} is available`);
}

/** All checks, in the order a person fixes them. */
export function evaluatePreflight(f: PreflightFacts, o: PreflightOptions): Finding[] {
  return [
    checkVersion(f),
    checkWalLevel(f),
    ...[checkEventTriggers(f)].filter((x): x is Finding => x !== null),
    ...checkPrivileges(f),
    ...checkSlots(f, o),
    ...[checkFailoverSlot(f)].filter((x): x is Finding => x !== null),
    checkDecoder(f, o),
    checkWalKeep(f),
    ...checkTables(f),
  ];
}

/**
 * Shared checks of the fault gauntlet (issue 18): what the segments hold against what the
 * source committed, the durable end of a chain on disk, and one result line per run for the
 * runner's table (`scripts/faults`, `npm run faults -- --runs N`).
 *
 * The source's committed set is read from the server, not from the client: every workload
 * transaction inserts one crash_log row, so `crash_log.xmin` is the set of committed workload
 * xids (a COMMIT whose reply the client lost is in it too). Each must be in exactly one BEGIN
 * marker of the segments (invariants 1 and 3).
 */
import { execFile, execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { appendFileSync, chmodSync, mkdirSync } from 'node:fs';
import { PG_BIN as pgBin } from '../../../src/dev/local-cluster';
import type { WorkflowHandle } from '@temporalio/client';
import type { PgCluster } from '../../helpers/pg-cluster';
import type { CrashRig } from '../crash/crash-rig';
import { findPartial, listSealedSegments, scanSegmentFile, verifySegmentFile } from '../../../src/adapters/fs/segment-files';
import { formatLsn, parseLsn, type Lsn } from '../../../src/core/lsn';

export interface SegmentXids {
  /** xid → how many BEGIN markers carry it (sealed segments and the partial). */
  counts: Map<number, number>;
  /** Sealed segments whose footer checksum, counts and end LSN verified. */
  sealedVerified: number;
}

/**
 * Every BEGIN xid in the chain's segments. Each sealed segment is verified as a restore would
 * (footer body_sha256, counts, last_end_lsn): a sealed segment is never half-written.
 */
export async function segmentXids(chain: string): Promise<SegmentXids> {
  const counts = new Map<number, number>();
  const add = (xid: number) => counts.set(xid, (counts.get(xid) ?? 0) + 1);
  const sealed = await listSealedSegments(chain);
  for (const s of sealed) for (const t of (await verifySegmentFile(s.path)).scan.transactions) add(t.xid);
  const partial = await findPartial(chain);
  if (partial) for (const t of (await scanSegmentFile(partial.path)).scan.transactions) add(t.xid);
  return { counts, sealedVerified: sealed.length };
}

/** The workload xids the source committed (crash_log is insert-only: one row per transaction). */
export async function sourceWorkloadXids(pg: PgCluster, db: string): Promise<Set<number>> {
  const rows = await pg.query<{ xid: string }>('SELECT DISTINCT xmin::text AS xid FROM crash_log', [], db);
  return new Set(rows.map((r) => Number(r.xid)));
}

export interface XidAudit {
  /** Committed on the source, in no segment. */
  lost: number[];
  /** In more than one BEGIN marker. */
  doubled: number[];
  sealedVerified: number;
}

/** Lost and doubled transactions of a stopped capture's chain against the source. */
export async function auditXids(pg: PgCluster, db: string, chain: string): Promise<XidAudit> {
  const { counts, sealedVerified } = await segmentXids(chain);
  const source = await sourceWorkloadXids(pg, db);
  return {
    lost: [...source].filter((x) => !counts.has(x)),
    doubled: [...counts].filter(([, n]) => n > 1).map(([x]) => x),
    sealedVerified,
  };
}

/** The slot's confirmed_flush_lsn as text. */
export async function slotConfirmedLsn(pg: PgCluster, slot = 'pgincr'): Promise<string> {
  const [row] = await pg.query<{ lsn: string | null }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  return row?.lsn ?? '0/0';
}

export { formatLsn };

/** One run's result for the runner's table. */
export interface FaultResult {
  fault: string;
  lost: number;
  doubled: number;
  restoreEqual: boolean;
  /** From the end of the fault (space freed, server back, …) until the slot confirmed the source's LSN of that moment. */
  recoverMs: number | null;
  detail?: string;
}

/** Appends the result to `PGINCR_FAULTS_REPORT` (JSON lines) when the runner set it, and prints it. */
export function reportFault(result: FaultResult): void {
  process.stderr.write(`fault result: ${JSON.stringify(result)}\n`);
  const file = process.env.PGINCR_FAULTS_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify({ ...result, at: new Date().toISOString() })}\n`);
}

/** Mounts a tmpfs of `size` (e.g. '48m') at `dir`, writable by everyone (sticky, like /tmp). */
export function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=1777`, 'tmpfs', dir], { stdio: 'pipe' });
  chmodSync(dir, 0o1777);
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
}

/** Fills the file system holding `file` until ENOSPC (dd stops there); returns the bytes written. */
export function fillDisk(file: string): number {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k'], { stdio: 'pipe' });
  } catch {
    // dd exits non-zero with "No space left on device": that is the point
  }
  return Number(execFileSync('stat', ['-c', '%s', file], { encoding: 'utf8' }).trim());
}

/**
 * The highest attempt of the capture activity seen so far: the pending one's (describe), or a
 * finished one's from the history (a retried activity's started event is written only when it ends).
 */
export async function captureAttempt(rig: CrashRig, capture: WorkflowHandle): Promise<number> {
  const pending = (await rig.pendingActivities(capture)).filter((a) => a.type === 'captureChanges').map((a) => a.attempt);
  const history = await capture.fetchHistory();
  const done = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 1);
  return Math.max(1, ...pending, ...done);
}

const BIN = resolve(__dirname, '../../../bin/pgincr');

/** Runs `bin/pgincr --config <configPath> …` as an operator would; resolves with its exit code and output. */
export function runPgincr(args: string[], configPath: string): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile(BIN, ['--config', configPath, ...args], { env: { ...process.env, PGINCR_LOG_LEVEL: 'error' } }, (error, stdout, stderr) => {
      res({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

/**
 * A small seeded PRNG (mulberry32): a fault run's choices (kill points, hit counts, delays) come
 * from one printed seed, so `PGINCR_FAULT_SEED=<seed>` replays the same plan.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of this run: `PGINCR_FAULT_SEED` when set (a replay), else a fresh one; printed either way. */
export function faultSeed(label: string): number {
  const given = process.env.PGINCR_FAULT_SEED;
  const seed = given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`PGINCR_FAULT_SEED=${given}: expected a non-negative integer`);
  process.stderr.write(`${label}: seed ${seed} (replay with PGINCR_FAULT_SEED=${seed})\n`);
  return seed;
}

/** A transaction of the chain's files: its xid and end LSN. */
export interface ChainTransaction {
  xid: number;
  endLsn: Lsn;
}

/**
 * Every whole transaction in the chain's files, read while a capture may be writing: the open
 * segment first, the sealed ones after (a seal in between only adds to the sealed listing), and
 * read again from the start when a file goes away under the reader (a seal's rename, a gzip).
 */
export async function chainTransactions(chain: string): Promise<ChainTransaction[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const found: ChainTransaction[] = [];
      const partial = await findPartial(chain);
      if (partial) for (const t of (await scanSegmentFile(partial.path)).scan.transactions) found.push({ xid: t.xid, endLsn: t.endLsn });
      for (const s of await listSealedSegments(chain))
        for (const t of (await scanSegmentFile(s.path)).scan.transactions) found.push({ xid: t.xid, endLsn: t.endLsn });
      return found;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT' || attempt >= 5) throw error;
    }
  }
}

/** The slot's acknowledged position, and the xids on disk read after it (invariant 2's evidence at one moment). */
export interface AckSample {
  confirmed: Lsn;
  onDisk: Set<number>;
  at: string;
}

export async function sampleAck(pg: PgCluster, chain: string, slot = 'pgincr'): Promise<AckSample> {
  const confirmed = parseLsn(await slotConfirmedLsn(pg, slot));
  const onDisk = new Set((await chainTransactions(chain)).map((t) => t.xid));
  return { confirmed, onDisk, at: new Date().toISOString() };
}

/**
 * Invariant 2 checked after the fact: every transaction of the final chain that ends at or
 * before a sample's acknowledged position was already on disk when that sample read the files
 * (the files were read after the position). Sound under load and when idle alike: an idle
 * keepalive's acknowledgement has no transaction before it left to write.
 */
export function ackViolations(samples: AckSample[], final: ChainTransaction[]): string[] {
  const problems: string[] = [];
  for (const s of samples) {
    const missing = final.filter((t) => t.endLsn <= s.confirmed && !s.onDisk.has(t.xid));
    if (missing.length > 0) {
      problems.push(
        `at ${s.at} the slot had acknowledged ${formatLsn(s.confirmed)} but ${missing.length} transaction(s) ending before it were not on disk yet, e.g. xid ${missing[0]?.xid} ending ${formatLsn(missing[0]?.endLsn ?? 0n)}`,
      );
    }
  }
  return problems;
}

/**
 * A network between this host and a PostgreSQL server that a test can cut (issue 18, item 3):
 * a network namespace joined to the host by a veth pair on a private /30 (10.200.N.1 here,
 * 10.200.N.2 there), the server started inside it listening on 10.200.N.2. `cut()` drops every
 * packet on the namespace's side of the link (an nftables table in the namespace: packets vanish,
 * nothing is refused, as on a dead link), `heal()` removes the table. The unix socket still
 * works (a file, not the network): the test's own queries and workload are never cut.
 * Needs root, `ip` and `nft` (Debian: iproute2, nftables).
 */
export class NetnsLink {
  private constructor(
    readonly ns: string,
    readonly hostIf: string,
    readonly nsIf: string,
    readonly hostAddress: string,
    readonly serverAddress: string,
  ) {}

  /** Whether this machine can make one (root, ip netns, nft); the reason when not. */
  static unavailable(): string | null {
    const probe = `pgi-probe-${process.pid}`;
    try {
      execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
      execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
      execFileSync('nft', ['--version'], { stdio: 'pipe' });
      return null;
    } catch (err) {
      return `ip netns add / nft failed: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`;
    }
  }

  /** A namespace and veth pair with unique names, on a /30 no interface of this host uses. */
  static create(): NetnsLink {
    const id = `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`.slice(-7);
    const used = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
    let n = 0;
    for (let tries = 0; tries < 50; tries++) {
      n = Math.floor(Math.random() * 250) + 1;
      if (!used.includes(` 10.200.${n}.`)) break;
    }
    const link = new NetnsLink(`pgi-${id}`, `pgih${id}`, `pgin${id}`, `10.200.${n}.1`, `10.200.${n}.2`);
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    try {
      ip('netns', 'add', link.ns);
      ip('link', 'add', link.hostIf, 'type', 'veth', 'peer', 'name', link.nsIf, 'netns', link.ns);
      ip('addr', 'add', `${link.hostAddress}/30`, 'dev', link.hostIf);
      ip('link', 'set', link.hostIf, 'up');
      ip('netns', 'exec', link.ns, 'ip', 'addr', 'add', `${link.serverAddress}/30`, 'dev', link.nsIf);
      ip('netns', 'exec', link.ns, 'ip', 'link', 'set', link.nsIf, 'up');
      ip('netns', 'exec', link.ns, 'ip', 'link', 'set', 'lo', 'up');
    } catch (err) {
      link.destroy();
      throw err;
    }
    return link;
  }

  /** Every packet in or out of the namespace's end of the link is dropped from now on. */
  cut(): void {
    const rules = `table inet pgincr_cut {
  chain input { type filter hook input priority 0; policy accept; iifname "${this.nsIf}" drop; }
  chain output { type filter hook output priority 0; policy accept; oifname "${this.nsIf}" drop; }
}\n`;
    execFileSync('ip', ['netns', 'exec', this.ns, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  heal(): void {
    execFileSync('ip', ['netns', 'exec', this.ns, 'nft', 'delete', 'table', 'inet', 'pgincr_cut'], { stdio: 'pipe' });
  }

  /**
   * Moves a test cluster's server into the namespace: stopped, set to listen on the server
   * address (trust from the /30, as the cluster trusts 127.0.0.1), started again inside it.
   * Stop it with `pg.stopServer()` (pg_ctl signals it from here).
   */
  moveServer(pg: PgCluster): void {
    pg.stopServer('fast');
    const data = join(pg.dir, 'data');
    const net = `${this.serverAddress.replace(/\.2$/, '.0')}/30`;
    appendFileSync(join(data, 'postgresql.conf'), `\n# network-cut test\nlisten_addresses = '${this.serverAddress}'\n`);
    appendFileSync(join(data, 'pg_hba.conf'), `host all all ${net} trust\nhost replication all ${net} trust\n`);
    execFileSync(
      'ip',
      [
        'netns',
        'exec',
        this.ns,
        'runuser',
        '-u',
        pg.user,
        '--',
        join(pgBin, 'pg_ctl'),
        '-D',
        data,
        '-l',
        join(pg.dir, 'server.log'),
        '-w',
        '-t',
        '60',
        'start',
      ],
      { stdio: 'pipe' },
    );
  }

  /** Removes the namespace and the link (idempotent; called even when the test failed). */
  destroy(): void {
    for (const args of [
      ['link', 'del', this.hostIf],
      ['netns', 'del', this.ns],
    ]) {
      try {
        execFileSync('ip', args, { stdio: 'pipe' });
      } catch {
        /* already gone */
      }
    }
  }
}

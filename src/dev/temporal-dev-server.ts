/**
 * A local Temporal dev server (`temporal server start-dev`, Temporal CLI v1.5.1) as a child
 * process: used by `pgincr dev` (embedded default, SQLite file + Web UI) and by the integration
 * tests (headless, in-memory). It registers pgincr's search attributes (src/workflows/boundary.ts). Ports are free ones unless given; readiness means the frontend
 * answers DescribeNamespace for our namespace. The child never outlives this process: `stop()`
 * sends SIGTERM then SIGKILL after 10 s, and an exit/signal hook kills whatever is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { PgincrError } from '../errors';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../workflows/boundary';

export type DevServerLogLevel = 'debug' | 'info' | 'warn' | 'error' | 'never';

export interface DevServerOptions {
  /** The `temporal` executable; default: {@link findTemporalBinary}. */
  binary?: string;
  /** Address to bind (frontend and UI); default 127.0.0.1. */
  ip?: string;
  /** Frontend gRPC port; default: a free port. */
  port?: number;
  /** No Web UI. Default false. */
  headless?: boolean;
  /** Web UI port when not headless; default: a free port. */
  uiPort?: number;
  /** SQLite file for durable state; default: in-memory (lost on stop). */
  dbFile?: string;
  /** Namespace created at startup and waited for ("default" always exists). */
  namespace: string;
  logLevel?: DevServerLogLevel;
  /** Where the server's stdout/stderr go; default: a temp file removed by stop(). */
  logFile?: string;
  /** How long to wait for the server to answer; default 120 s (slow 2-core machines). */
  startTimeoutMs?: number;
  /** More `server start-dev` flags, e.g. ['--sqlite-pragma', 'journal_mode=WAL']. */
  extraArgs?: string[];
}

export interface DevServer {
  /** host:port of the frontend, for Connection/NativeConnection and TEMPORAL_ADDRESS. */
  address: string;
  /** Web UI URL, unless headless. */
  uiUrl?: string;
  namespace: string;
  /** pid of the watchdog that leads the server's process group (`kill -- -pid` ends it all). */
  pid: number;
  logFile: string;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s); idempotent. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;
const LOG_TAIL_BYTES = 4000;
const PORT_ATTEMPTS = 3;

/** The repository root (the folder holding pgincr's package.json), from this file's location. */
function repoRoot(): string | undefined {
  let dir = __dirname;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'pgincr') return dir;
      } catch {
        /* not ours; keep walking up */
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const INSTALL_HINT = 'run scripts/install-deps (builds .tools/bin/temporal, Temporal CLI v1.5.1), or set PGINCR_TEMPORAL_BIN to a temporal executable';

/** Finds the Temporal CLI: $PGINCR_TEMPORAL_BIN, then <repo>/.tools/bin/temporal, then PATH. */
export function findTemporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.PGINCR_TEMPORAL_BIN;
  if (fromEnv) {
    if (isExecutable(fromEnv)) return resolve(fromEnv);
    throw new PgincrError('temporal_binary_missing', `temporal cli not executable: PGINCR_TEMPORAL_BIN=${fromEnv}`, { hint: INSTALL_HINT });
  }
  const looked: string[] = [];
  const root = repoRoot();
  if (root) {
    const local = join(root, '.tools', 'bin', 'temporal');
    if (isExecutable(local)) return local;
    looked.push(local);
  }
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'temporal');
    if (isExecutable(candidate)) return candidate;
  }
  looked.push('$PATH');
  throw new PgincrError('temporal_binary_missing', `temporal cli not found (looked in ${looked.join(', ')})`, { hint: INSTALL_HINT });
}

import { freePort } from '../adapters/net/free-port';

export { freePort };

// ---- nothing outlives us ----
// The server runs under a small sh watchdog in its own process group: when our end of its stdin
// pipe closes (this process exited, even by SIGKILL), the watchdog SIGTERMs the server. stop()
// and the exit/signal hooks signal the whole group.
// (sh gives background jobs /dev/null as stdin, hence the pipe kept as fd 3.)
const WATCHDOG = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'c=$!',
  '(cat <&3 >/dev/null; kill -TERM "$c" 2>/dev/null) &',
  'exec 3<&-',
  `trap 'kill -TERM "$c" 2>/dev/null' TERM INT HUP`,
  's=0',
  'while kill -0 "$c" 2>/dev/null; do wait "$c"; s=$?; done',
  'exit "$s"',
].join('\n');

const children = new Set<ChildProcess>();
/** Temp log folders of running servers, removed with them (also at exit). */
const tempDirs = new Set<string>();
let hooksInstalled = false;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* the group is gone */
  }
}

function killAll(): void {
  for (const child of children) signalGroup(child, 'SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      // Only we listen: restore the default behaviour (die by that signal).
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

/** The last few KB of a log file, for error messages. */
export function logTail(file: string, bytes = LOG_TAIL_BYTES): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const len = Math.min(size, bytes);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').slice(-40).join('\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '(no log)';
  }
}

function startArgs(o: DevServerOptions, ip: string, port: number, uiPort: number | undefined): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(port),
    '--namespace',
    o.namespace,
    '--log-level',
    o.logLevel ?? 'warn',
    '--log-format',
    'json',
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
  ];
  // pgincr's search attributes (database, chain, kind), so the UI's list filters on them.
  for (const d of SEARCH_ATTRIBUTE_DEFINITIONS) args.push('--search-attribute', `${d.name}=${d.type}`);
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  return [...args, ...(o.extraArgs ?? [])];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls DescribeNamespace until it answers, the child exits, or the deadline passes. */
async function waitReady(child: ChildProcess, address: string, namespace: string, deadline: number): Promise<'ready' | 'exited' | 'timeout'> {
  let connection: Connection | undefined;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) return 'exited';
      try {
        connection ??= await Connection.connect({ address, connectTimeout: 2000 });
        await connection.withDeadline(Date.now() + 3000, () => connection!.workflowService.describeNamespace({ namespace }));
        return 'ready';
      } catch {
        await sleep(200);
      }
    }
    return 'timeout';
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    // The child is unref'd: a ref'd timer keeps this process alive until it has exited.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      signalGroup(child, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), STOP_GRACE_MS)));
      const first = await Promise.race([exited.then(() => 'ok' as const), late]);
      clearTimeout(timer);
      if (first === 'late') {
        signalGroup(child, 'SIGKILL');
        await exited;
      }
    } finally {
      clearInterval(keepAlive);
    }
  }
  signalGroup(child, 'SIGKILL'); // the watchdog's `cat`, if still there
  child.stdin?.destroy();
  children.delete(child);
}

/** Starts `temporal server start-dev` and resolves once it serves `namespace`. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const binary = options.binary ?? findTemporalBinary();
  if (!isExecutable(binary)) throw new PgincrError('temporal_binary_missing', `temporal cli not executable: ${binary}`, { hint: INSTALL_HINT });
  const ip = options.ip ?? '127.0.0.1';
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const tempDir = options.logFile ? undefined : mkdtempSync(join(tmpdir(), 'pgincr-temporal-'));
  const logFile = options.logFile ?? join(tempDir!, 'temporal.log');
  if (tempDir) tempDirs.add(tempDir);
  const explicitPorts = options.port !== undefined || options.uiPort !== undefined;
  installExitHooks();

  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const uiPort = options.headless ? undefined : (options.uiPort ?? (await freePort()));
    const address = `${ip}:${port}`;
    const logFd = openSync(logFile, 'a');
    const child = spawn('/bin/sh', ['-c', WATCHDOG, 'temporal-watchdog', binary, ...startArgs(options, ip, port, uiPort)], {
      stdio: ['pipe', logFd, logFd],
      detached: true, // own process group, signalled as a whole
    });
    closeSync(logFd);
    children.add(child);
    // The server must not keep this process alive; the exit hook and the watchdog end it.
    child.unref();
    (child.stdin as unknown as Socket | null)?.unref();
    const spawnError = new Promise<Error>((r) => child.on('error', r)); // also keeps late errors from throwing
    const outcome = await Promise.race([waitReady(child, address, options.namespace, deadline), spawnError]);
    if (outcome === 'ready') {
      let stopping: Promise<void> | undefined;
      return {
        address,
        ...(uiPort === undefined ? {} : { uiUrl: `http://${ip}:${uiPort}` }),
        namespace: options.namespace,
        pid: child.pid ?? -1,
        logFile,
        stop: () =>
          (stopping ??= stopChild(child).then(() => {
            if (tempDir) {
              rmSync(tempDir, { recursive: true, force: true });
              tempDirs.delete(tempDir);
            }
          })),
      };
    }
    await stopChild(child);
    const tail = logTail(logFile);
    const portClash = /address already in use/i.test(tail);
    if (outcome === 'exited' && portClash && !explicitPorts && attempt < PORT_ATTEMPTS && Date.now() < deadline) continue;
    if (tempDir) tempDirs.delete(tempDir); // kept: the error names the log
    const what =
      outcome instanceof Error
        ? `could not run ${binary}: ${outcome.message}`
        : outcome === 'exited'
          ? `exited with ${child.exitCode ?? child.signalCode}`
          : `did not answer within ${Math.round(timeoutMs / 1000)} s`;
    throw new PgincrError('temporal_start_failed', `temporal dev server at ${address} ${what}; log ${logFile}, last lines:\n${tail}`, {
      hint: portClash
        ? 'another process holds the port: choose another one'
        : outcome === 'timeout'
          ? 'the machine may be overloaded: raise startTimeoutMs, or read the log'
          : outcome instanceof Error
            ? INSTALL_HINT
            : 'read the log lines above (bad flag, unwritable --db-filename, port in use)',
    });
  }
}

/**
 * A pgincr worker as its own OS process, started the way README says (`bin/pgincr worker
 * --config FILE`), its output appended to a log file the test keeps for inspection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait';

const BIN = join(__dirname, '../../bin/pgincr');

/** Starts the worker and resolves once it logged 'worker started' (its log's tail in the error if it exits first). */
export async function startWorkerProcess(configFile: string, logFile: string): Promise<ChildProcess> {
  const fd = openSync(logFile, 'a');
  const worker = spawn(BIN, ['worker', '--config', configFile], { stdio: ['ignore', fd, fd], env: { ...process.env, PGINCR_LOG_PRETTY: '0' } });
  closeSync(fd);
  await waitFor(
    'the worker to start',
    async () => {
      if (worker.exitCode !== null) throw new Error(`worker exited ${worker.exitCode}:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
      return readFileSync(logFile, 'utf8').includes('worker started');
    },
    180_000,
    250,
  );
  return worker;
}

/** SIGTERM, then waits for the exit (a worker already gone is fine). */
export async function stopWorkerProcess(worker: ChildProcess | undefined): Promise<void> {
  if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
  const exited = new Promise((r) => worker.once('exit', r));
  worker.kill('SIGTERM');
  await exited;
}

/**
 * findTransactionsWorkflow (the Temporal UI form of `pgincr log`) heartbeats how far it has read
 * (issue 21 item 4): a chain of sealed gzip segments (about 512 MiB of SQL, written with the
 * capture's renderer: the scan is long because of its data) searched by the JSON a person types,
 * through a real worker process (the production heartbeat throttle) and a real Temporal server.
 * While it runs, describe() shows the activity's heartbeat: segments read of those in the window,
 * the segment being read, MiB of SQL read, growing; the result then lists the one match.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { TEST_NAMESPACE, temporalAddress } from '../../helpers/temporal';
import { startWorkerProcess, stopWorkerProcess } from '../../helpers/worker-process';
import { writeLogChain, type LogChain } from '../../helpers/log-chain';
import { waitFor } from '../../helpers/pgincr-env';
import { findTransactionsHeartbeat, pendingHeartbeat, type FindTransactionsHeartbeat } from '../../../src/workflows/boundary';
import type { FindTransactionsResult } from '../../../src/activities/types';

jest.setTimeout(300_000);

const SEGMENTS = 64; // 512 MiB: a scan of 10 s or more here, two heartbeats at least (the worker sends one per 5 s)
const SEGMENT_BYTES = 8 << 20;

describe('findTransactionsWorkflow reports its progress in heartbeats while it scans', () => {
  let dir: string;
  let chain: LogChain;
  let worker: ChildProcess | undefined;
  let taskQueue: string;
  let passed = false;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgincr-find-progress-'));
    chain = writeLogChain(join(dir, 'repository'), 'app', { segments: SEGMENTS, segmentBytes: SEGMENT_BYTES });
    taskQueue = `find-progress-${process.pid}-${Date.now()}`;
    const configFile = join(dir, 'pgincr.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        repository: join(dir, 'repository'),
        // The source is not needed: the chain is found in the repository by the database's name.
        profiles: { app: { host: join(dir, 'no-server'), port: 5432, user: 'nobody', dbname: 'app' } },
        defaultProfile: 'app',
        temporal: { address: temporalAddress(), namespace: TEST_NAMESPACE, taskQueue },
      }),
    );
    worker = await startWorkerProcess(configFile, join(dir, 'worker.log'));
  });

  afterAll(async () => {
    await stopWorkerProcess(worker);
    if (dir && passed) rmSync(dir, { recursive: true, force: true });
    else if (dir) process.stderr.write(`find-transactions-progress: kept ${dir} (worker.log) for inspection\n`);
  });

  it('describe() shows segments, the segment being read and MiB read growing, then the result', async () => {
    const connection = await Connection.connect({ address: temporalAddress() });
    try {
      const client = new Client({ connection, namespace: TEST_NAMESPACE });
      // Typed in the UI's input box: every change to the row with id 10010 (the first transaction's).
      const typed = '{"profile": "app", "where": "id=10010"}';
      const handle = await client.workflow.start('findTransactionsWorkflow', {
        taskQueue,
        workflowId: `find-progress-${Date.now()}`,
        args: [JSON.parse(typed)],
      });
      const seen: FindTransactionsHeartbeat[] = [];
      // describe() while the workflow runs; each different heartbeat is kept.
      await waitFor(
        'the search to end',
        async () => {
          const d = await handle.describe();
          const beat = pendingHeartbeat(d.raw, findTransactionsHeartbeat);
          if (beat && JSON.stringify(beat) !== JSON.stringify(seen.at(-1))) seen.push(beat);
          return d.status.name !== 'RUNNING';
        },
        240_000,
        200,
      );
      const result = (await handle.result()) as FindTransactionsResult;
      process.stderr.write(`find-transactions-progress: ${(chain.sqlBytes / 1048576).toFixed(0)} MiB scanned, heartbeats seen: ${JSON.stringify(seen)}\n`);
      // Seen while it ran: at least two different heartbeats, the read growing.
      expect(seen.length).toBeGreaterThanOrEqual(2);
      for (const beat of seen) {
        expect(beat).toMatchObject({ step: 'search', segmentsTotal: SEGMENTS, found: 1, commitLsn: result.transactions[0]!.commitLsn });
        expect(beat.segmentsRead).toBeLessThan(SEGMENTS);
        expect(chain.segments).toContain(beat.segment);
        expect(beat.sqlMiBRead).toBeGreaterThan(0);
        expect(beat.sqlMiBRead).toBeLessThan(chain.sqlBytes / 1048576);
      }
      const [first, last] = [seen[0]!, seen.at(-1)!];
      expect(last.sqlMiBRead).toBeGreaterThan(first.sqlMiBRead);
      expect(last.segmentsRead).toBeGreaterThanOrEqual(first.segmentsRead);
      expect(chain.segments.indexOf(last.segment!)).toBeGreaterThanOrEqual(chain.segments.indexOf(first.segment!));
      // The one match: the chain's first transaction (xid 1001), found in the first segment.
      expect(result.transactions).toHaveLength(1);
      expect(result.transactions[0]).toMatchObject({ xid: 1001, segment: chain.segments[0] });
      passed = true;
    } finally {
      await connection.close();
    }
  });
});

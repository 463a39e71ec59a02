/**
 * Replay: every recorded history in test/fixtures/histories/ (scripts/record-histories) runs
 * against today's workflow code. A change that would break the workflows running when it is
 * deployed (a new, removed or reordered activity, timer, child or signal effect not behind
 * `patched()`) fails here with the history and the event where replay diverged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJsonFile } from './history-json';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import * as workflows from '../../../src/workflows';
import { workerSinks } from '../../../src/worker-sinks';

jest.setTimeout(120_000);

const DIR = join(__dirname, '../../fixtures/histories');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

interface Recorded {
  file: string;
  workflowId: string;
  type: string;
  history: ReturnType<typeof historyFromJsonFile>;
}

const recorded: Recorded[] = files.map((file) => {
  const json = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { workflowId?: string };
  const history = historyFromJsonFile(json);
  const type = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '?';
  return { file, workflowId: json.workflowId ?? file, type, history };
});

describe('recorded workflow histories replay against the current workflow code', () => {
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      /* a Runtime exists already */
    }
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../../src/workflows'), logger: new DefaultLogger('WARN') });
  }, 120_000);

  it('has a history of every workflow src/workflows/index.ts exports, and a continued-as-new capture', () => {
    const types = new Set(recorded.map((r) => r.type));
    expect(Object.keys(workflows).filter((name) => !types.has(name))).toEqual([]);
    expect(recorded.some((r) => r.type === 'captureWorkflow' && r.history.events?.some((e) => e.workflowExecutionContinuedAsNewEventAttributes))).toBe(true);
  });

  it('replays every history without a nondeterminism error', async () => {
    const failures: string[] = [];
    const results = Worker.runReplayHistories(
      { workflowBundle: bundle, replayName: 'pgincr-replay-test', sinks: workerSinks },
      recorded.map((r) => ({ workflowId: r.workflowId, history: r.history })),
    );
    let replayed = 0;
    for await (const result of results) {
      // Results come in the order given (runs of one continued workflow share its id).
      const file = recorded[replayed]?.file ?? result.workflowId;
      replayed += 1;
      if (result.error) failures.push(`${file}: ${result.error.message.split('\n').slice(0, 3).join(' ')}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(recorded.length);
  });
});

/**
 * Reads a history JSON file (the format `temporal workflow show --output json` and the UI's
 * download write) into a History for Worker.runReplayHistories. The SDK's historyFromJSON does the
 * same, but in this install @temporalio/common and @temporalio/proto each carry their own copy of
 * protobufjs 8 (npm could not hoist it past the root's protobufjs 7), and the SDK's reader checks
 * the type against the other copy ("type must be a Type"); this one uses @temporalio/proto's copy.
 */
import { dirname } from 'node:path';
import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

const protoDir = dirname(require.resolve('@temporalio/proto/package.json'));
const { fromJson } = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as {
  fromJson: (type: unknown, json: unknown, options: object) => History | null;
};
const { patchProtobufRoot } = require('@temporalio/proto/lib/patch-protobuf-root') as {
  patchProtobufRoot: (root: unknown) => { lookupType(name: string): unknown };
};
const historyType = patchProtobufRoot(require('@temporalio/proto') as unknown).lookupType('temporal.api.history.v1.History');

/** `WorkflowExecutionStarted` → `EVENT_TYPE_WORKFLOW_EXECUTION_STARTED`, as the SDK's reader fixes enum values. */
function fixEnum(obj: Record<string, unknown>, attr: string, prefix: string): Record<string, unknown> {
  const value = obj[attr];
  if (typeof value !== 'string') return {};
  return { [attr]: value.startsWith(prefix) ? value : `${prefix}_${value.replace(/[^\b][A-Z]/g, (m) => `${m[0]}_${m[1]}`).toUpperCase()}` };
}

export function historyFromJsonFile(json: unknown): History {
  const events = (json as { events?: Record<string, unknown>[] }).events;
  if (!Array.isArray(events)) throw new TypeError('not a history: expected an object with an array of events');
  const fixed = events.map((e) => {
    const type = Object.keys(e).find((k) => k.endsWith('EventAttributes'));
    if (!type) throw new TypeError(`a history event without attributes: ${JSON.stringify(e).slice(0, 200)}`);
    const attrs = e[type] as Record<string, unknown>;
    const taskQueue = attrs.taskQueue as Record<string, unknown> | undefined;
    const childInfo = attrs.childWorkflowExecutionFailureInfo as Record<string, unknown> | undefined;
    return {
      ...e,
      ...fixEnum(e, 'eventType', 'EVENT_TYPE'),
      [type]: {
        ...attrs,
        ...(taskQueue ? { taskQueue: { ...taskQueue, ...fixEnum(taskQueue, 'kind', 'TASK_QUEUE_KIND') } } : {}),
        ...fixEnum(attrs, 'parentClosePolicy', 'PARENT_CLOSE_POLICY'),
        ...fixEnum(attrs, 'workflowIdReusePolicy', 'WORKFLOW_ID_REUSE_POLICY'),
        ...fixEnum(attrs, 'initiator', 'CONTINUE_AS_NEW_INITIATOR'),
        ...fixEnum(attrs, 'retryState', 'RETRY_STATE'),
        ...(childInfo ? { childWorkflowExecutionFailureInfo: { ...childInfo, ...fixEnum(childInfo, 'retryState', 'RETRY_STATE') } } : {}),
      },
    };
  });
  const history = fromJson(historyType, { events: fixed }, { ignoreUnknownFields: true });
  if (!history) throw new TypeError('not a history');
  return history;
}

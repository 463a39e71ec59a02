/**
 * `pgincr check`'s own DescribeWorkflowExecution (src/adapters/net/temporal-describe.ts) reads
 * the protobuf fields it needs by number: checked against the SDK's own encoding of the same
 * messages (@temporalio/proto), so a wrong field number fails here, not in production.
 */
import Long from 'long';
import { temporal } from '@temporalio/proto';
import { decodeDescribeResponse, encodeDescribeRequest } from '../../src/adapters/net/temporal-describe';

const { DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse } = temporal.api.workflowservice.v1;

const json = (value: unknown) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(value)) });

describe("check's DescribeWorkflowExecution codec", () => {
  it('encodes the request as the SDK does', () => {
    const ours = DescribeWorkflowExecutionRequest.decode(encodeDescribeRequest('ns-é', 'pgincr-capture-app-pgincr'));
    expect(ours.namespace).toBe('ns-é');
    expect(ours.execution?.workflowId).toBe('pgincr-capture-app-pgincr');
    expect(ours.execution?.runId).toBe('');
  });

  it('decodes the status, the JSON memo and the pending activity attempt and last failure; skips the rest', () => {
    const bytes = DescribeWorkflowExecutionResponse.encode({
      executionConfig: { taskQueue: { name: 'pgincr' } },
      workflowExecutionInfo: {
        execution: { workflowId: 'w', runId: 'r' },
        type: { name: 'captureWorkflow' },
        startTime: { seconds: Long.fromNumber(1_800_000_000), nanos: 5 },
        status: temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
        historyLength: Long.fromNumber(42),
        memo: {
          fields: {
            pgincrCaptureState: json('paused'),
            pgincrDurableLsn: json('0/16B3748'),
            binary: { metadata: { encoding: Buffer.from('binary/plain') }, data: Buffer.from([1, 2]) },
          },
        },
        searchAttributes: { indexedFields: { PgincrKind: json('capture') } },
      },
      pendingActivities: [
        {
          activityId: '1',
          activityType: { name: 'captureChanges' },
          attempt: 7,
          heartbeatDetails: { payloads: [json({ lastDurableLsn: '0/1' })] },
          lastFailure: { message: 'connect ECONNREFUSED', source: 'TypeScriptSDK', applicationFailureInfo: { type: 'Error', nonRetryable: false } },
        },
        { activityId: '2', attempt: 2, lastFailure: { message: 'timed out', timeoutFailureInfo: { timeoutType: 3 } } },
      ],
    }).finish();
    expect(decodeDescribeResponse(Buffer.from(bytes))).toEqual({
      status: 'RUNNING',
      memo: { pgincrCaptureState: 'paused', pgincrDurableLsn: '0/16B3748' },
      pendingActivities: [
        {
          attempt: 7,
          lastFailure: { message: 'connect ECONNREFUSED', applicationFailureInfo: { type: 'Error' }, timeoutFailureInfo: null, canceledFailureInfo: null },
        },
        { attempt: 2, lastFailure: { message: 'timed out', applicationFailureInfo: null, timeoutFailureInfo: {}, canceledFailureInfo: null } },
      ],
    });
    const closed = DescribeWorkflowExecutionResponse.encode({
      workflowExecutionInfo: { status: temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED },
    }).finish();
    expect(decodeDescribeResponse(Buffer.from(closed))).toEqual({ status: 'CANCELLED', memo: {}, pendingActivities: [] });
  });

  it('refuses a truncated message instead of reading past it', () => {
    const bytes = Buffer.from(DescribeWorkflowExecutionResponse.encode({ workflowExecutionInfo: { execution: { workflowId: 'w' } } }).finish());
    expect(() => decodeDescribeResponse(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
  });
});

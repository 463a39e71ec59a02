/**
 * The typed Temporal boundary (src/workflows/boundary.ts) and the client's labels (src/client.ts):
 * heartbeats and query results decode through one schema each, a foreign shape is refused
 * rather than guessed, and a start refused for an unregistered search attribute is recognised.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceError } from '@temporalio/client';
import {
  captureHeartbeat,
  captureStatus,
  decodeHeartbeat,
  decodeResult,
  pendingHeartbeat,
  restoreHeartbeat,
  searchAttributeCommands,
  workflowKinds,
} from '../../../src/workflows/boundary';
import { labelOptions, labelsFor, sourceOf, unregisteredSearchAttribute } from '../../../src/client';
import { parseConfig } from '../../../src/config';
import * as workflows from '../../../src/workflows';

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('boundary decoders', () => {
  it("decode a capture heartbeat from an attempt's details or describe()'s payload bytes; refuse other shapes", () => {
    const beat = { lastDurableLsn: '0/16B3748', segment: 'x.partial', bytes: 10, txns: 2 };
    expect(decodeHeartbeat(captureHeartbeat, beat)).toEqual(beat);
    expect(decodeHeartbeat(captureHeartbeat, bytes(beat))).toEqual(beat);
    expect(decodeHeartbeat(captureHeartbeat, { lastDurableLsn: 5 })).toBeUndefined();
    expect(decodeHeartbeat(captureHeartbeat, new TextEncoder().encode('not json'))).toBeUndefined();
    expect(decodeHeartbeat(captureHeartbeat, undefined)).toBeUndefined();
  });

  it("read the first pending activity's restore heartbeat: plan, base or applier", () => {
    const raw = (details: unknown) => ({ pendingActivities: [{ heartbeatDetails: { payloads: [{ data: bytes(details) }] } }] });
    expect(pendingHeartbeat(raw({ step: 'plan', verified: 2, of: 5 }), restoreHeartbeat)).toEqual({ step: 'plan', verified: 2, of: 5 });
    const applier = { transactions: 7, lsn: '0/1', bytesDone: 10, bytesTotal: 40, etaSeconds: null, segmentIndex: 1, segmentCount: 3, appliedTransactions: 7 };
    expect(pendingHeartbeat(raw(applier), restoreHeartbeat)).toMatchObject({ transactions: 7, bytesDone: 10, bytesTotal: 40 });
    expect(pendingHeartbeat({ pendingActivities: [] }, restoreHeartbeat)).toBeUndefined();
  });

  it('decode a query result, or name the field that does not fit', () => {
    const status = { state: 'running', lastDurableLsn: null, iterations: 0, transactions: 0, changes: 0, bytes: 0, segmentsSealed: 0, lastRunEndedAt: null };
    expect(decodeResult(captureStatus, status, 'status')).toEqual(status);
    expect(() => decodeResult(captureStatus, { ...status, state: 'sleeping' }, 'capture status query')).toThrow(
      /capture status query returned an unexpected shape \(state: /,
    );
  });

  it("know every exported workflow's kind", () => {
    expect(Object.keys(workflows).filter((name) => !workflowKinds[name])).toEqual([]);
  });
});

describe('client labels', () => {
  let repository: string;
  beforeAll(() => {
    repository = mkdtempSync(join(tmpdir(), 'pgincr-labels-'));
    mkdirSync(join(repository, '7312000000000000001-app'));
    mkdirSync(join(repository, '7312000000000000002-other'));
  });
  afterAll(() => rmSync(repository, { recursive: true, force: true }));
  const config = () => parseConfig({ repository, profiles: { app: { dbname: 'app' }, fresh: { dbname: 'fresh' } } }, {}, 'test');

  it('take the database from the profile and the chain from the repository', () => {
    expect(sourceOf(config(), 'app')).toEqual({ database: 'app', chain: '7312000000000000001-app' });
    expect(sourceOf(config(), 'fresh')).toEqual({ database: 'fresh' }); // before setup: no chain yet
    const labels = labelsFor(config(), 'app', 'restore', 'into app_copy · to latest', ['app_copy']);
    expect(labels).toEqual({
      kind: 'restore',
      databases: ['app', 'app_copy'],
      chain: '7312000000000000001-app',
      summary: 'restore app · into app_copy · to latest',
    });
    const options = labelOptions(labels);
    expect(options.staticSummary).toBe('restore app · into app_copy · to latest');
    expect(options.typedSearchAttributes.map((p) => [p.key.name, p.value])).toEqual([
      ['PgincrKind', 'restore'],
      ['PgincrDatabase', ['app', 'app_copy']],
      ['PgincrChain', '7312000000000000001-app'],
    ]);
  });

  it("recognise the server's refusal of an unregistered search attribute, and nothing else", () => {
    const grpc = Object.assign(new Error('3 INVALID_ARGUMENT: Namespace bare has no mapping defined for search attribute PgincrKind'), {
      code: 3,
      details: 'Namespace bare has no mapping defined for search attribute PgincrKind',
    });
    expect(unregisteredSearchAttribute(new ServiceError('Failed to start Workflow', { cause: grpc }))).toBe(
      'Namespace bare has no mapping defined for search attribute PgincrKind',
    );
    expect(
      unregisteredSearchAttribute(new ServiceError('Failed to start Workflow', { cause: new Error('14 UNAVAILABLE: connection refused') })),
    ).toBeUndefined();
    expect(searchAttributeCommands('prod')[0]).toBe('temporal operator search-attribute create --namespace prod --name PgincrDatabase --type KeywordList');
  });
});

/**
 * One Temporal call, DescribeWorkflowExecution, over plain gRPC (node:http2) with the few
 * protobuf fields `pgincr check` reads: the status, the memo (JSON payloads) and the pending
 * activities' attempt and last failure. Why not the SDK: @temporalio/client loads some 260
 * modules and builds the reflection of Temporal's whole API at load, about 500 ms of CPU on these
 * 2-core machines, twice what the rest of `pgincr check --nagios` costs (bench/cli-start.ts).
 * Field numbers are Temporal API's (temporal/api/workflowservice/v1/request_response.proto and
 * the messages it names); fields not listed here are skipped, so newer servers decode too.
 */
import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';

export interface TemporalEndpoint {
  address: string;
  namespace: string;
  tls?: { clientCertPath: string; clientKeyPath: string; serverRootCACertificatePath?: string };
}

/** A failure as describe() gives it in `raw` (the fields src/monitor/capture-state.ts reads). */
export interface DescribedFailure {
  message: string;
  applicationFailureInfo: { type: string } | null;
  timeoutFailureInfo: object | null;
  canceledFailureInfo: object | null;
}

export interface DescribedWorkflow {
  /** As the SDK names it: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, CONTINUED_AS_NEW, TIMED_OUT… */
  status: string;
  /** JSON memo values; others are left out. */
  memo: Record<string, unknown>;
  pendingActivities: { attempt: number; lastFailure: DescribedFailure | null }[];
}

const STATUS = ['UNSPECIFIED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'CONTINUED_AS_NEW', 'TIMED_OUT', 'PAUSED'];
const GRPC_NOT_FOUND = 5;

// ---- protobuf: the wire format, for the fields above ----

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

/** A length-delimited field (string or message). */
function lenField(field: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...varint((field << 3) | 2), ...varint(bytes.length)]), bytes]);
}

/** DescribeWorkflowExecutionRequest { namespace = 1; execution = 2 { workflow_id = 1 } }. */
export function encodeDescribeRequest(namespace: string, workflowId: string): Buffer {
  return Buffer.concat([lenField(1, Buffer.from(namespace)), lenField(2, lenField(1, Buffer.from(workflowId)))]);
}

type Field = { field: number; varint?: number; bytes?: Buffer };

/** The fields of one message, in order (varints and length-delimited ones; fixed-width ones skipped). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      if (pos >= buf.length) throw new Error('truncated protobuf varint');
      const b = buf[pos++]!;
      value += (b & 0x7f) * shift;
      if (b < 0x80) return value;
      if (shift > 2 ** 56) throw new Error('protobuf varint too long');
    }
  };
  while (pos < buf.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        out.push({ field, varint: readVarint() });
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = readVarint();
        if (pos + len > buf.length) throw new Error('truncated protobuf field');
        out.push({ field, bytes: buf.subarray(pos, pos + len) });
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${key & 7}`);
    }
  }
  if (pos > buf.length) throw new Error('truncated protobuf message');
  return out;
}

const first = (fs: Field[], n: number) => fs.find((f) => f.field === n);
const text = (f: Field | undefined) => f?.bytes?.toString('utf8') ?? '';

function decodeFailure(buf: Buffer): DescribedFailure {
  const fs = fields(buf);
  const app = first(fs, 5)?.bytes;
  return {
    message: text(first(fs, 1)),
    applicationFailureInfo: app ? { type: text(first(fields(app), 1)) } : null,
    timeoutFailureInfo: first(fs, 6) ? {} : null,
    canceledFailureInfo: first(fs, 7) ? {} : null,
  };
}

/** Memo { map<string, Payload> fields = 1 }: the JSON payloads (metadata encoding json/plain). */
function decodeMemo(buf: Buffer): Record<string, unknown> {
  const memo: Record<string, unknown> = {};
  for (const entry of fields(buf).filter((f) => f.field === 1 && f.bytes)) {
    const e = fields(entry.bytes!);
    const key = text(first(e, 1));
    const payload = first(e, 2)?.bytes;
    if (!payload) continue;
    const p = fields(payload);
    const encoding = p
      .filter((f) => f.field === 1 && f.bytes)
      .map((f) => fields(f.bytes!))
      .find((m) => text(first(m, 1)) === 'encoding');
    if (encoding && text(first(encoding, 2)) === 'json/plain') {
      try {
        memo[key] = JSON.parse(text(first(p, 2)));
      } catch {
        // not JSON after all: left out
      }
    }
  }
  return memo;
}

/** DescribeWorkflowExecutionResponse: workflow_execution_info = 2 (status = 5, memo = 10), pending_activities = 3 (attempt = 7, last_failure = 11). */
export function decodeDescribeResponse(buf: Buffer): DescribedWorkflow {
  const top = fields(buf);
  const info = fields(first(top, 2)?.bytes ?? Buffer.alloc(0));
  const memo = first(info, 10)?.bytes;
  return {
    status: STATUS[first(info, 5)?.varint ?? 0] ?? 'UNSPECIFIED',
    memo: memo ? decodeMemo(memo) : {},
    pendingActivities: top
      .filter((f) => f.field === 3 && f.bytes)
      .map((f) => {
        const a = fields(f.bytes!);
        const failure = first(a, 11)?.bytes;
        return { attempt: first(a, 7)?.varint ?? 1, lastFailure: failure ? decodeFailure(failure) : null };
      }),
  };
}

// ---- gRPC over HTTP/2 ----

/** Describes `workflowId`'s latest run; null when Temporal has no such workflow. Rejects on any other failure or after `timeoutMs`. */
export async function describeWorkflow(endpoint: TemporalEndpoint, workflowId: string, timeoutMs: number): Promise<DescribedWorkflow | null> {
  const tls = endpoint.tls;
  const options: SecureClientSessionOptions = tls
    ? {
        cert: readFileSync(tls.clientCertPath),
        key: readFileSync(tls.clientKeyPath),
        ...(tls.serverRootCACertificatePath ? { ca: readFileSync(tls.serverRootCACertificatePath) } : {}),
      }
    : {};
  const session: ClientHttp2Session = connect(`${tls ? 'https' : 'http'}://${endpoint.address}`, options);
  try {
    return await new Promise<DescribedWorkflow | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Temporal at ${endpoint.address} did not answer within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      session.once('error', fail);
      const body = encodeDescribeRequest(endpoint.namespace, workflowId);
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(body.length, 1);
      const req = session.request({
        ':method': 'POST',
        ':path': '/temporal.api.workflowservice.v1.WorkflowService/DescribeWorkflowExecution',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${timeoutMs}m`,
        'temporal-namespace': endpoint.namespace,
      });
      const chunks: Buffer[] = [];
      let status: { code: number; message: string } | undefined;
      const grpcStatus = (h: Record<string, string | string[] | number | undefined>) => {
        if (h['grpc-status'] === undefined) return;
        status = { code: Number(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'] ?? '')) };
      };
      req.on('response', grpcStatus); // a trailers-only answer (errors) carries it in the headers
      req.on('trailers', grpcStatus);
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', fail);
      req.on('end', () => {
        clearTimeout(timer);
        try {
          if (!status) throw new Error(`Temporal at ${endpoint.address} answered without a gRPC status`);
          if (status.code === GRPC_NOT_FOUND) return resolve(null);
          if (status.code !== 0) throw new Error(`Temporal at ${endpoint.address}: ${status.message || `gRPC status ${status.code}`}`);
          const data = Buffer.concat(chunks);
          if (data.length < 5 || data[0] !== 0) throw new Error(`Temporal at ${endpoint.address} answered with a compressed or empty message`);
          const len = data.readUInt32BE(1);
          if (data.length < 5 + len) throw new Error(`Temporal at ${endpoint.address} answered with a truncated message`);
          resolve(decodeDescribeResponse(data.subarray(5, 5 + len)));
        } catch (err) {
          reject(err);
        }
      });
      req.end(Buffer.concat([frame, body]));
    });
  } finally {
    session.close();
    session.destroy();
  }
}

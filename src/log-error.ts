/**
 * How a failure appears in a log line: the error's name, message, code, SQLSTATE, hint and
 * detail (PostgreSQL's fields when it is a server error), and its cause chain, as plain JSON.
 * pino serializes an `Error` under any key but `err` as `{}`, and its own `err` serializer
 * copies every field, pg's `detail` included; this one is installed for both keys (and for
 * every Error the Temporal SDK hands to the logger), so the reason is always there and no row
 * values or secrets are.
 *
 * Row values: PostgreSQL puts them in `detail` for integrity-constraint violations (class 23:
 * `Key (id)=(42) already exists.`, `Failing row contains (…)`) and data exceptions (class 22).
 * For those the values are cut (the key columns, constraint, table and SQLSTATE stay), and
 * `Error.details` of Temporal failures (an activity's own payload) is never logged.
 */

export interface LoggedError {
  name: string;
  message: string;
  code?: string;
  sqlstate?: string;
  hint?: string;
  detail?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
  /** Temporal failures: the original error's type, and whether Temporal may retry it. */
  type?: string;
  nonRetryable?: boolean;
  stack?: string;
  cause?: LoggedError | string;
}

/** How deep a cause chain is followed (a loop or a long chain stops here). */
const MAX_CAUSES = 8;

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** `scheme://user:password@host` and `password=…` in a message or a stack. */
export function scrubSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/\s@]*:)[^@\s]*@/gi, '$1[redacted]@')
    .replace(/\b(password|passwd|pgpassword)(\s*[=:]\s*)('[^']*'|"[^"]*"|\S+)/gi, '$1$2[redacted]');
}

/**
 * PostgreSQL's detail without row values: `Key (id)=(42) already exists.` keeps the key
 * columns and what happened; other class 22/23 details are withheld whole.
 */
export function safeDetail(detail: string, sqlstate: string | undefined): string {
  if (!sqlstate || !/^2[23]/.test(sqlstate)) return scrubSecrets(detail);
  const key = /^Key \((.*?)\)=\(.*\) (already exists|is not present in table "[^"]*"|is still referenced from table "[^"]*")\.$/s.exec(detail);
  if (key) return `Key (${key[1]})=(…) ${key[2]}.`;
  const conflict = /^Key \((.*?)\)=\(.*\) conflicts with existing key \((.*?)\)=\(.*\)\.$/s.exec(detail);
  if (conflict) return `Key (${conflict[1]})=(…) conflicts with existing key (${conflict[2]})=(…).`;
  return '[withheld: may contain row values]';
}

function field(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** One error (and its causes) as loggable JSON; a non-Error value is returned as it is. */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) return value;
  const e = value as Error & Record<string, unknown>;
  // node-postgres's DatabaseError: `severity` and a five-character `code` (the SQLSTATE).
  const sqlstate = field(e.severity) && SQLSTATE.test(String(e.code)) ? String(e.code) : field(e.sqlState);
  // pg names its server errors 'error' (or 'notice'); the class is DatabaseError.
  const name = sqlstate && field(e.severity) && /^(error|notice)$/.test(e.name) ? 'DatabaseError' : e.name;
  const out: LoggedError = { name, message: scrubSecrets(e.message) };
  const code = field(e.code);
  if (code && code !== sqlstate) out.code = code;
  if (sqlstate) out.sqlstate = sqlstate;
  const hint = field(e.hint);
  if (hint && !e.message.includes(hint)) out.hint = scrubSecrets(hint);
  const detail = field(e.detail);
  if (detail) out.detail = safeDetail(detail, sqlstate);
  for (const key of ['schema', 'table', 'column', 'constraint'] as const) {
    const v = field(e[key]);
    if (v) out[key] = v;
  }
  if (field(e.type)) out.type = String(e.type);
  if (typeof e.nonRetryable === 'boolean') out.nonRetryable = e.nonRetryable;
  if (e.stack) out.stack = scrubSecrets(e.stack);
  if (e.cause !== undefined) {
    const cause = e.cause;
    out.cause =
      depth >= MAX_CAUSES
        ? '[cause chain cut]'
        : cause instanceof Error
          ? (serializeError(cause, depth + 1) as LoggedError)
          : typeof cause === 'string'
            ? scrubSecrets(cause)
            : `[${typeof cause} cause]`;
  }
  return out;
}

/** Every Error-valued field of a log record's metadata, serialized (other fields unchanged). */
export function serializeErrorFields(meta: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(meta)) {
    if (value instanceof Error) {
      out ??= { ...meta };
      out[key] = serializeError(value);
    }
  }
  return out ?? meta;
}

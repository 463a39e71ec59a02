/**
 * Configuration: one zod schema, parsed once at the composition root (worker, CLI).
 *
 * Secrets never live here: a profile names where to connect (libpq conventions); the password
 * comes from PGPASSWORD in the worker's environment, a pgpass file, or a service file.
 * With no config file, the `default` profile is the standard PG* environment, as for psql,
 * and the repository is $PGINCR_REPOSITORY.
 */
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors';
import { parseS3Url, type ObjectStoreLocation } from './core/repository/object-store';
import { recipientProblems, splitRecipients } from './core/repository/encryption';

const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier (a-z, 0-9, _; at most 63)');
const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration like 500ms, 30s, 10m, 1h, 7d');

export const profileSchema = z
  .object({
    host: z.string().optional(),
    port: z.number().int().min(1).max(65535).optional(),
    dbname: z.string().optional(),
    user: z.string().optional(),
    service: z.string().optional(),
    passfile: z.string().optional(),
    sslmode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).optional(),
  })
  .strict();

export const captureSchema = z
  .object({
    decoder: z.enum(['pgoutput', 'decoder_raw']).default('pgoutput'),
    slot: identifier.default('pgincr'),
    publication: identifier.default('pgincr_pub'),
    segmentMaxBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024),
    segmentMaxAge: duration.default('15m'),
    /** How long one capture activity runs before the workflow loops (bounds history). */
    activityRunTime: duration.default('1h'),
    /** Must stay well under the capture activity's heartbeat timeout (20 s). */
    heartbeatInterval: duration.refine((d) => durationMs(d) <= 10_000, 'at most 10s (the capture heartbeat timeout is 20s)').default('5s'),
    /**
     * No byte from the server for this long means the network or the server is gone (like the
     * standby's wal_receiver_timeout): the capture asks for a reply after half of it, then
     * closes its connections and is retried (docs/capture.md, "A dead network").
     */
    receiveTimeout: duration.refine((d) => durationMs(d) >= 2000, 'at least 2s').default('60s'),
    /** How often sequence positions are recorded into the stream. */
    sequenceInterval: duration.default('1m'),
    /** Emit a pg_logical_emit_message this often so an idle database's slot keeps moving; 0 = off. */
    idleMessageInterval: duration.or(z.literal('0')).default('0'),
    compress: z.enum(['none', 'gzip']).default('gzip'),
    /** decoder_raw only: raw pg_recvlogical output allowed on disk before it is paused (soft bound). */
    rawBacklogMaxBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(64 * 1024 * 1024),
    /** What to do with DDL run from inside a function (cannot be replayed as its statement). */
    ddlInFunction: z.enum(['fail', 'warn']).default('warn'),
  })
  .strict();

export const restoreSchema = z
  .object({
    /**
     * A statement outstanding this long with no byte from the target server, and a check over a
     * new connection that does not find it running, means the network or the server is gone: the
     * apply closes its connection and is retried (docs/restore.md, "A dead network").
     */
    receiveTimeout: duration.refine((d) => durationMs(d) >= 2000, 'at least 2s').default('60s'),
  })
  .strict();

export const setupSchema = z
  .object({
    fixReplicaIdentity: z.boolean().default(true),
    dumpFormat: z.enum(['plain', 'directory']).default('plain'),
    dumpJobs: z.number().int().min(1).max(64).default(1),
    noRolePasswords: z.boolean().default(false),
  })
  .strict();

export const scheduleSchema = z.object({ cron: z.string().min(1), paused: z.boolean().default(false) }).strict();

export const schedulesSchema = z
  .object({
    fullBackup: scheduleSchema.default({ cron: '0 2 * * *', paused: false }),
    globalsBackup: scheduleSchema.default({ cron: '30 2 * * *', paused: false }),
    healthCheck: scheduleSchema.default({ cron: '* * * * *', paused: false }),
    retention: scheduleSchema.default({ cron: '0 4 * * *', paused: false }),
    verify: scheduleSchema.default({ cron: '0 5 * * *', paused: false }),
  })
  .strict();

export const retentionSchema = z
  .object({
    segmentsDays: z.number().int().min(1).default(7),
    fullDays: z.number().int().min(1).default(30),
    monthlyForMonths: z.number().int().min(0).default(12),
  })
  .strict();

export const alertsSchema = z
  .object({
    restartLagCriticalBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 ** 3),
    restartLagEmergencyBytes: z
      .number()
      .int()
      .min(0)
      .default(10 * 1024 ** 3),
    restartLagWarningBytes: z
      .number()
      .int()
      .min(0)
      .default(256 * 1024 ** 2),
    noProgressEmergency: duration.default('24h'),
    /** A capture whose activity keeps failing without progress is CRITICAL after this long. */
    captureFailingCritical: duration.default('2m'),
    repositoryDiskWarningPercent: z.number().min(1).max(100).default(80),
    /** With an object store: the age of the oldest durable transaction not yet in the bucket. */
    uploadLagWarning: duration.default('5m'),
    uploadLagCritical: duration.default('15m'),
    /** With an object store: uploads failed in a row. */
    uploadFailuresWarning: z.number().int().min(1).default(1),
    uploadFailuresCritical: z.number().int().min(1).default(5),
    webhookUrl: z.string().url().optional(),
    autoDropSlot: z.boolean().default(false),
  })
  .strict();

export const temporalSchema = z
  .object({
    address: z.string().default('127.0.0.1:7233'),
    namespace: z.string().default('default'),
    taskQueue: z.string().default('pgincr'),
    tls: z.object({ clientCertPath: z.string(), clientKeyPath: z.string(), serverRootCACertificatePath: z.string().optional() }).strict().optional(),
  })
  .strict();

/**
 * An S3-compatible repository (docs/s3-repository.md). No credentials: the worker takes them from
 * the AWS environment (variables, shared credentials file, instance role).
 */
export const s3RepositorySchema = z
  .object({
    url: z.string().startsWith('s3://', 's3://bucket/prefix'),
    /** An S3-compatible server's URL; AWS S3 when absent. */
    endpoint: z.string().url().optional(),
    region: z.string().min(1).optional(),
    forcePathStyle: z.boolean().optional(),
    /** This worker's local folder: the capture's spool and the cache of what restore and verify download. */
    spool: z.string().min(1, 'a folder path'),
    /**
     * Client-side age encryption (docs/s3-repository.md, "Encryption"): the public keys files are
     * encrypted to, and the path of the identity file that decrypts them (never the key itself).
     * $PGINCR_AGE_RECIPIENTS and $PGINCR_AGE_IDENTITY_FILE win over these.
     */
    encryption: z
      .object({
        recipients: z.array(z.string()).optional(),
        identityFile: z.string().min(1, 'a file path').optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Two repositories (docs/s3-repository.md, "Two repositories"): a local repository and its copy in
 * an S3-compatible bucket, like pgBackRest's repo1 and repo2.
 */
export const twoRepositoriesSchema = z
  .object({
    /** The local repository: a folder, as a one-repository config's `repository`. */
    path: z.string().min(1, 'a folder path'),
    /** The copy: an S3 repository without a spool (the local repository is its folder). */
    copy: s3RepositorySchema.omit({ spool: true }),
  })
  .strict();

export const configSchema = z
  .object({
    repository: z.union([z.string().min(1, 'a folder path'), s3RepositorySchema, twoRepositoriesSchema]),
    profiles: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), profileSchema).default({}),
    defaultProfile: z.string().default('default'),
    capture: captureSchema.default(captureSchema.parse({})),
    setup: setupSchema.default(setupSchema.parse({})),
    restore: restoreSchema.default(restoreSchema.parse({})),
    schedules: schedulesSchema.default(schedulesSchema.parse({})),
    retention: retentionSchema.default(retentionSchema.parse({})),
    alerts: alertsSchema.default(alertsSchema.parse({})),
    temporal: temporalSchema.default(temporalSchema.parse({})),
    metricsPort: z.number().int().min(0).max(65535).default(9464),
    /** The address the metrics server listens on; `0.0.0.0` or `::` for every interface. */
    metricsHost: z.string().min(1).default('127.0.0.1'),
  })
  .strict();

/**
 * The parsed configuration. `repository` is always a local folder: the repository itself, or with
 * an object-store repository (`objectStore`) this worker's spool, which mirrors the bucket's layout.
 */
export type Config = Omit<z.infer<typeof configSchema>, 'repository'> & { repository: string; objectStore?: ObjectStoreLocation };
export type Profile = z.infer<typeof profileSchema>;

/** Keys that would put a secret into the config file: refused with a pointer to pgpass. */
const SECRET_KEYS =
  /^(password|passwd|pass|secret|pgpassword|credentials|access_?key(_?id)?|secret_?(access_?)?key|session_?token|aws_[a-z_]+|identity|identities|private_?key)$/i;

function findSecretKeys(value: unknown, path: string[] = []): string[] {
  // An age private key pasted where a public key or a path belongs.
  if (typeof value === 'string') return /AGE-SECRET-KEY-/i.test(value) ? [path.join('.')] : [];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    SECRET_KEYS.test(k) ? [[...path, k].join('.')] : findSecretKeys(v, [...path, k]),
  );
}

/** Renders zod issues as one line per problem: `key.path: what is expected`. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const key = issue.path.length ? issue.path.join('.') : '(top level)';
    return `${key}: ${issue.message}`;
  });
}

/** Validates a parsed config object and applies environment fallbacks. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
  const secrets = findSecretKeys(raw);
  if (secrets.length) {
    const what = (k: string) => {
      const key = k.split('.').at(-1) ?? '';
      if (/^(identity|identities|private_?key|\d+)$/i.test(key) || /encryption/.test(k)) return 'age private keys';
      return /pass/i.test(key) ? 'passwords' : 'credentials';
    };
    throw new ConfigError(`${source}: ${secrets.map((k) => `${k}: ${what(k)} are not allowed in the config file`).join('; ')}`, {
      hint:
        'set PGPASSWORD in the worker environment, or use a pgpass file (profile.passfile) or a service file; ' +
        'S3 credentials come from the AWS environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role); ' +
        'an age identity comes from a file: repository.encryption.identityFile or PGINCR_AGE_IDENTITY_FILE',
    });
  }
  const input = { ...(raw as Record<string, unknown>) };
  if (input.repository === undefined && env.PGINCR_REPOSITORY) input.repository = env.PGINCR_REPOSITORY;
  if (input.temporal === undefined && env.TEMPORAL_ADDRESS) {
    input.temporal = { address: env.TEMPORAL_ADDRESS, ...(env.TEMPORAL_NAMESPACE ? { namespace: env.TEMPORAL_NAMESPACE } : {}) };
  }
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const lines = formatIssues(result.error);
    throw new ConfigError(`${source} is invalid:\n  ${lines.join('\n  ')}`);
  }
  const config = resolveRepository(result.data, input, source, env);
  if (env.TEMPORAL_ADDRESS) config.temporal.address = env.TEMPORAL_ADDRESS;
  if (!config.profiles[config.defaultProfile]) config.profiles[config.defaultProfile] = {};
  return config;
}

/** With an S3 repository: the spool is the local folder every stage works in, the bucket is `objectStore`. */
function resolveRepository(parsed: z.infer<typeof configSchema>, input: Record<string, unknown>, source: string, env: NodeJS.ProcessEnv): Config {
  const { repository, ...rest } = parsed;
  if (typeof repository === 'string') {
    if (repository.startsWith('s3://')) {
      throw new ConfigError(`${source} is invalid:\n  repository: an S3 repository is an object with a local spool folder`, {
        hint: `write "repository": { "url": ${JSON.stringify(repository)}, "spool": "/var/lib/pgincr/spool" } (docs/s3-repository.md)`,
      });
    }
    return { ...rest, repository };
  }
  const copy = 'copy' in repository;
  const s3 = 'copy' in repository ? { ...repository.copy, spool: repository.path } : repository;
  let where: { bucket: string; prefix: string } | null;
  try {
    where = parseS3Url(s3.url);
  } catch (error) {
    throw new ConfigError(`${source} is invalid:\n  repository.url: ${(error as Error).message}`);
  }
  if (!where) throw new ConfigError(`${source} is invalid:\n  repository.url: s3://bucket/prefix`);
  if (rest.capture.decoder === 'decoder_raw') {
    throw new ConfigError(`${source} is invalid:\n  capture.decoder: decoder_raw is not supported with an S3 repository yet`, {
      hint: 'use the pgoutput decoder',
    });
  }
  // Segments seal after a short age by default: the slot is acknowledged only up to what the bucket holds.
  const capture = input.capture as Record<string, unknown> | undefined;
  if (capture?.segmentMaxAge === undefined) rest.capture.segmentMaxAge = '1m';
  const { endpoint, region, forcePathStyle } = s3;
  const encryption = resolveEncryption(s3.encryption, source, env);
  return {
    ...rest,
    repository: s3.spool,
    objectStore: { ...where, endpoint, region, forcePathStyle, ...(copy ? { copy } : {}), ...(encryption ? { encryption } : {}) },
  };
}

/** The repository's age keys: recipients and the identity file's path, from the environment or the config; undefined when unencrypted. */
function resolveEncryption(
  configured: { recipients?: string[] | undefined; identityFile?: string | undefined } | undefined,
  source: string,
  env: NodeJS.ProcessEnv,
): { recipients: string[]; identityFile?: string } | undefined {
  const fromEnv = env.PGINCR_AGE_RECIPIENTS !== undefined && env.PGINCR_AGE_RECIPIENTS.trim() !== '';
  const recipients = fromEnv ? splitRecipients(env.PGINCR_AGE_RECIPIENTS as string) : (configured?.recipients ?? []);
  const identityFile = env.PGINCR_AGE_IDENTITY_FILE || configured?.identityFile;
  if (!recipients.length && !identityFile) {
    if (configured) {
      throw new ConfigError(`${source} is invalid:\n  repository.encryption: needs recipients (to upload) and/or identityFile (to download)`, {
        hint: 'recipients are age public keys (age1…: age-keygen -y identity.txt); identityFile is the path of the identity file (docs/s3-repository.md, "Encryption")',
      });
    }
    return undefined;
  }
  const problems = recipientProblems(recipients).map((p) => `${fromEnv ? 'PGINCR_AGE_RECIPIENTS' : 'repository.encryption'}: ${p}`);
  if (problems.length) throw new ConfigError(`${source} is invalid:\n  ${problems.join('\n  ')}`);
  return { recipients, ...(identityFile ? { identityFile } : {}) };
}

/** Loads `--config FILE` / $PGINCR_CONFIG (JSON), or builds the all-defaults config from env. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const path = file ?? env.PGINCR_CONFIG;
  if (!path) {
    if (!env.PGINCR_REPOSITORY) {
      throw new ConfigError('no config file and no PGINCR_REPOSITORY', {
        hint: 'pass --config FILE, set PGINCR_CONFIG, or set PGINCR_REPOSITORY to the backup folder',
      });
    }
    return parseConfig({}, env, 'environment');
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${path}`, { cause, hint: 'check the path and its permissions' });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseConfig(raw, env, `config file ${path}`);
}

/** Parses a duration string (`30s`, `15m`) into milliseconds. */
export function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new ConfigError(`invalid duration ${JSON.stringify(text)}: expected e.g. 30s, 15m, 1h`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

/**
 * The Temporal client side: connect with the configured address/namespace/TLS and start or
 * signal pgincr's workflows, labelled for the UI (search attributes and a summary line).
 * Used by the CLI, the schedules and tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Client, Connection, type WorkflowHandleWithFirstExecutionRunId, type WorkflowStartOptions } from '@temporalio/client';
import type { Duration, SearchAttributePair } from '@temporalio/common';
import type { Config } from './config';
import { parseChainDirName } from './core/repository/paths';
import { searchAttributeCommands, searchAttributes, type WorkflowKind } from './workflows/boundary';
import type * as workflows from './workflows';

/**
 * The workflows a client can start, by the name of their exported function: the name, the
 * arguments and the result are checked against the functions themselves (a type-only import, so
 * the CLI loads no workflow code).
 */
export type WorkflowName = keyof typeof workflows;
export type WorkflowArgs<N extends WorkflowName> = Parameters<(typeof workflows)[N]>;
export type WorkflowResult<N extends WorkflowName> = Awaited<ReturnType<(typeof workflows)[N]>>;

/** `connectTimeout`: how long to try before giving up (the SDK's default is 10 s). */
export async function connectTemporal(config: Config, options: { connectTimeout?: Duration } = {}): Promise<Client> {
  const { address, namespace, tls } = config.temporal;
  const connection = await Connection.connect({
    address,
    ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
    tls: tls
      ? {
          clientCertPair: { crt: readFileSync(tls.clientCertPath), key: readFileSync(tls.clientKeyPath) },
          ...(tls.serverRootCACertificatePath ? { serverRootCACertificate: readFileSync(tls.serverRootCACertificatePath) } : {}),
        }
      : undefined,
  });
  return new Client({ connection, namespace });
}

export async function closeTemporal(client: Client): Promise<void> {
  await client.connection.close();
}

// ---- what the Temporal UI shows: search attributes and a summary line ----

/** How a workflow started by pgincr is labelled in the UI (src/workflows/boundary.ts, searchAttributes). */
export interface WorkflowLabels {
  kind: WorkflowKind;
  /** The databases it reads or writes: the source first; for a restore also the target. */
  databases: string[];
  /** The chain folder's name (`<system_identifier>-<dbname>`), when the repository has it. */
  chain?: string;
  /** One line for the UI's list. */
  summary: string;
}

/**
 * The source database and chain of `profile` as the client can tell them without connecting:
 * the profile's dbname (else $PGDATABASE), and the one chain folder of that database in the
 * repository (none before setup, or when the repository is not readable here).
 */
export function sourceOf(config: Config, profile: string): { database?: string; chain?: string } {
  const dbname = config.profiles[profile]?.dbname ?? process.env.PGDATABASE;
  let chains: { name: string; database: string }[] = [];
  try {
    chains = readdirSync(config.repository).flatMap((name) => {
      const parsed = parseChainDirName(name);
      return parsed ? [{ name, database: parsed.database }] : [];
    });
  } catch {
    /* no repository here: no chain label */
  }
  const mine = dbname ? chains.filter((c) => c.database === dbname) : chains;
  const chain = mine.length === 1 ? mine[0] : undefined;
  const database = dbname ?? chain?.database;
  return { ...(database ? { database } : {}), ...(chain ? { chain: chain.name } : {}) };
}

/** The labels of a `kind` workflow on `profile`'s database; `summary` is the text after "<kind> <database>". */
export function labelsFor(config: Config, profile: string, kind: WorkflowKind, detail = '', extraDatabases: string[] = []): WorkflowLabels {
  const { database, chain } = sourceOf(config, profile);
  const subject = database ?? `profile ${profile}`;
  return {
    kind,
    databases: [...new Set([...(database ? [database] : []), ...extraDatabases])],
    ...(chain ? { chain } : {}),
    summary: `${kind} ${subject}${detail ? ` · ${detail}` : ''}`,
  };
}

/** The start options that carry `labels`. */
export function labelOptions(labels: WorkflowLabels): { typedSearchAttributes: SearchAttributePair[]; staticSummary: string } {
  return {
    typedSearchAttributes: [
      { key: searchAttributes.kind, value: labels.kind },
      ...(labels.databases.length ? [{ key: searchAttributes.database, value: labels.databases }] : []),
      ...(labels.chain ? [{ key: searchAttributes.chain, value: labels.chain }] : []),
    ] as SearchAttributePair[],
    staticSummary: labels.summary,
  };
}

/** The server's refusal of a start because a search attribute is not registered in the namespace (its message), else undefined. */
export function unregisteredSearchAttribute(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const said = (e as { details?: unknown }).details;
    const text = typeof said === 'string' && said ? said : e.message;
    if (/no mapping defined for search attribute|search attribute \S+ is not (defined|registered)/i.test(text)) return text.replace(/^\d+ [A-Z_]+: /, '');
  }
  return undefined;
}

/** What to say when the server lacks the search attributes (the start goes on without them). */
export function unregisteredSearchAttributesMessage(namespace: string, said: string): string {
  return (
    `the Temporal server has no pgincr search attributes in namespace ${namespace} (${said}); ` +
    'started without them: the UI cannot filter pgincr workflows by database, chain or kind. ' +
    `Register them once with: ${searchAttributeCommands(namespace).join(' && ')}`
  );
}

/**
 * Starts a workflow labelled for the UI. A server without pgincr's search attributes (an
 * existing deployment) does not stop the job: it starts again without them (the summary stays)
 * and `warn` names the attributes and the commands that register them.
 */
export async function startLabelled<N extends WorkflowName>(
  client: Client,
  type: N,
  options: WorkflowStartOptions & { args: WorkflowArgs<N> },
  labels: WorkflowLabels,
  warn: (message: string) => void = (m) => process.stderr.write(`warning: ${m}\n`),
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const labelled = labelOptions(labels);
  try {
    return await client.workflow.start(type, { ...options, ...labelled });
  } catch (err) {
    const said = unregisteredSearchAttribute(err);
    if (said === undefined) throw err;
    warn(unregisteredSearchAttributesMessage(client.options.namespace, said));
    return client.workflow.start(type, { ...options, staticSummary: labelled.staticSummary });
  }
}

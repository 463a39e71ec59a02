/**
 * Search attributes and summaries of the workflows a workflow starts (setup's capture, verify's
 * scratch restore) and the chain setup learns. Set only when the parent carries pgincr's search
 * attributes: that proves the server has them registered, and an unregistered attribute in a
 * workflow command would fail every workflow task (a stuck workflow, not a missing label).
 */
import { patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import { searchAttributes, type WorkflowKind } from './boundary';

/** Whether this workflow was started with pgincr's search attributes. */
export function labelled(): boolean {
  return workflowInfo().typedSearchAttributes.get(searchAttributes.kind) !== undefined;
}

/** The chain folder's name from its path (no path module in the workflow sandbox). */
export function chainName(chainDir: string): string {
  return chainDir.split('/').filter(Boolean).pop() ?? chainDir;
}

/** A child's search attributes: the parent's databases (plus `extraDatabases`), `chain`, `kind`. */
export function childSearchAttributes(kind: WorkflowKind, options: { chain?: string; extraDatabases?: string[] } = {}): SearchAttributePair[] | undefined {
  if (!labelled()) return undefined;
  const sa = workflowInfo().typedSearchAttributes;
  const databases = [...(sa.get(searchAttributes.database) ?? []), ...(options.extraDatabases ?? [])];
  const chain = options.chain ?? sa.get(searchAttributes.chain);
  return [
    { key: searchAttributes.kind, value: kind },
    ...(databases.length ? [{ key: searchAttributes.database, value: [...new Set(databases)] }] : []),
    ...(chain ? [{ key: searchAttributes.chain, value: chain }] : []),
  ] as SearchAttributePair[];
}

/** Records the chain once a workflow learns it (setup: the chain did not exist when it started). */
export function upsertChain(chain: string): void {
  if (!labelled() || workflowInfo().typedSearchAttributes.get(searchAttributes.chain) === chain) return;
  // An upsert is a history event: behind a patch, so setups running older code replay.
  if (patched('search-attributes')) upsertSearchAttributes([{ key: searchAttributes.chain, value: chain }]);
}

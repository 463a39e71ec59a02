/**
 * Integration files run in parallel jest workers against one dev server; each worker has its own
 * namespace (created by global-setup.ts), so workflow ids such as `pgincr-capture-default` never
 * collide between files running at once. Outside jest (no JEST_WORKER_ID): "default".
 * No imports: jest setupFiles load this before every integration file.
 */
export const MAX_TEST_WORKERS = 4;

export function testNamespaceFor(workerId: string | undefined): string {
  // A server given by TEMPORAL_ADDRESS has only its own namespace: run such a suite with -i.
  const external = process.env.PGINCR_TEST_EXTERNAL_NAMESPACE;
  if (external) return external;
  return workerId ? `pgincr-test-${workerId}` : 'default';
}

export const TEST_NAMESPACE = testNamespaceFor(process.env.JEST_WORKER_ID);

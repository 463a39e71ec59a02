/**
 * jest globalSetup (integration project): one headless Temporal dev server for the whole run,
 * unless TEMPORAL_ADDRESS already points at a server. Test files reach it through
 * process.env.TEMPORAL_ADDRESS (inherited by workers) or, as a fallback, the file named by
 * temporalStateFile(); see ./temporal.ts.
 */
import { writeFileSync } from 'node:fs';
import { startDevServer, type DevServer } from '../../src/dev/temporal-dev-server';
import { TEST_NAMESPACE, temporalStateFile } from './temporal';

declare global {
  var __pgincrTemporal: DevServer | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.TEMPORAL_ADDRESS) {
    process.stderr.write(`\ntemporal: using TEMPORAL_ADDRESS=${process.env.TEMPORAL_ADDRESS}\n`);
    return;
  }
  const started = Date.now();
  const server = await startDevServer({ namespace: TEST_NAMESPACE, headless: true });
  globalThis.__pgincrTemporal = server;
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = TEST_NAMESPACE;
  writeFileSync(temporalStateFile(process.pid), JSON.stringify({ address: server.address, namespace: TEST_NAMESPACE, pid: server.pid }));
  process.stderr.write(`\ntemporal: dev server ${server.address} (pid ${server.pid}) ready in ${Date.now() - started} ms\n`);
}

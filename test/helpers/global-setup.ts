/**
 * jest globalSetup (integration project): one headless Temporal dev server for the whole run,
 * unless TEMPORAL_ADDRESS already points at a server. Test files reach it through
 * process.env.TEMPORAL_ADDRESS (inherited by workers) or, as a fallback, the file named by
 * temporalStateFile(); see ./temporal.ts.
 */
import { writeFileSync } from 'node:fs';
import { startDevServer, type DevServer } from '../../src/dev/temporal-dev-server';
import { MAX_TEST_WORKERS, testNamespaceFor } from './test-namespace';
import { temporalStateFile } from './temporal';

declare global {
  var __pgincrTemporal: DevServer | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.TEMPORAL_ADDRESS) {
    process.env.PGINCR_TEST_EXTERNAL_NAMESPACE = process.env.TEMPORAL_NAMESPACE ?? 'default';
    process.stderr.write(
      `\ntemporal: using TEMPORAL_ADDRESS=${process.env.TEMPORAL_ADDRESS}, namespace ${process.env.PGINCR_TEST_EXTERNAL_NAMESPACE} (run with -i: files share it)\n`,
    );
    return;
  }
  const started = Date.now();
  // One namespace per jest worker (see TEST_NAMESPACE), created with the server.
  const namespaces = Array.from({ length: MAX_TEST_WORKERS }, (_, i) => testNamespaceFor(String(i + 1)));
  const server = await startDevServer({
    namespace: namespaces[namespaces.length - 1]!,
    headless: true,
    extraArgs: namespaces.slice(0, -1).flatMap((n) => ['--namespace', n]),
  });
  globalThis.__pgincrTemporal = server;
  // Workers inherit the address; each sets its own TEMPORAL_NAMESPACE (worker-namespace.ts).
  process.env.TEMPORAL_ADDRESS = server.address;
  writeFileSync(temporalStateFile(process.pid), JSON.stringify({ address: server.address, namespaces, pid: server.pid }));
  process.stderr.write(`\ntemporal: dev server ${server.address} (pid ${server.pid}) ready in ${Date.now() - started} ms\n`);
}

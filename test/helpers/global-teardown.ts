/** jest globalTeardown (integration project): stops the dev server globalSetup started. */
import { rmSync } from 'node:fs';
import { temporalStateFile } from './temporal';

export default async function globalTeardown(): Promise<void> {
  const server = globalThis.__pgincrTemporal;
  if (!server) return;
  globalThis.__pgincrTemporal = undefined;
  rmSync(temporalStateFile(process.pid), { force: true });
  await server.stop();
}

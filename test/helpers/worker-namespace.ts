/**
 * jest setupFiles (integration project):
 * - a CLI or worker process a test spawns without a `temporal` section in its config takes the
 *   namespace from TEMPORAL_NAMESPACE (src/config.ts): point it at this jest worker's own namespace;
 * - free ports (src/adapters/net/free-port.ts) come from this worker's own slice of ports, below
 *   the ones global setup and the kernel hand out, so files running at once never pick the same
 *   port between the check and the bind.
 */
import { TEST_NAMESPACE } from './test-namespace';

process.env.TEMPORAL_NAMESPACE = TEST_NAMESPACE;
const worker = Math.max(1, Number(process.env.JEST_WORKER_ID ?? 1));
const lo = 10000 + ((worker - 1) % 4) * 2500;
process.env.PGINCR_PORT_RANGE = `${lo}-${lo + 2499}`;

/**
 * jest setupFiles (integration project): a CLI or worker process a test spawns without a
 * `temporal` section in its config takes the namespace from TEMPORAL_NAMESPACE (src/config.ts);
 * point it at this jest worker's own namespace.
 */
import { TEST_NAMESPACE } from './test-namespace';

process.env.TEMPORAL_NAMESPACE = TEST_NAMESPACE;

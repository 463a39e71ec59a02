/** Preflight facts of a ready PostgreSQL 15 server, for the pure preflight checks' tests; `over` changes some. */
import type { PreflightFacts } from '../../src/core/preflight/checks';

export const facts = (over: Partial<PreflightFacts> = {}): PreflightFacts => ({
  serverVersionNum: 150020,
  serverVersion: '15.20',
  database: 'app',
  walLevel: 'logical',
  maxReplicationSlots: 10,
  usedReplicationSlots: 0,
  maxWalSenders: 10,
  usedWalSenders: 0,
  slot: null,
  superuser: true,
  replication: true,
  roleName: 'postgres',
  maxSlotWalKeepSize: '1024',
  tablesWithoutIdentity: [],
  fullIdentityWithKey: [],
  unloggedTables: [],
  largeObjects: 0,
  outputPluginLibraries: null,
  decoderLoad: null,
  ...over,
});

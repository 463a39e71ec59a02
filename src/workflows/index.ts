/** Every workflow, for the worker's workflowsPath. */
export { preflightWorkflow } from './preflight';
export { setupWorkflow } from './setup';
export { captureWorkflow } from './capture';
export { restoreWorkflow } from './restore';
export { verifyWorkflow } from './verify';
export { findTransactionsWorkflow } from './find-transactions';
export { fullBackupWorkflow } from './full-backup';
export { globalsBackupWorkflow } from './globals-backup';
export { retentionWorkflow } from './retention';
export { healthCheckWorkflow } from './health-check';

/**
 * Names shared by the worker, the client and the workflows (workflow-safe: no I/O).
 * Workflow ids are business keys so a second start of the same job is refused or reused.
 */
// The one definition of workflow and schedule ids (workflow-safe, import-free).
export { workflowIds, scheduleIds } from './workflows/ids';

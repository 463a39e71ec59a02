/**
 * Workflow and schedule ids: business keys, so a second start of the same job is refused or
 * reused. The one definition (src/constants.ts re-exports it); import-free and workflow-safe, so
 * the workflows, the CLI and `pgincr check` all use it without loading the SDK.
 */
export const workflowIds = {
  preflight: (profile: string) => `pgincr-preflight-${profile}`,
  setup: (profile: string) => `pgincr-setup-${profile}`,
  capture: (profile: string, slot: string) => `pgincr-capture-${profile}-${slot}`,
  fullBackup: (profile: string) => `pgincr-full-backup-${profile}`,
  globalsBackup: (profile: string) => `pgincr-globals-backup-${profile}`,
  restore: (targetDb: string) => `pgincr-restore-${targetDb}`,
  verify: (profile: string) => `pgincr-verify-${profile}`,
  /** The scratch restore a verification runs as its child. */
  verifyRestore: (verifyWorkflowId: string, scratchDb: string) => `${verifyWorkflowId}-restore-${scratchDb}`,
  healthCheck: (profile: string) => `pgincr-health-${profile}`,
  retention: (profile: string) => `pgincr-retention-${profile}`,
};

export const scheduleIds = {
  fullBackup: (profile: string) => `pgincr-full-backup-${profile}`,
  globalsBackup: (profile: string) => `pgincr-globals-backup-${profile}`,
  healthCheck: (profile: string) => `pgincr-health-check-${profile}`,
  retention: (profile: string) => `pgincr-retention-${profile}`,
  verify: (profile: string) => `pgincr-verify-${profile}`,
};

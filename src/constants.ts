/**
 * Names shared by the worker, the client and the workflows (workflow-safe: no I/O).
 * Workflow ids are business keys so a second start of the same job is refused or reused.
 */
export const DEFAULT_TASK_QUEUE = 'pgincr';

export const workflowIds = {
  preflight: (profile: string) => `pgincr-preflight-${profile}`,
  setup: (profile: string) => `pgincr-setup-${profile}`,
  capture: (profile: string, slot: string) => `pgincr-capture-${profile}-${slot}`,
  fullBackup: (profile: string) => `pgincr-full-backup-${profile}`,
  globalsBackup: (profile: string) => `pgincr-globals-backup-${profile}`,
  restore: (targetDb: string) => `pgincr-restore-${targetDb}`,
  verify: (profile: string) => `pgincr-verify-${profile}`,
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

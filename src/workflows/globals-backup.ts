import { long } from './activity-options';
import { backupInput, type BackupInput } from './inputs';
import { parseInput } from './validate';

/** Roles, memberships and tablespaces on their own schedule. */
export async function globalsBackupWorkflow(raw: BackupInput): Promise<{ file: string }> {
  const input = parseInput(backupInput, raw, 'globalsBackupWorkflow');
  return long.dumpGlobals({ profile: input.profile, baseId: 'latest' });
}

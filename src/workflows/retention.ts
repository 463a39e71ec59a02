import { quick } from './activity-options';
import { retentionInput, type RetentionInput } from './inputs';
import { parseInput } from './validate';

/** Expires bases and segments by policy, never what a retained restore point needs. */
export async function retentionWorkflow(raw: RetentionInput): Promise<{ removed: string[]; kept: number }> {
  const input = parseInput(retentionInput, raw, 'retentionWorkflow');
  return quick.applyRetention({ profile: input.profile, dryRun: input.dryRun });
}

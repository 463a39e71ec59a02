import { quick } from './activity-options';
import { preflightInput, type PreflightInput } from './inputs';
import { parseInput } from './validate';
import type { PreflightResult } from '../activities/types';

/** Checks that a database is ready for pgincr and returns the report (never fails on "not ready"). */
export async function preflightWorkflow(raw: PreflightInput): Promise<PreflightResult> {
  const input = parseInput(preflightInput, raw, 'preflightWorkflow');
  return quick.preflight({ profile: input.profile });
}

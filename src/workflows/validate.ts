import { nonRetryable } from './boundary';
import type { z } from 'zod';

/** Parses a workflow input; a bad input fails the workflow at once, naming each bad field. */
export function parseInput<S extends z.ZodTypeAny>(schema: S, raw: unknown, workflow: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(input)'}: ${i.message}`);
  throw nonRetryable(`${workflow} input is invalid: ${problems.join('; ')}`, 'ConfigError');
}

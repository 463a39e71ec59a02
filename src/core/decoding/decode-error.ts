import { PgincrError } from '../../errors';

/**
 * A replication payload that does not follow the pgoutput protocol (truncated, unknown message
 * kind, binary tuple data). Not retryable: the same bytes decode the same way again.
 */
export class DecodeError extends PgincrError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('decode', message, options);
    this.name = 'DecodeError';
  }
}

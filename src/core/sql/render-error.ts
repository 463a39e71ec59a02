import { PgincrError } from '../../errors';

/**
 * A decoded change that cannot be written as exact SQL (no replica identity, an unchanged TOAST
 * value where a value is needed, a GENERATED ALWAYS identity value changed by UPDATE).
 */
export class RenderError extends PgincrError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('render', message, options);
    this.name = 'RenderError';
  }
}

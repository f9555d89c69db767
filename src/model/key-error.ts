/** Model errors that belong to one config key, so `fastlr check` can place them at its line:col. */
import { FastlrError } from '../errors.js';

/** A FastlrError (exit 2) about `path` (e.g. ['model', 'cut'], ['model', 'groups', 1]). */
export class ModelKeyError extends FastlrError {
  constructor(
    readonly path: (string | number)[],
    message: string,
  ) {
    super(message);
    this.name = 'ModelKeyError';
  }
}

/** A long list of layer names shortened to its ends. */
export function abbreviate(names: readonly string[], max = 12): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max / 2).join(', ')}, …, ${names.slice(-max / 2).join(', ')} (${names.length} layers)`;
}

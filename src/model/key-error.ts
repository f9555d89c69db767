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

/** One problem at a config key, as `fastlr check` places it (the message without the key's own name). */
export interface ModelKeyIssue {
  path: (string | number)[];
  message: string;
}

/** Several model-key problems found at once (a misspelt cut and a misspelt split point): each placed at its key. */
export class ModelKeyErrors extends FastlrError {
  constructor(readonly errors: readonly ModelKeyError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'ModelKeyErrors';
  }
}

/** Throw nothing for no errors, the error itself for one, all of them together for several. */
export function throwModelKeyErrors(errors: readonly ModelKeyError[]): void {
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new ModelKeyErrors(errors);
}

/**
 * The issues of a ModelKeyError or ModelKeyErrors, messages without their leading key (`model.groups: `,
 * `model.head[1]: `; a head spec's type is kept: `model.head[1] (dense): …` → `dense: …`), or null for any other error.
 */
export function modelKeyIssues(e: unknown): ModelKeyIssue[] | null {
  const list = e instanceof ModelKeyErrors ? e.errors : e instanceof ModelKeyError ? [e] : null;
  if (!list) return null;
  return list.map((k) => ({
    path: k.path,
    message: k.message.replace(/^model\.\w+(?:\[\d+\])?(?: \((\w+)\):?)?:? /, (_, type: string | undefined) => (type ? `${type}: ` : '')),
  }));
}

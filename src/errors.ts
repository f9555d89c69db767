/** Errors that carry the process exit code the CLI maps them to (DESIGN.md: exit codes). */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  diverged: 3,
  gateFailed: 4,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure a user can act on: printed as one message, never with a stack trace. */
export class FastlrError extends Error {
  constructor(message: string, readonly exitCode: ExitCodeValue = ExitCode.usage) {
    super(message);
    this.name = 'FastlrError';
  }
}

/** One problem in a config file, located at a line and column (1-based). */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  /** dotted key path, e.g. `fit.lr`; '' for file-level problems */
  path: string;
  message: string;
}

/** Every problem of a config file at once; exit code 2. */
export class ConfigError extends FastlrError {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'), ExitCode.usage);
    this.name = 'ConfigError';
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.col}` : i.file;
  return i.path ? `${where}  ${i.path}: ${i.message}` : `${where}  ${i.message}`;
}

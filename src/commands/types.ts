/** Options every command shares, as parsed by src/cli.ts (flags win over env, env over the config). */
export interface CommonOptions {
  config: string;
  out?: string;
  backend?: string;
  seed?: number;
  /** `--threads`: `auto` or a count, as typed (the schema validates it) */
  threads?: string;
  /** raw `--set key.path=value` strings, in order */
  set: string[];
  json: boolean;
  quiet: boolean;
  color: boolean;
  /** the command line as typed, recorded for provenance */
  argv: string[];
}
export interface FindOptions extends CommonOptions { unfreeze: boolean; repeats?: number }
/** `resume`: false, true (the newest resumable run) or a run folder (`--resume <run-dir>`) */
export interface FitOptions extends CommonOptions { lr?: string; epochs?: number; resume: boolean | string; force: boolean }
export interface FinetuneOptions extends CommonOptions { unfreeze: boolean; resume: boolean | string; force: boolean }
export interface CheckOptions extends CommonOptions { schedule?: 'csv' | 'json' }

export interface Out {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** Where a command reads and writes: the process by default, buffers in tests. */
export interface Io {
  stdout: Out;
  stderr: Out;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/**
 * Finding runs in an output folder: the run `--resume` continues (the newest, or a named one), the newest finetune
 * run with a saved or unfinished stage. A folder caught between the two renames of its swap (a kill) is put back
 * from `.<name>.old` first (recoverDir).
 */
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { recoverDir } from './run-folder.js';
import { ExitCode, FastlrError } from '../errors.js';

export const MODEL_DIR = 'model';

const hasModelAt = (dir: string): boolean => recoverDir(join(dir, MODEL_DIR)) && existsSync(join(dir, MODEL_DIR, 'model.json'));
const hasCkptAt = (dir: string): boolean => recoverDir(join(dir, 'ckpt', 'last')) && existsSync(join(dir, 'ckpt', 'last', 'state.json'));

/** A finetune run's stage (`frozen` | `unfrozen`) saved its final model. */
export const stageHasModel = (stage: string) => (run: string): boolean => hasModelAt(join(run, stage));
/** A finetune run's stage saved a checkpoint but not its final model: interrupted (or killed). */
export const stageUnfinished = (stage: string) => (run: string): boolean => hasCkptAt(join(run, stage)) && !hasModelAt(join(run, stage));

/** Run folder names in time order: `fit-<stamp>` < `fit-<stamp>-2` < … < `fit-<stamp>-10` (same-millisecond runs). */
export function byRunName(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Run folders `<command>-*` under `root`, newest first. */
async function runsOf(root: string, command: string): Promise<string[]> {
  const dir = resolve(root);
  if (!existsSync(dir)) return [];
  return (await readdir(dir))
    .filter((n) => n.startsWith(`${command}-`))
    .sort(byRunName)
    .reverse()
    .map((n) => join(dir, n));
}

/** The newest `command` run under `root` that satisfies `test`. */
export async function latestRun(root: string, command: string, test: (dir: string) => boolean): Promise<string | null> {
  return (await runsOf(root, command)).find(test) ?? null;
}

/** The newest finetune run's saved frozen stage model (finetune-<stamp>/frozen/model), for `find --unfreeze`. */
export async function latestFrozenStage(root: string): Promise<string | null> {
  const dir = await latestRun(root, 'finetune', stageHasModel('frozen'));
  return dir ? join(dir, 'frozen', MODEL_DIR) : null;
}

/** `--resume <run-dir>`: a named run folder of this command (exit 2 when it is not one). */
export function namedRun(dir: string, command: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new FastlrError(`--resume: ${abs} is not a folder`, ExitCode.usage);
  if (!basename(abs).startsWith(`${command}-`) || !existsSync(join(abs, 'plan.json'))) {
    throw new FastlrError(`--resume: ${abs} is not a ${command} run folder (${command}-<time> with a plan.json)`, ExitCode.usage);
  }
  return abs;
}

/**
 * The fit run `--resume` continues: `named` (a run folder) or the newest fit run under `root`. It must have
 * `ckpt/last` and no final model yet; otherwise a FastlrError (exit 2) says why.
 */
export async function resumableRun(root: string, command: string, named?: string): Promise<string> {
  const runs = named !== undefined ? [namedRun(named, command)] : await runsOf(root, command);
  const run = runs[0];
  if (!run) throw new FastlrError(`--resume: no ${command} run under ${resolve(root)}`, ExitCode.usage);
  const which = named !== undefined ? 'the' : 'the newest';
  if (existsSync(join(run, MODEL_DIR, 'model.json'))) {
    throw new FastlrError(`nothing to resume: ${which} ${command} run ${run} finished. Run without --resume to train again.`, ExitCode.usage);
  }
  if (!hasCkptAt(run)) {
    throw new FastlrError(`--resume: ${which} ${command} run ${run} has no checkpoint yet (it stopped in its first epoch); run without --resume`, ExitCode.usage);
  }
  return run;
}

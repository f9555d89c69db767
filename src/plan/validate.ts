/**
 * The one validation of a resolved plan, shared by `check` and the training commands (find, fit, finetune): the
 * output folder first (before anything is loaded), then everything `analyzePlan` finds (the data — missing files, an
 * empty validation set, fewer samples than a batch —, the layers and shapes, the saved model's files, the size
 * limits). Problems are placed at the config key (or flag) responsible: a ConfigError, exit 2.
 */
import { ConfigError } from '../errors.js';
import { analyzePlan, type PlanAnalysis } from './analysis.js';
import type { RawIssue } from './issues.js';
import type { LocatedPlan } from './load.js';
import { outputFolderProblem, type OutputFs } from './output-folder.js';

export interface ValidateOptions {
  cwd: string;
  /** create the output folder and write a probe file there (the training commands); false: look only (`check`) */
  writeProbe: boolean;
  /** read model.from's files and architecture too (check: true; the training commands load the model next) */
  inspectModel?: boolean;
  /** for tests: the file-system calls of the output check */
  fs?: OutputFs;
}

/** The key an output problem belongs to: `output` when set (file, env or flag), else `name` when the folder is derived from it. */
function outputKey(located: Pick<LocatedPlan, 'given'>): PropertyKey[] {
  return !located.given(['output']) && located.given(['name']) ? ['name'] : ['output'];
}

/** The output folder's problem as an issue at its key, or none. */
export async function outputIssues(located: Pick<LocatedPlan, 'plan' | 'given'>, o: ValidateOptions): Promise<RawIssue[]> {
  const p = await outputFolderProblem(located.plan.output, { write: o.writeProbe, ...(o.fs ? { fs: o.fs } : {}) });
  return p ? [{ path: outputKey(located), message: p.message }] : [];
}

/**
 * Validate a located plan as `check` does; throws a ConfigError listing every problem (exit 2). The training
 * commands stop at an output problem before the data is read; `check` reports it with the rest.
 */
export async function validatePlan(located: LocatedPlan, o: ValidateOptions): Promise<PlanAnalysis> {
  const out = await outputIssues(located, o);
  if (out.length && o.writeProbe) throw new ConfigError(located.place(out));
  const { analysis, issues } = await analyzePlan(located.plan, { cwd: o.cwd, inspectModel: o.inspectModel ?? true });
  const all = [...out, ...issues];
  if (all.length > 0 || !analysis) throw new ConfigError(located.place(all));
  return analysis;
}

/**
 * What a resolved plan will do, worked out without training (and without tfjs): the data it counts, the layers of
 * each parameter group with their shapes, how many batches each phase runs and the LR/momentum schedule of every
 * batch. `fastlr check` prints it; problems come back as issues placed at the config key responsible.
 */
import path from 'node:path';
import { rangeTestIterations, stagesOf, type StageId, type Step } from '../schedule/index.js';
import { layerNames } from './cross-checks.js';
import { summarizeData, type DataSummary } from './data-summary.js';
import { groupCount, modelLayerNames, parameterGroups } from './groups.js';
import type { RawIssue } from './issues.js';
import type { Plan } from './schema.js';
import { checkOutput, inferShapes, type LayerRef, type LayerShape } from './shapes.js';
import { tryResolveModelFrom } from '../model/from.js';
import type { InspectedGroup } from '../model/inspect.js';
import { dataLimitIssues, paramLimitIssue, stepLimitIssues } from './limits.js';

export type PhaseName = 'fit' | 'finetune_frozen' | 'finetune_unfrozen';

/** check's name of each stage (its JSON keys and CSV `phase` column) */
export const PHASE_OF: Record<StageId, PhaseName> = { fit: 'fit', frozen: 'finetune_frozen', unfrozen: 'finetune_unfrozen' };

export interface GroupInfo {
  index: number;
  /** layer names, in order */
  layers: string[];
  /** per-layer shapes and parameters, when the model is built from `layers` */
  shapes?: LayerShape[];
  params?: number;
  /** trained in finetune's frozen stage: the last group (and batchnorm layers when train_bn) */
  trainedWhenFrozen: 'all' | 'batchnorm only' | 'none';
}

export interface PhaseSchedule {
  phase: PhaseName;
  epochs: number;
  itersPerEpoch: number;
  steps: Step[];
}

export interface LrSummary {
  group: number;
  start: number;
  peak: number;
  end: number;
}

export interface PhaseSummary {
  phase: PhaseName;
  epochs: number;
  iterations: number;
  lr: LrSummary[];
  mom: { start: number; min: number; end: number };
}

export interface PlanAnalysis {
  data: DataSummary;
  nGroups: number;
  /** undefined when the saved model (model.from) cannot be read yet */
  groups: GroupInfo[] | undefined;
  iterations: { find: number; fit: number; finetune_frozen: number; finetune_unfrozen: number };
  schedules: PhaseSchedule[];
  warnings: string[];
}

function summarize(s: PhaseSchedule): PhaseSummary {
  const first = s.steps[0]!;
  const last = s.steps[s.steps.length - 1]!;
  const peak = [...first.lr];
  let momMin = first.mom;
  for (const st of s.steps) {
    st.lr.forEach((v, g) => (peak[g] = Math.max(peak[g]!, v)));
    momMin = Math.min(momMin, st.mom);
  }
  return {
    phase: s.phase,
    epochs: s.epochs,
    iterations: s.steps.length,
    lr: first.lr.map((start, g) => ({ group: g, start, peak: peak[g]!, end: last.lr[g]! })),
    mom: { start: first.mom, min: momMin, end: last.mom },
  };
}

export function summarizeSchedules(schedules: readonly PhaseSchedule[]): PhaseSummary[] {
  return schedules.filter((s) => s.steps.length > 0).map(summarize);
}

/** The layer list with config paths and builder names (config layers, or the head after a saved body). */
export function layerRefs(plan: Plan): LayerRef[] | undefined {
  const layers = plan.model.layers;
  if (!layers) return undefined;
  const names = layerNames(layers);
  return layers.map((spec, i) => ({ spec, name: names[i]!, path: ['model', 'layers', i] }));
}

function expectedOutputs(plan: Plan, d: DataSummary): { units: number[]; what: string } | undefined {
  if (plan.loss === 'mse') return { units: [d.targetDim], what: `${d.targetDim} regression target(s)` };
  if (d.nClasses < 1) return undefined;
  const units = plan.loss === 'binary_cross_entropy' && d.nClasses === 2 ? [1, 2] : [d.nClasses];
  return { units, what: `${d.nClasses} classes` };
}

export interface AnalyzeOptions {
  cwd: string;
  /**
   * read model.from's files and architecture (tfjs loaded; default true). The training commands pass false: they load
   * the model right after, through the same readers, with the same errors.
   */
  inspectModel?: boolean;
}

export async function analyzePlan(plan: Plan, opts: AnalyzeOptions): Promise<{ analysis?: PlanAnalysis; issues: RawIssue[] }> {
  const issues: RawIssue[] = [];
  const warnings: string[] = [];
  const tooMuch = dataLimitIssues(plan);
  if (tooMuch.length) return { issues: tooMuch };
  const { summary: data, issues: dataIssues } = await summarizeData(plan, opts.cwd);
  issues.push(...dataIssues);

  // layers, shapes, groups
  let nGroups = groupCount(plan);
  let saved: string[] | undefined;
  let inspected: InspectedGroup[] | undefined;
  if (plan.model.from) {
    const dir = tryResolveModelFrom(plan.model.from, opts.cwd);
    if (opts.inspectModel === false) {
      // the command loads it next
    } else if (dir === undefined) {
      warnings.push(`model.from: no readable model at ${plan.model.from} yet: its layers are shown once it exists`);
    } else {
      // the saved model's files and architecture, cut and given its head as finetune will (tfjs loaded only here)
      const { inspectFinetune } = await import('../model/inspect.js');
      const ds = data?.inputShape ? { inputShape: data.inputShape, task: data.task, nClasses: data.nClasses, targetDim: data.targetDim } : undefined;
      const r = await inspectFinetune(dir, plan, ds);
      issues.push(...r.issues);
      inspected = r.groups;
      saved = inspected?.flatMap((g) => g.layers);
      if (dir !== path.resolve(opts.cwd, plan.model.from)) warnings.push(`model.from: ${plan.model.from} resolves to ${dir}`);
    }
  }
  const names = plan.model.from ? saved : modelLayerNames(plan, saved);
  const refs = layerRefs(plan);
  let shapes: LayerShape[] | undefined;
  if (refs && data) {
    const input = plan.model.input ?? data.inputShape;
    if (input) {
      const size = input.reduce((a, b) => a * b, 1);
      const want = data.inputShape?.reduce((a, b) => a * b, 1);
      if (want !== undefined && size !== want) {
        issues.push({ path: ['model', 'input'], message: `takes ${size} values per sample, but the data has ${want} ([${data.inputShape!.join(', ')}])` });
      } else {
        const r = inferShapes(refs, input);
        if (r.issue) issues.push(r.issue);
        else {
          shapes = r.shapes;
          const tooBig = paramLimitIssue(shapes);
          if (tooBig) issues.push(tooBig);
          const out = expectedOutputs(plan, data);
          const last = shapes[shapes.length - 1];
          if (out && last) {
            const problem = checkOutput(last, refs[refs.length - 1]!.spec, plan.loss, out.units, out.what);
            if (problem) issues.push(problem);
          }
        }
      }
    }
  }
  if (inspected) nGroups = inspected.length;
  const layerGroups = inspected ? undefined : parameterGroups(plan, names);
  const fromGroups = inspected?.map((g): GroupInfo => ({
    index: g.index,
    layers: g.layers,
    params: g.params,
    trainedWhenFrozen: g.index === nGroups - 1 ? 'all' : plan.model.train_bn && g.hasBatchNorm ? 'batchnorm only' : 'none',
  }));
  const groups = fromGroups ?? layerGroups?.map((g): GroupInfo => {
    const gShapes = shapes?.slice(g.start, g.end);
    const isLast = g.index === nGroups - 1;
    const hasBn = (gShapes ?? []).some((s) => s.type === 'batchnorm');
    return {
      index: g.index,
      layers: g.layers,
      ...(gShapes ? { shapes: gShapes, params: gShapes.reduce((a, s) => a + s.params, 0) } : {}),
      trainedWhenFrozen: isLast ? 'all' : plan.model.train_bn && hasBn ? 'batchnorm only' : 'none',
    };
  });
  if (nGroups === 1) warnings.push('one parameter group (model.groups is empty): finetune\'s frozen stage trains the whole model');

  if (data) issues.push(...stepLimitIssues(plan, data.trainBatches));
  if (!data || issues.length > 0) return { issues };

  // iterations and schedules
  const ipe = data.trainBatches;
  const schedules: PhaseSchedule[] = [];
  if (plan.fit.lr === 'auto') {
    warnings.push('fit.lr is auto: the range test picks the lr at fit time, so the fit schedule is not known yet');
  }
  // exactly the stages `fit` and `finetune` run (schedule/stages.ts); a stage of 0 epochs shows no steps
  const stages = stagesOf(plan, nGroups, ipe);
  for (const s of stages) schedules.push({ phase: PHASE_OF[s.id], epochs: s.oneCycle.epochs, itersPerEpoch: ipe, steps: s.steps });
  if (!stages.some((s) => s.id === 'frozen')) schedules.splice(schedules.length - 1, 0, { phase: 'finetune_frozen', epochs: 0, itersPerEpoch: ipe, steps: [] });
  const ft = plan.finetune;

  return {
    analysis: {
      data,
      nGroups,
      groups,
      iterations: {
        find: rangeTestIterations(plan.find.num_it) * plan.find.repeats,
        fit: plan.fit.epochs * ipe,
        finetune_frozen: ft.freeze_epochs * ipe,
        finetune_unfrozen: ft.epochs * ipe,
      },
      schedules,
      warnings,
    },
    issues,
  };
}

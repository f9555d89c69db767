import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendInfo, type BackendName } from '../backend/index.js';
import { decodeProgress, loadDataset, preprocessingMismatch, type Dataset } from '../data/index.js';
import { buildModel, loadModelDir, buildFinetuneModel, paramGroups, resolveModelFrom } from '../model/index.js';
import { Learner } from '../engine/learner.js';
import { metricsFor } from '../engine/loss.js';
import type { Plan } from '../plan/index.js';
import { layerRefs } from '../plan/analysis.js';
import { dataLimitIssues, paramLimitIssue, stepLimitIssues, type RawIssueLike } from '../plan/limits.js';
import { inferShapes } from '../plan/shapes.js';
import { formatPath } from '../plan/locate.js';
import { batchesPerEpoch } from '../plan/data-summary.js';
import { ExitCode, FastlrError } from '../errors.js';

export interface Session {
  plan: Plan;
  backend: BackendInfo;
  data: Dataset;
  /** the model folder the weights came from (model.from resolved, or opts.modelDir); undefined when built fresh */
  modelFrom?: string;
  learner: Learner;
  dispose(): void;
}

/** The size limits `fastlr check` applies (src/plan/limits.ts), before any tensor is made: FastlrError, exit 2. */
export function assertWithinLimits(plan: Plan, data: Dataset): void {
  const issues = stepLimitIssues(plan, batchesPerEpoch(data.train.n, plan.data.batch_size, plan.data.drop_last));
  const refs = layerRefs(plan);
  if (refs) {
    const r = inferShapes(refs, plan.model.input ?? data.inputShape);
    const big = r.issue ? undefined : paramLimitIssue(r.shapes);
    if (big) issues.push(big);
  }
  throwIssues(issues);
}

function throwIssues(issues: readonly RawIssueLike[]): void {
  if (issues.length) {
    throw new FastlrError(issues.map((i) => `${formatPath(i.path as (string | number)[])}: ${i.message}`).join('\n'), ExitCode.usage);
  }
}

/**
 * Everything a phase needs, built from a resolved plan: the backend, the data, the model (built from
 * the layer list, or loaded from `model.from` with an optional new head), its parameter groups and
 * the engine around them. `modelDir` loads a specific saved model instead (finetune's stage 2).
 */
export async function openSession(plan: Plan, opts: { modelDir?: string; data?: Dataset } = {}): Promise<Session> {
  const backend = await initBackend(plan.backend as BackendName | 'auto', { threads: plan.threads, precision: plan.precision });
  throwIssues(dataLimitIssues(plan));
  let data: Dataset;
  try {
    // opts.data: the plan's dataset, already loaded (a worker thread of find --repeats gets its coordinator's)
    data = opts.data ?? (await loadDataset(plan, { onProgress: decodeProgress() }));
  } catch (e) {
    // an allocation the limits did not foresee (many large images): a config problem, not a crash
    if (e instanceof RangeError && /array (buffer )?(length|allocation)/i.test(e.message)) {
      throw new FastlrError(`data: the dataset does not fit in memory (${e.message}); use smaller data.images.size or fewer samples`, ExitCode.usage);
    }
    throw e;
  }
  // undecodable files (data.skipped) are left out and reported by the command with a count (issue 6: never a crash)
  assertWithinLimits(plan, data);
  let model: tf.LayersModel;
  let modelFrom: string | undefined;
  if (opts.modelDir) {
    modelFrom = opts.modelDir;
    model = await loadModelDir(opts.modelDir);
  } else if (plan.model.from) {
    // a model folder, a run folder, or a run base folder (its newest completed fit): see model/from.ts
    modelFrom = resolveModelFrom(plan.model.from).dir;
    // model.reinit: the architecture only (no weights read, none needed); buildFinetuneModel seeds every weight
    const loaded = await loadModelDir(modelFrom, { topologyOnly: plan.model.reinit });
    // fresh weights learned nothing: the checkpoint's preprocessing matters only when its weights are used
    const mismatch = plan.model.reinit ? null : preprocessingMismatch(modelFrom, loaded.getUserDefinedMetadata(), data.preprocessing);
    if (mismatch) (data.warnings ??= []).push(mismatch);
    model = buildFinetuneModel(loaded, plan, data);
  } else {
    model = buildModel(plan, data);
  }
  // a checkpoint's preprocessing belongs to it: saved models carry it in model.json's userDefinedMetadata
  if (data.preprocessing) model.setUserDefinedMetadata({ fastlr: { preprocessing: data.preprocessing } });
  const groups = paramGroups(model, plan);
  const learner = new Learner({
    model,
    groups,
    data,
    loss: plan.loss,
    metrics: metricsFor(plan.loss, plan.metrics),
    optimizer: plan.optimizer,
    batchSize: plan.data.batch_size,
    shuffle: plan.data.shuffle,
    dropLast: plan.data.drop_last,
    seed: plan.seed,
    trainBn: plan.model.train_bn,
    bnFreeze: plan.model.bn_freeze,
    bnInference: plan.model.bn_inference,
  });
  return {
    plan,
    backend,
    data,
    ...(modelFrom !== undefined ? { modelFrom } : {}),
    learner,
    dispose() {
      learner.dispose();
      model.dispose();
    },
  };
}

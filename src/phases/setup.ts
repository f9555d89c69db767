import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendInfo, type BackendName } from '../backend/index.js';
import { loadDataset, type Dataset } from '../data/index.js';
import { buildModel, loadModelDir, buildFinetuneModel, paramGroups, resolveModelFrom } from '../model/index.js';
import { Learner } from '../engine/learner.js';
import { metricsFor } from '../engine/loss.js';
import type { Plan } from '../plan/index.js';

export interface Session {
  plan: Plan;
  backend: BackendInfo;
  data: Dataset;
  /** the model folder the weights came from (model.from resolved, or opts.modelDir); undefined when built fresh */
  modelFrom?: string;
  learner: Learner;
  dispose(): void;
}

/**
 * Everything a phase needs, built from a resolved plan: the backend, the data, the model (built from
 * the layer list, or loaded from `model.from` with an optional new head), its parameter groups and
 * the engine around them. `modelDir` loads a specific saved model instead (finetune's stage 2).
 */
export async function openSession(plan: Plan, opts: { modelDir?: string } = {}): Promise<Session> {
  const backend = await initBackend(plan.backend as BackendName | 'auto');
  const data = await loadDataset(plan);
  let model: tf.LayersModel;
  let modelFrom: string | undefined;
  if (opts.modelDir) {
    modelFrom = opts.modelDir;
    model = await loadModelDir(opts.modelDir);
  } else if (plan.model.from) {
    // a model folder, a run folder, or a run base folder (its newest completed fit): see model/from.ts
    modelFrom = resolveModelFrom(plan.model.from).dir;
    model = buildFinetuneModel(await loadModelDir(modelFrom), plan, data);
  } else {
    model = buildModel(plan, data);
  }
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

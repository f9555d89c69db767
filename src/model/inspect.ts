/**
 * What `fastlr check` knows about a `model.from` fine-tune without training: the saved model's files checked as
 * `finetune` will read them (model.json, manifest paths, weight file sizes — their bytes are not read), the
 * architecture loaded (topology only), the cut / head / groups applied exactly as the engine does, and every parameter
 * group with its layers and parameter count. A problem comes back as an issue at the config key responsible (its
 * line:col), never as a crash.
 */
import * as tf from '@tensorflow/tfjs';
import { silenceCpuBanner } from '../backend/quiet.js';
import { FastlrError } from '../errors.js';
import { disposeQuietly } from './build.js';
import { buildFinetuneModel } from './finetune.js';
import { paramGroups } from './groups.js';
import { checkWeightFiles, loadModelDir, readModelJson } from './io.js';
import { modelKeyIssues } from './key-error.js';
import type { DataShape, ModelPlan } from './types.js';

export interface InspectedGroup {
  index: number;
  /** layer names in topological order */
  layers: string[];
  /** parameters (weights of every kind, BatchNorm running statistics included, as Keras counts them) */
  params: number;
  /** the group holds a BatchNormalization layer */
  hasBatchNorm: boolean;
}

export interface InspectIssue {
  path: (string | number)[];
  message: string;
}

export interface Inspected {
  groups?: InspectedGroup[];
  issues: InspectIssue[];
}

const NO_WEIGHTS =
  'has no weights (no weightsManifest): fastlr does not fine-tune from random weights; set model.reinit: true to train this architecture from fresh seeded weights';

/**
 * Check the model at `dir` (a model folder or a model.json path) against the plan. `ds` is the data's shape when it
 * is known (then the model input and output are checked against it too).
 */
export async function inspectFinetune(dir: string, plan: ModelPlan, ds: DataShape | undefined): Promise<Inspected> {
  const at = (path: (string | number)[], e: unknown): Inspected => ({ issues: [{ path, message: (e as Error).message }] });
  let file;
  try {
    file = await readModelJson(dir);
    if (!plan.model.reinit) {
      if (!file.hasWeights) return at(['model', 'from'], new FastlrError(`${file.jsonPath}: ${NO_WEIGHTS}`));
      await checkWeightFiles(file);
    }
  } catch (e) {
    if (e instanceof FastlrError) return at(['model', 'from'], e);
    throw e;
  }
  // building the architecture needs a backend: the quiet cpu one unless the caller chose one already
  if (!(tf.engine() as unknown as { backendInstance: unknown }).backendInstance) {
    await tf.setBackend('cpu');
    silenceCpuBanner();
  }
  let loaded: tf.LayersModel;
  try {
    loaded = await loadModelDir(dir, { topologyOnly: true });
  } catch (e) {
    if (e instanceof FastlrError) return at(['model', 'from'], e);
    throw e;
  }
  // without the data's shape, the model's own input and output stand in (only cut, head and groups are checked)
  const shape: DataShape = ds ?? {
    inputShape: loaded.inputs[0]!.shape.slice(1).map((v) => v ?? 1),
    task: plan.loss === 'mse' ? 'regression' : 'classification',
    nClasses: 0,
    targetDim: 0,
  };
  let model: tf.LayersModel | undefined;
  try {
    model = buildFinetuneModel(loaded, { ...plan, model: { ...plan.model, reinit: false } }, shape, { checkOutput: ds !== undefined });
    const groups = paramGroups(model, plan).map((g, index): InspectedGroup => {
      const layers = g.layers.map((n) => model!.getLayer(n));
      return {
        index,
        layers: g.layers,
        params: layers.reduce((a, l) => a + l.countParams(), 0),
        hasBatchNorm: layers.some((l) => l.getClassName() === 'BatchNormalization'),
      };
    });
    return { groups, issues: [] };
  } catch (e) {
    // each placed at its key, the message need not repeat it ("model.groups[0]: model.groups: …")
    const keyed = modelKeyIssues(e);
    if (keyed) return { issues: keyed };
    if (e instanceof FastlrError) return at(['model', 'from'], e);
    throw e;
  } finally {
    if (model) disposeQuietly(model);
  }
}

/**
 * `createLearner`: fastlr for a tfjs user's own model and tensors. It translates options into what the CLI's plan
 * would hold and runs the CLI's phase functions (src/phases) on the one engine (src/engine/learner.ts): the range
 * test, the one-cycle stage, fastai's fine_tune. The user's model is trained in place; nothing is printed unless
 * `verbose` (or an `onEvent` sink) asks for it.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendInfo, type BackendName } from '../backend/index.js';
import { Learner } from '../engine/learner.js';
import { metricsFor, type LossName } from '../engine/loss.js';
import type { EngineEvent, EventSink } from '../engine/events.js';
import { checkOutput, paramGroups, saveModelDir } from '../model/index.js';
import { FastlrError } from '../errors.js';
import { createReporter, isInteractive, wantsColor, type Reporter } from '../report/reporter.js';
import { toDataset, type DataInput } from './data-source.js';
import {
  fineTuneOptionsSchema,
  fitOptionsSchema,
  learnerOptionsSchema,
  lrFindOptionsSchema,
  metricsOf,
  parseOptions,
  plainObject,
  type LearnerSettings,
} from './options.js';
import { runFineTune, runFindPhase, runFitPhase, type FineTuneResult, type FitResult, type LrFindResult, type RunHooks } from './run.js';
import type { LrSpec } from '../schedule/index.js';
import type { Method } from '../suggest/index.js';

/** What createLearner takes. Every key but model and train is optional; defaults are the config's. */
export interface CreateLearnerOptions {
  /** the user's model (Sequential, functional, nested), trained in place; it must output logits for the cross-entropies */
  model: tf.LayersModel;
  /** `{ xs, ys }` tensors (ys: class ids, one-hot rows, or regression targets with loss 'mse') or a tf.data.Dataset of them */
  train: DataInput;
  /** validation data, same forms; left out: no validation values */
  valid?: DataInput;
  /** default 'cross_entropy' */
  loss?: LossName;
  /** default ['accuracy'] (cross-entropies) or ['mae'] (mse) */
  metrics?: ('accuracy' | 'error_rate' | 'mae' | 'rmse')[];
  /** the config's optimizer keys and defaults: { type: 'adam', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 } */
  optimizer?: { type?: 'adam' | 'sgd'; wd?: number; beta2?: number; eps?: number; mom?: number };
  /** default 64 */
  batchSize?: number;
  /** reshuffle the training data each epoch (seeded); default true */
  shuffle?: boolean;
  /** drop the last incomplete training batch, as fastai; default true */
  dropLast?: boolean;
  /** seed of the data order and dropout masks; default 42 */
  seed?: number;
  /** split points into parameter groups (layer names, name prefixes, or indices), as model.groups; default one group */
  groups?: (string | number)[];
  /** batchnorm parameters of frozen groups keep training (fastai's train_bn); default true */
  trainBn?: boolean;
  /** batchnorm layers of frozen groups run in inference mode, running statistics never updated (fastai's BnFreeze), as model.bn_freeze; default false */
  bnFreeze?: boolean;
  /** every batchnorm layer runs in inference mode in every stage (gamma/beta still train where their group trains), as model.bn_inference; default false */
  bnInference?: boolean;
  /** tfjs backend, the CLI's selection; default 'auto' (the fastest available) */
  backend?: 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
  /** threads of fastlr's kernels; default 'auto' */
  threads?: 'auto' | number;
  /** print progress and epoch tables as the CLI does (stdout); default false */
  verbose?: boolean;
  /** every engine event (begin, batch, epoch, end, note), for custom reporting */
  onEvent?: (e: EngineEvent) => void;
}

/** Keras-style callbacks: `onBatchEnd(batch, logs)` after every training batch, `onEpochEnd(epoch, logs)` after validation. */
export interface FitCallbacks {
  onTrainBegin?: (logs?: Record<string, number>) => void | Promise<void>;
  onTrainEnd?: (logs?: Record<string, number>) => void | Promise<void>;
  /** logs: loss (the raw batch loss), smooth_loss, lr (last group; lr_0… per group with several), mom, iter, epoch */
  onBatchEnd?: (batch: number, logs: Record<string, number>) => void | Promise<void>;
  /** logs: train_loss, valid_loss, each metric (valid_<metric> too), and tfjs's loss / val_loss / val_<metric> */
  onEpochEnd?: (epoch: number, logs: Record<string, number>) => void | Promise<void>;
}

export interface LrFindOptions {
  /** default 1e-7 */
  startLr?: number;
  /** default 10 */
  endLr?: number;
  /** default 100 (fastai runs at least 6) */
  numIt?: number;
  /** stop when the smoothed loss exceeds 4 × its best; default true */
  stopDiv?: boolean;
  /** which suggestion is `suggested`; default 'valley' */
  suggest?: Method;
  signal?: AbortSignal;
}

export interface FitOneCycleOptions {
  /** the cycle starts at lrMax / div; default 25 */
  div?: number;
  /** and ends at lrMax / divFinal; default 1e5 */
  divFinal?: number;
  /** warm-up fraction; default 0.25 */
  pctStart?: number;
  /** momentum at start, peak lr, end; default [0.95, 0.85, 0.95] */
  moms?: [number, number, number];
  callbacks?: FitCallbacks | FitCallbacks[];
  signal?: AbortSignal;
}

export interface FineTuneOptions {
  /** frozen stage lr; halved for the unfrozen stage; default 2e-3 */
  baseLr?: number;
  /** epochs of the frozen stage (last group only); default 1 */
  freezeEpochs?: number;
  /** the unfrozen stage spreads baseLr/2 over [hi/lrMult, hi]; default 100 */
  lrMult?: number;
  /** unfrozen stage lr instead of baseLr and lrMult */
  lr?: LrSpec;
  /** warm-up fraction of the unfrozen stage; default 0.3 */
  pctStart?: number;
  /** the unfrozen stage starts at lr / div (the frozen stage keeps fit_one_cycle's 25); default 5 */
  div?: number;
  divFinal?: number;
  moms?: [number, number, number];
  callbacks?: FitCallbacks | FitCallbacks[];
  signal?: AbortSignal;
}

/** What createLearner returns. */
export interface FastlrLearner {
  /** the user's model, trained in place */
  readonly model: tf.LayersModel;
  /** the backend in use and what auto skipped */
  readonly backend: BackendInfo;
  /** layer names of each parameter group, body … head */
  readonly groups: string[][];
  /** groups [0, frozenGroups) are frozen */
  readonly frozenGroups: number;
  /** fastai's lr_find; the model, optimizer state and random state are restored afterwards */
  lrFind(options?: LrFindOptions): Promise<LrFindResult>;
  /** fastai's fit_one_cycle; lrMax: a number, one per group, { lo, hi } or { hi } */
  fitOneCycle(epochs: number, lrMax: LrSpec, options?: FitOneCycleOptions): Promise<FitResult>;
  /** fastai's fine_tune: a frozen stage, then every group unfrozen with discriminative learning rates */
  fineTune(epochs: number, options?: FineTuneOptions): Promise<FineTuneResult>;
  /** train only the last group (batchnorm of the others too when trainBn) */
  freeze(): void;
  /** train groups [n, G) (negative n counts from the end) */
  freezeTo(n: number): void;
  unfreeze(): void;
  /** write the model as a tfjs model folder (model.json + weights.bin), loadable with tf.loadLayersModel */
  save(dir: string): Promise<void>;
  /** free the optimizer state and data copies (the model is the user's and stays) */
  dispose(): void;
}

function isLayersModel(m: unknown): m is tf.LayersModel {
  return (
    m instanceof tf.LayersModel ||
    (typeof m === 'object' && m !== null && Array.isArray((m as tf.LayersModel).layers) && Array.isArray((m as tf.LayersModel).inputs) && typeof (m as tf.LayersModel).apply === 'function')
  );
}

class LibraryLearner implements FastlrLearner {
  private busy: string | null = null;
  private disposed = false;

  constructor(
    private readonly learner: Learner,
    readonly backend: BackendInfo,
    private readonly settings: LearnerSettings,
    private readonly metrics: string[],
    private readonly sink: { verbose: boolean; onEvent?: EventSink },
  ) {}

  get model(): tf.LayersModel {
    return this.learner.model;
  }

  get groups(): string[][] {
    return this.learner.groups.map((g) => g.layers.slice());
  }

  get frozenGroups(): number {
    return this.learner.frozenGroups;
  }

  /** One call at a time per learner, never after dispose; events to the reporter and the user's sink. */
  private async exclusive<T>(what: string, fn: (hooks: RunHooks) => Promise<T>): Promise<T> {
    if (this.disposed) throw new FastlrError(`${what}: this learner was disposed`);
    if (this.busy) throw new FastlrError(`${what}: ${this.busy} is still running on this learner (await it first)`);
    this.busy = what;
    const reporter: Reporter | null = this.sink.verbose
      ? createReporter({ json: false, quiet: false, color: wantsColor(true, process.stdout), interactive: isInteractive(process.stdout), metrics: this.metrics })
      : null;
    const user = this.sink.onEvent;
    const onEvent: EventSink | undefined =
      reporter || user
        ? (e) => {
            reporter?.event(e);
            user?.(e);
          }
        : undefined;
    try {
      // the CLI's backend stays current even if the user switched since
      await initBackend(this.backend.name as BackendName, { threads: this.settings.threads });
      return await fn({ onEvent, note: (message) => onEvent?.({ type: 'note', level: 'warn', message }), reporter });
    } finally {
      reporter?.close();
      this.busy = null;
    }
  }

  async lrFind(options?: LrFindOptions): Promise<LrFindResult> {
    const { signal, ...rest } = plainObject(options, 'lrFind') as LrFindOptions;
    const s = parseOptions(lrFindOptionsSchema, rest, 'lrFind');
    return this.exclusive('lrFind', (hooks) => runFindPhase(this.learner, s, { ...hooks, signal }));
  }

  async fitOneCycle(epochs: number, lrMax: LrSpec, options?: FitOneCycleOptions): Promise<FitResult> {
    const { callbacks, signal, ...rest } = plainObject(options, 'fitOneCycle') as FitOneCycleOptions;
    const s = parseOptions(fitOptionsSchema, { epochs, lrMax, ...rest }, 'fitOneCycle');
    return this.exclusive('fitOneCycle', (hooks) => runFitPhase(this.learner, s, { ...hooks, signal, callbacks, metrics: this.metrics }));
  }

  async fineTune(epochs: number, options?: FineTuneOptions): Promise<FineTuneResult> {
    const { callbacks, signal, ...rest } = plainObject(options, 'fineTune') as FineTuneOptions;
    const s = parseOptions(fineTuneOptionsSchema, { epochs, ...rest }, 'fineTune');
    return this.exclusive('fineTune', (hooks) => runFineTune(this.learner, s, { ...hooks, signal, callbacks, metrics: this.metrics }));
  }

  private idle(what: string): void {
    if (this.disposed) throw new FastlrError(`${what}: this learner was disposed`);
    if (this.busy) throw new FastlrError(`${what}: ${this.busy} is still running on this learner (await it first)`);
  }

  freeze(): void {
    this.idle('freeze');
    this.learner.freeze();
  }

  freezeTo(n: number): void {
    this.idle('freezeTo');
    if (!Number.isInteger(n)) throw new FastlrError(`freezeTo: expected an integer group index, got ${String(n)}`);
    this.learner.freezeTo(n);
  }

  unfreeze(): void {
    this.idle('unfreeze');
    this.learner.unfreeze();
  }

  async save(dir: string): Promise<void> {
    this.idle('save');
    if (typeof dir !== 'string' || dir === '') throw new FastlrError('save: expected a folder path');
    await saveModelDir(this.learner.model, dir);
  }

  dispose(): void {
    if (this.disposed) return;
    if (this.busy) throw new FastlrError(`dispose: ${this.busy} is still running on this learner (await it first)`);
    this.disposed = true;
    this.learner.dispose();
  }
}

/**
 * A learner around the user's model and data: the backend is selected (as the CLI does), the data copied into the
 * engine's form and checked against the model and the loss, the parameter groups split.
 */
export async function createLearner(options: CreateLearnerOptions): Promise<FastlrLearner> {
  const o = plainObject(options, 'createLearner');
  const { model, train, valid, verbose, onEvent, ...rest } = o as unknown as CreateLearnerOptions;
  if (!isLayersModel(model)) throw new FastlrError('createLearner: model must be a tf.LayersModel (tf.sequential, tf.model or a loaded model)');
  if (train === undefined) throw new FastlrError('createLearner: train is missing: { xs, ys } tensors or a tf.data.Dataset');
  if (verbose !== undefined && typeof verbose !== 'boolean') throw new FastlrError('createLearner: verbose must be true or false');
  if (onEvent !== undefined && typeof onEvent !== 'function') throw new FastlrError('createLearner: onEvent must be a function');
  const s = parseOptions(learnerOptionsSchema, rest, 'createLearner');
  const backend = await initBackend(s.backend as BackendName | 'auto', { threads: s.threads });
  const data = await toDataset(train, valid, model, s.loss);
  checkOutput(model, s.loss, data);
  const groups = paramGroups(model, { seed: s.seed, loss: s.loss, model: { groups: s.groups, train_bn: s.trainBn } });
  const metrics = metricsFor(s.loss, metricsOf(s));
  const learner = new Learner({
    model,
    groups,
    data,
    loss: s.loss,
    metrics,
    optimizer: s.optimizer,
    batchSize: s.batchSize,
    shuffle: s.shuffle,
    dropLast: s.dropLast,
    seed: s.seed,
    trainBn: s.trainBn,
    bnFreeze: s.bnFreeze,
    bnInference: s.bnInference,
  });
  if (learner.batchesPerEpoch === 0) {
    learner.dispose();
    throw new FastlrError(`createLearner: train has ${data.train.n} samples, not enough for one batch of ${s.batchSize}${s.dropLast ? ' (dropLast)' : ''}`);
  }
  return new LibraryLearner(learner, backend, s, metrics, { verbose: verbose ?? false, ...(onEvent ? { onEvent } : {}) });
}

import * as tf from '@tensorflow/tfjs';
import { Batcher, batchCount, epochOrder, type Dataset } from '../data/index.js';
import { applyBnFreeze, leafLayers, modelInputShape, type ParamGroup } from '../model/index.js';
import { FastOptimizer, type OptimizerConfig, type OptimizerState } from '../optim/index.js';
import { SmoothLoss, type SmoothLossState } from '../schedule/index.js';
import { finishMetric, lossTensor, metricSums, type LossName, type MetricName } from './loss.js';
import { Rng, type RngState } from './rng.js';
import { StopSignal, type BatchEvent, type EventSink, type StopReason } from './events.js';
import { stepBegin, stepEnd } from '../kernels/simd/adaptive.js';
import { withGradientTargets } from '../kernels/conv-bn-fold.js';

/** Let Node run its event loop (signal handlers, progress redraws, timers) between two batches. */
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface LearnerOptions {
  model: tf.LayersModel;
  groups: ParamGroup[];
  data: Dataset;
  loss: LossName;
  metrics: MetricName[];
  optimizer: OptimizerConfig;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
  seed: number;
  /** keep normalisation layers of frozen groups training (fastai's train_bn) */
  trainBn: boolean;
  /** BatchNorm layers of frozen groups run in inference mode, running statistics untouched (fastai's BnFreeze) */
  bnFreeze?: boolean;
  /** every BatchNorm layer runs in inference mode, frozen group or not (running statistics untouched) */
  bnInference?: boolean;
}

/** Everything `find` must put back: weights (every model weight, by stable key), optimizer state, RNG, freeze. */
export interface LearnerSnapshot {
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  optimizer: OptimizerState;
  rng: RngState;
  frozenGroups: number;
}

/** Hyper-parameters for training batch `iter`. */
export type HyperFn = (iter: number) => { lr: number[]; mom?: number };

/** Looks at every batch after it ran; returns a reason to stop, or null to go on. */
export type BatchRule = (info: { iter: number; loss: number; smooth: number }) => StopReason | null;

export interface LoopOptions {
  phase: string;
  /** epochs to run, counted from startEpoch (the loop stops earlier if `rule` says so) */
  epochs: number;
  startEpoch?: number;
  /** total planned batches (for progress); defaults to epochs × batches per epoch */
  totalIters?: number;
  hypers: HyperFn;
  rule?: BatchRule;
  validate: boolean;
  signal?: StopSignal;
  onEvent?: EventSink;
  /** awaited after every training batch (the library's onBatchEnd) */
  afterBatch?: (e: BatchEvent) => Promise<void> | void;
  /** called after each epoch's validation (checkpoints) */
  afterEpoch?: (epoch: number, summary: EpochSummary, at: LoopPosition) => Promise<void> | void;
  /** continue mid-run from a saved position (resume after an interrupt) */
  resume?: LoopPosition;
}

/** Where a loop is: enough to continue it exactly (the epoch's data order is re-drawn from epochRng). */
export interface LoopPosition {
  epoch: number;
  /** next batch to run inside `epoch` */
  batch: number;
  /** RNG state just before this epoch's data order was drawn */
  epochRng: RngState;
  /** RNG state at this position (after the dropout masks of the batches already run in this epoch) */
  rng?: RngState;
  smooth: SmoothLossState;
}

export interface EpochSummary {
  epoch: number;
  train_loss: number;
  valid_loss: number;
  metrics: Record<string, number>;
  seconds: number;
}

export interface LoopResult {
  stop: { reason: StopReason; iteration: number };
  /** where to continue from (after the last batch that ran) */
  position: LoopPosition;
  iterations: number;
  epochs: EpochSummary[];
  seconds: number;
}

/**
 * The one training engine behind find, fit and finetune: model + parameter groups + optimizer + data +
 * RNG. It runs batches, emits events and never prints.
 */
export class Learner {
  readonly model: tf.LayersModel;
  readonly groups: ParamGroup[];
  readonly data: Dataset;
  readonly rng: Rng;
  readonly opt: FastOptimizer;
  private readonly o: LearnerOptions;
  private readonly trainBatcher: Batcher;
  private readonly validBatcher: Batcher;
  private frozen = 0;
  private trainVars: tf.Variable[] = [];
  /** dropout layers draw from the seeded RNG (Math.random is swapped in during their steps) */
  private hasDropout: boolean;

  constructor(o: LearnerOptions) {
    this.o = o;
    this.model = o.model;
    this.groups = o.groups;
    this.data = o.data;
    this.rng = new Rng(o.seed);
    this.opt = new FastOptimizer(o.groups, o.optimizer);
    // the model may take the data in another shape (e.g. [784] for 28×28×1 digits)
    const xShape = modelInputShape(o.model);
    this.trainBatcher = new Batcher(o.data.train, o.data, o.batchSize, xShape);
    this.validBatcher = new Batcher(o.data.valid, o.data, o.batchSize, xShape);
    this.hasDropout = leafLayers(o.model).some((l) => l.getClassName() === 'Dropout');
    this.setTrainable();
  }

  get batchesPerEpoch(): number {
    return batchCount(this.data.train.n, this.o.batchSize, this.o.dropLast);
  }

  get frozenGroups(): number {
    return this.frozen;
  }

  /**
   * Train only groups [n, G) (fastai's freeze_to; n is clamped to G − 1 so that something trains), plus the
   * normalisation parameters of frozen groups when trainBn. Clears the optimizer state, as fastai does. The
   * optimizer's own freezeTo decides (the code tested against freeze_semantics.json); the engine then asks for
   * gradients of the trainable variables only.
   */
  freezeTo(n: number): void {
    const g = this.groups.length;
    this.frozen = n < 0 ? Math.max(0, g + n) : Math.min(n, g - 1);
    this.setTrainable();
  }

  freeze(): void {
    this.freezeTo(-1);
  }

  unfreeze(): void {
    this.freezeTo(0);
  }

  /** Variables that get a gradient (frozen ones get none computed at all). */
  get trainableVariables(): readonly tf.Variable[] {
    return this.trainVars;
  }

  /** Apply `this.frozen` to the optimizer (which clears its state) and take its trainable variables. */
  private setTrainable(): void {
    this.opt.freezeTo(this.frozen, { trainBn: this.o.trainBn });
    this.trainVars = this.opt.trainableVariables();
    applyBnFreeze(this.model, this.groups, this.frozen, this.o.bnFreeze ?? false, this.o.bnInference ?? false);
  }

  snapshot(): LearnerSnapshot {
    const weights = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const w of this.model.weights) {
      const t = w.read();
      weights.set(w.originalName, { shape: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) });
    }
    return { weights, optimizer: this.opt.snapshot(), rng: this.rng.state(), frozenGroups: this.frozen };
  }

  restore(s: LearnerSnapshot): void {
    for (const w of this.model.weights) {
      const saved = s.weights.get(w.originalName);
      if (!saved) throw new Error(`snapshot has no weight ${w.originalName}`);
      const t = tf.tensor(saved.data, saved.shape, 'float32');
      w.write(t);
      t.dispose();
    }
    if (this.frozen !== s.frozenGroups) {
      this.frozen = s.frozenGroups;
      this.setTrainable();
    }
    this.opt.restore(s.optimizer);
    this.rng.restore(s.rng);
  }

  /** One optimisation step; returns the raw batch loss (read back: the stop rules need it). */
  async trainStep(x: tf.Tensor, y: tf.Tensor, lr: number[], mom?: number): Promise<number> {
    this.opt.setHypers(lr, mom);
    // threads: auto judges whole steps too (simd/adaptive.ts): the kernels' thread choices never change a result
    stepBegin();
    try {
      const lossT = tf.tidy(() => {
        const f = (): tf.Scalar => lossTensor(this.o.loss, this.model.apply(x, { training: true }) as tf.Tensor, y);
        // tells the conv-bn fold (kernels/conv-bn-fold.ts) exactly which variables get a gradient
        const grad = (): { value: tf.Scalar; grads: tf.NamedTensorMap } => withGradientTargets(this.trainVars, () => tf.variableGrads(f, this.trainVars));
        const { value, grads } = this.hasDropout ? this.rng.withMathRandom(grad) : grad();
        this.opt.step(grads);
        return value;
      });
      const v = (await lossT.data())[0] ?? NaN;
      lossT.dispose();
      return v;
    } finally {
      stepEnd();
    }
  }

  /** Validation loss (mean over items) and metrics; never advances the schedule or the RNG. */
  async validate(): Promise<{ loss: number; metrics: Record<string, number> }> {
    const n = this.data.valid.n;
    if (n === 0) return { loss: NaN, metrics: Object.fromEntries(this.o.metrics.map((m) => [m, NaN])) };
    const order = epochOrder(n, false, this.rng.next);
    const nb = batchCount(n, this.o.batchSize, false);
    const acc = new Float64Array(1 + this.o.metrics.length);
    for (let b = 0; b < nb; b++) {
      const { x, y } = this.validBatcher.batch(order, b);
      const sums = tf.tidy(() => {
        const pred = this.model.apply(x, { training: false }) as tf.Tensor;
        const bs = pred.shape[0] ?? 0;
        const parts = [tf.mul(lossTensor(this.o.loss, pred, y), bs), ...this.o.metrics.map((m) => metricSums(m, pred, y, this.o.loss))];
        return tf.stack(parts);
      });
      const vals = await sums.data();
      sums.dispose();
      x.dispose();
      y.dispose();
      for (let i = 0; i < acc.length; i++) acc[i]! += vals[i] ?? NaN;
      await yieldToEventLoop();
    }
    const metrics: Record<string, number> = {};
    this.o.metrics.forEach((m, i) => (metrics[m] = finishMetric(m, acc[i + 1]!, n)));
    return { loss: acc[0]! / n, metrics };
  }

  /**
   * The loop every phase runs: epochs of shuffled batches, hypers from `hypers(iter)`, a smoothed loss,
   * a stop rule after each batch, validation after each epoch, cooperative cancellation.
   */
  async run(l: LoopOptions): Promise<LoopResult> {
    const t0 = performance.now();
    const bpe = this.batchesPerEpoch;
    const start = l.startEpoch ?? 0;
    const totalIters = l.totalIters ?? l.epochs * bpe;
    const emit = l.onEvent ?? (() => undefined);
    emit({ type: 'begin', phase: l.phase, totalIters, epochs: l.epochs, batchesPerEpoch: bpe });
    const smooth = l.resume ? SmoothLoss.from(l.resume.smooth) : new SmoothLoss();
    const epochs: EpochSummary[] = [];
    let reason: StopReason = 'completed';
    let ran = 0;
    if (bpe === 0) throw new Error(`not enough training data for one batch of ${this.o.batchSize}`);
    let epoch = l.resume?.epoch ?? start;
    let b = l.resume?.batch ?? 0;
    let iter = epoch * bpe + b;
    let epochRng = l.resume?.epochRng ?? this.rng.state();
    if (l.resume) this.rng.restore(l.resume.epochRng);
    const position = (): LoopPosition => ({ epoch, batch: b, epochRng, rng: this.rng.state(), smooth: smooth.state() });
    let resumeRng = l.resume && l.resume.batch > 0 ? l.resume.rng : undefined;
    outer: for (; epoch < start + l.epochs; epoch++, b = 0) {
      const te = performance.now();
      epochRng = this.rng.state();
      const order = epochOrder(this.data.train.n, this.o.shuffle, this.rng.next);
      if (resumeRng) {
        // mid-epoch resume: same order as the interrupted epoch, then the stream where it stopped (dropout)
        this.rng.restore(resumeRng);
        resumeRng = undefined;
      }
      for (; b < bpe; ) {
        // a signal that arrived during validation or the epoch's checkpoints: stop before the next batch
        const pending = l.signal?.requested ?? null;
        if (pending) {
          reason = pending;
          break outer;
        }
        const { lr, mom: wanted } = l.hypers(iter);
        const { x, y } = this.trainBatcher.batch(order, b, epoch);
        let loss: number;
        try {
          loss = await this.trainStep(x, y, lr, wanted);
        } finally {
          x.dispose();
          y.dispose();
        }
        const sm = smooth.add(loss);
        const mom = this.opt.hypers?.mom ?? wanted ?? NaN;
        const ev: BatchEvent = { type: 'batch', iter, epoch, batch: b, batchesPerEpoch: bpe, lr, mom, loss, smooth: sm };
        emit(ev);
        const why = l.rule?.({ iter: ran, loss, smooth: sm }) ?? null;
        iter++;
        ran++;
        b++;
        await l.afterBatch?.(ev);
        // SIGINT/SIGTERM handlers only run when the loop gives Node a turn: honoured within one batch
        await yieldToEventLoop();
        const stop = why ?? (Number.isFinite(loss) ? null : 'non_finite') ?? l.signal?.requested ?? null;
        if (stop) {
          reason = stop;
          break outer;
        }
      }
      await this.endEpoch(l, epoch, start, smooth, te, epochs, emit, () => ({ epoch: epoch + 1, batch: 0, epochRng: this.rng.state(), rng: this.rng.state(), smooth: smooth.state() }));
    }
    emit({ type: 'end', phase: l.phase, totalIters, epochs: l.epochs, batchesPerEpoch: bpe });
    return { stop: { reason, iteration: ran }, position: position(), iterations: ran, epochs, seconds: (performance.now() - t0) / 1000 };
  }

  private async endEpoch(
    l: LoopOptions,
    epoch: number,
    start: number,
    smooth: SmoothLoss,
    te: number,
    epochs: EpochSummary[],
    emit: EventSink,
    next: () => LoopPosition,
  ): Promise<void> {
    if (!l.validate) return;
    const v = await this.validate();
    const summary: EpochSummary = {
      epoch,
      train_loss: smooth.value,
      valid_loss: v.loss,
      metrics: v.metrics,
      seconds: (performance.now() - te) / 1000,
    };
    epochs.push(summary);
    emit({ type: 'epoch', epochs: start + l.epochs, ...summary });
    await l.afterEpoch?.(epoch, summary, next());
  }

  dispose(): void {
    this.opt.dispose();
  }
}

import { f32, lerpF32 } from './float32.js';

/** fastai's LRFinder runs at least this many iterations (`if num_it < 6: num_it = 6`). */
export const MIN_RANGE_TEST_ITERATIONS = 6;

/** The number of batches the range test runs for a requested `num_it` (fastai forces it up to 6). */
export function rangeTestIterations(numIt: number): number {
  return Math.max(MIN_RANGE_TEST_ITERATIONS, numIt);
}

/**
 * The lr of range-test batch `i`: `start·(end/start)^(i/numIt)` (fastai's `SchedExp` at `train_iter/num_it`),
 * in double. `numIt` is the number of batches actually run (see {@link rangeTestIterations}); `end` itself is
 * never reached.
 */
export function rangeTestLr(i: number, startLr: number, endLr: number, numIt: number): number {
  return startLr * Math.pow(endLr / startLr, i / numIt);
}

export interface SmoothLossState {
  /** the undebiased running average (a float32 value) */
  avg: number;
  /** number of losses added */
  count: number;
  beta: number;
}

/**
 * fastai's `AvgSmoothLoss` (beta 0.98), bit for bit: `avg ← torch.lerp(loss, avg, beta)` in float32
 * (`avg − (avg − loss)·(1 − beta)` with a fused multiply-add), reported debiased as `f32(avg / f32(1 − beta^k))`
 * after k losses. fastai resets it at the start of each fit, never between epochs.
 */
export class SmoothLoss {
  private avg = 0;
  private n = 0;

  constructor(readonly beta = 0.98) {}

  /** Add one batch loss; returns the debiased smoothed loss. */
  add(loss: number): number {
    this.n += 1;
    this.avg = lerpF32(loss, this.avg, this.beta);
    return this.value;
  }

  /** The debiased smoothed loss; NaN before any loss was added (fastai's 0/0). */
  get value(): number {
    return f32(this.avg / f32(1 - Math.pow(this.beta, this.n)));
  }

  get count(): number {
    return this.n;
  }

  reset(): void {
    this.avg = 0;
    this.n = 0;
  }

  state(): SmoothLossState {
    return { avg: this.avg, count: this.n, beta: this.beta };
  }

  static from(state: SmoothLossState | { avg: number; count: number }): SmoothLoss {
    const s = new SmoothLoss('beta' in state ? state.beta : 0.98);
    s.avg = f32(state.avg);
    s.n = state.count;
    return s;
  }
}

/** Why a range test stops after a batch. */
export type RangeTestStopReason = 'diverged' | 'num_it' | 'non_finite';

export interface RangeTestStopInput {
  /** smoothed loss of the batch just run */
  smoothed: number;
  /** lowest smoothed loss before this batch (Infinity at the first batch); including this batch works too */
  best: number;
  /** 0-based index of the batch just run */
  iteration: number;
  /** batches to run (already forced ≥ 6, see {@link rangeTestIterations}) */
  numIt: number;
  stopDiv: boolean;
}

/**
 * fastai's LRFinder stop rule after batch `iteration` (that batch is recorded either way):
 * a non-finite smoothed loss stops it (**fastlr**; fastai runs on with NaN), then
 * smoothed > 4 × best (best includes this batch) stops it when `stopDiv`, then having run `numIt` batches.
 * Returns the reason (or null to go on) and the updated best.
 */
export function rangeTestStop(i: RangeTestStopInput): { stop: RangeTestStopReason | null; best: number } {
  const best = i.smoothed < i.best ? i.smoothed : i.best;
  if (!Number.isFinite(i.smoothed)) return { stop: 'non_finite', best };
  if (i.stopDiv && i.smoothed > 4 * best) return { stop: 'diverged', best };
  if (i.iteration + 1 >= i.numIt) return { stop: 'num_it', best };
  return { stop: null, best };
}

/** {@link rangeTestStop} with the best loss kept for you. */
export class RangeTestStopRule {
  best = Infinity;
  /** `numIt` as requested: the rule runs `rangeTestIterations(numIt)` batches. */
  readonly numIt: number;
  constructor(numIt: number, readonly stopDiv = true) {
    this.numIt = rangeTestIterations(numIt);
  }
  /** Call after each batch with its 0-based index and smoothed loss. */
  after(iteration: number, smoothed: number): RangeTestStopReason | null {
    const r = rangeTestStop({ smoothed, best: this.best, iteration, numIt: this.numIt, stopDiv: this.stopDiv });
    this.best = r.best;
    return r.stop;
  }
}

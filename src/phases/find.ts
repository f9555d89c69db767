import type { Learner } from '../engine/learner.js';
import type { EventSink, StopReason, StopSignal } from '../engine/events.js';
import { rangeTestLr, rangeTestStop, suggest, type Method, type Suggestion } from '../schedule/index.js';

export interface RangeTestConfig {
  start_lr: number;
  end_lr: number;
  num_it: number;
  stop_div: boolean;
  suggest: Method;
}

export interface RangeTestResult {
  /** recorded learning rate of each batch (every group got the same) */
  lrs: number[];
  /** fastai's smoothed loss after each batch */
  losses: number[];
  raw_losses: number[];
  stop: { reason: StopReason; iteration: number };
  suggestions: Record<Method, Suggestion>;
  /** the configured method's LR, or null when it could not answer */
  suggested: number | null;
  method: Method;
  seconds: number;
}

export const ALL_METHODS: Method[] = ['valley', 'slide', 'steep', 'minimum'];

/**
 * fastai's LR range test: an exponential LR schedule plus a stop rule, run on the shared engine.
 * Weights, optimizer state and random state are snapshotted before and restored after: always,
 * also when the test throws or is interrupted.
 */
export async function rangeTest(
  learner: Learner,
  cfg: RangeTestConfig,
  opts: { signal?: StopSignal; onEvent?: EventSink } = {},
): Promise<RangeTestResult> {
  const numIt = Math.max(6, cfg.num_it); // fastai's LRFinder forces at least 6 iterations
  const groups = learner.groups.length;
  const lrs: number[] = [];
  const losses: number[] = [];
  const raw: number[] = [];
  let best = Infinity;
  const snap = learner.snapshot();
  try {
    const bpe = learner.batchesPerEpoch;
    const loop = await learner.run({
      phase: 'find',
      epochs: Math.ceil(numIt / Math.max(1, bpe)) + 1,
      totalIters: numIt,
      validate: false,
      signal: opts.signal,
      onEvent: opts.onEvent,
      // momentum and weight decay stay as the optimizer holds them (0.9 for a fresh Adam), as in fastai
      hypers: (i) => ({ lr: new Array<number>(groups).fill(rangeTestLr(i, cfg.start_lr, cfg.end_lr, numIt)) }),
      rule: ({ iter, loss, smooth }) => {
        lrs.push(rangeTestLr(iter, cfg.start_lr, cfg.end_lr, numIt));
        losses.push(smooth);
        raw.push(loss);
        const r = rangeTestStop({ smoothed: smooth, best, iteration: iter, numIt, stopDiv: cfg.stop_div });
        best = r.best;
        return r.stop;
      },
    });
    const suggestions = suggest(lrs, losses, { numIt: cfg.num_it, methods: ALL_METHODS });
    const pick = suggestions[cfg.suggest];
    return {
      lrs,
      losses,
      raw_losses: raw,
      stop: loop.stop,
      suggestions,
      suggested: 'lr' in pick ? pick.lr : null,
      method: cfg.suggest,
      seconds: loop.seconds,
    };
  } finally {
    learner.restore(snap);
  }
}

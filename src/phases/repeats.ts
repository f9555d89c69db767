import type { Learner } from '../engine/learner.js';
import { Rng } from '../engine/rng.js';
import type { EventSink, StopSignal } from '../engine/events.js';
import { METHODS, type Method } from '../schedule/index.js';
import { rangeTest, type RangeTestConfig, type RangeTestResult } from './find.js';
import { runRepeatJobs, type ParallelRepeats } from './parallel-repeats.js';

export interface MethodSpread {
  /** median of the LRs the repeats suggested (in log space: the geometric mean of the middle two when even) */
  median: number | null;
  min: number | null;
  max: number | null;
  /** log10(max/min): how many decades the suggestions span */
  spread_decades: number | null;
  /** repeats that produced a suggestion */
  answered: number;
}

export interface RepeatSummary {
  methods: Record<Method, MethodSpread>;
  /** do the methods' medians lie within `within`× of each other? */
  agreement: { within: number; ratio: number | null; agree: boolean };
  /** pointwise median of the smoothed-loss curves (where at least half the repeats reached) */
  median_curve: { lrs: number[]; losses: number[] };
}

/** Median in log space: the middle value, or the geometric mean of the middle two. */
export function logMedian(values: number[]): number | null {
  const v = values.filter((x) => x > 0 && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : Math.sqrt(v[mid - 1]! * v[mid]!);
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Per-method spread, the methods' agreement and the median curve of several range tests. Pure. */
export function summarizeRepeats(runs: Pick<RangeTestResult, 'lrs' | 'losses' | 'suggestions'>[], within: number): RepeatSummary {
  const methods = {} as Record<Method, MethodSpread>;
  for (const m of METHODS) {
    const lrs = runs.map((r) => r.suggestions[m]).flatMap((s) => ('lr' in s ? [s.lr] : []));
    const min = lrs.length ? Math.min(...lrs) : null;
    const max = lrs.length ? Math.max(...lrs) : null;
    methods[m] = {
      median: logMedian(lrs),
      min,
      max,
      spread_decades: min !== null && max !== null && min > 0 ? Math.log10(max / min) : null,
      answered: lrs.length,
    };
  }
  const medians = METHODS.map((m) => methods[m].median).filter((v): v is number => v !== null);
  const ratio = medians.length >= 2 ? Math.max(...medians) / Math.min(...medians) : null;
  const need = Math.ceil(runs.length / 2);
  const longest = Math.max(0, ...runs.map((r) => r.losses.length));
  const lrs: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < longest; i++) {
    const at = runs.filter((r) => i < r.losses.length && Number.isFinite(r.losses[i]!));
    if (at.length < need) break;
    lrs.push(at[0]!.lrs[i]!);
    losses.push(median(at.map((r) => r.losses[i]!)));
  }
  return {
    methods,
    agreement: { within, ratio, agree: ratio !== null && ratio <= within },
    median_curve: { lrs, losses },
  };
}

/** The data-order seed of repeat k (repeat 0 uses the plan's own stream). */
export function repeatSeed(seed: number, k: number): number {
  return k === 0 ? seed : seed + 7919 * k;
}

/**
 * Run the range test `n` times, each with its own data-order/dropout seed, each isolated and
 * restored exactly as a single `find` is; the learner's random state is put back at the end.
 * With `parallel` (and workers > 0) the repeats also run on worker threads (parallel-repeats.ts): the same runs,
 * number for number, in less time on several cores.
 */
export async function repeatedRangeTest(
  learner: Learner,
  cfg: RangeTestConfig,
  n: number,
  opts: { signal?: StopSignal; onEvent?: EventSink; onRepeat?: (k: number, r: RangeTestResult) => void; parallel?: ParallelRepeats } = {},
): Promise<{ runs: (RangeTestResult & { seed: number })[]; seeds: number[]; onWorkers: number }> {
  const outer = learner.rng.state();
  const runs: (RangeTestResult & { seed: number })[] = [];
  const seeds: number[] = [];
  try {
    if (opts.parallel && opts.parallel.workers > 0 && n > 1) {
      const jobs = Array.from({ length: n }, (_, k) => ({ k, rng: k === 0 ? outer : new Rng(repeatSeed(learner.rng.seed, k)).state() }));
      const { results, onWorkers } = await runRepeatJobs(learner, cfg, jobs, opts.parallel, opts);
      // as the sequential loop: in order, up to the first repeat that did not run, or the first interrupted one
      for (const [k, r] of results.entries()) {
        if (r === undefined) break;
        const seed = repeatSeed(learner.rng.seed, k);
        runs.push({ ...r, seed });
        seeds.push(seed);
        if (r.stop.reason === 'interrupted') break;
      }
      return { runs, seeds, onWorkers };
    }
    for (let k = 0; k < n; k++) {
      const seed = repeatSeed(learner.rng.seed, k);
      learner.rng.restore(k === 0 ? outer : new Rng(seed).state());
      const r = await rangeTest(learner, cfg, opts);
      runs.push({ ...r, seed });
      seeds.push(seed);
      opts.onRepeat?.(k, r);
      if (r.stop.reason === 'interrupted') break;
    }
  } finally {
    learner.rng.restore(outer);
  }
  return { runs, seeds, onWorkers: 0 };
}

/**
 * `threads: auto`: split a kernel over the pool only where that is measured to pay off.
 *
 * Whether N threads beat one depends on the work per call (a wake + join round trip costs ~5 µs when the workers
 * are spinning, tens of µs when they sleep), on the copies a threaded path needs (tfjs-backend-wasm's heap is not
 * shared with worker threads) and on whether a core is free at all (on a loaded machine a worker waits for a core
 * and the calling thread waits for the worker). So each call site (a kernel and its shapes: the same every training
 * step) is timed both ways: after one untimed call each, calls alternate until every option has PROBES samples;
 * then the faster (smallest recent wall time) runs, and the other one is tried again every REPROBE calls, so a
 * change of load is noticed. Every option computes every output element the same way (the thread split is over
 * disjoint output tiles), so the choice never changes a result, only how long it takes.
 *
 * A site chooses to split only when that is at least MARGIN faster: a split also costs what the timing of one
 * call does not see (a worker polling for the next call takes a core the machine may need elsewhere).
 *
 * Whole steps judge the sum (stepBegin/stepEnd, called by the learner around each training step): the per-site
 * choices can each be right and the step still slower (the main thread's JS between kernels waiting for a core a
 * worker holds, caches). After WARM_STEPS steps, steps alternate between the sites' choices and one thread
 * everywhere until each has STEP_PROBES samples; the sites' choices are kept only if their fastest recent step is
 * MARGIN faster than one thread's, and the comparison is repeated every STEP_REPROBE steps.
 *
 * With an explicit count (`threads: N`) there is no measuring: N threads wherever the work is large enough.
 */
import { threadCount, threadsAdaptive } from './pool.js';

const PROBES = 3;
const REPROBE = 24;
/** a split must be this much faster (time ratio) to be chosen, by a call site and by whole steps */
const MARGIN = 0.95;
const WARM_STEPS = 10;
const STEP_PROBES = 3;
const STEP_REPROBE = 50;
/** recent samples kept per option */
const KEEP = 4;
/** call sites remembered (shapes change rarely; a bound keeps a long-running process flat) */
const MAX_SITES = 4096;

interface Site {
  calls: number;
  /** recent wall times (ms): [0] one thread, [1] split */
  samples: [number[], number[]];
  choice: 0 | 1;
}

const sites = new Map<string, Site>();

function best(s: number[]): number {
  return s.length === 0 ? Infinity : Math.min(...s);
}

/** which option call number `calls` of a site runs */
function pick(site: Site): 0 | 1 {
  const n = site.calls;
  if (n < 2) return n === 0 ? 1 : 0; // untimed warm-up of each (worker start, first-call packing)
  if (n < 2 + 2 * PROBES) return (n % 2) as 0 | 1;
  return n % REPROBE === 0 ? ((1 - site.choice) as 0 | 1) : site.choice;
}

/**
 * Runs `run(t)` with t = the configured thread count or 1: always the configured count unless `threads: auto`,
 * then whichever the site `key` has measured faster. `run(1)` must be the kernel's best one-thread path.
 */
export function withThreads<T>(key: string, run: (threads: number) => T): T {
  const threads = threadCount();
  if (threads <= 1 || !threadsAdaptive()) return run(threads);
  if (steps.oneNow) return run(1);
  steps.splitCalls++;
  const at = `${key}|${threads}`;
  let site = sites.get(at);
  if (site === undefined) {
    if (sites.size >= MAX_SITES) sites.clear();
    site = { calls: 0, samples: [[], []], choice: 1 };
    sites.set(at, site);
  }
  const option = steps.frozen ? site.choice : pick(site);
  const timed = site.calls >= 2 && !steps.frozen;
  site.calls++;
  const t0 = performance.now();
  const out = run(option === 1 ? threads : 1);
  if (timed) {
    const s = site.samples[option];
    s.push(performance.now() - t0);
    if (s.length > KEEP) s.shift();
    site.choice = best(site.samples[1]) < MARGIN * best(site.samples[0]) ? 1 : 0;
  }
  return out;
}

/** Per call site: how often it ran, and which option it runs now (bench/tools; `1` = one thread). */
export function adaptiveChoices(): { key: string; calls: number; threads: 'one' | 'split'; oneMs: number; splitMs: number }[] {
  return [...sites].map(([key, s]) => ({
    key,
    calls: s.calls,
    threads: s.choice === 1 ? 'split' : 'one',
    oneMs: best(s.samples[0]),
    splitMs: best(s.samples[1]),
  }));
}

/** The whole-step judge's state (module-wide: one training loop at a time per process). */
interface Steps {
  /** steps seen */
  n: number;
  /** this step runs on one thread everywhere */
  oneNow: boolean;
  /** the sites keep their choices (no per-site probing) while steps are being compared */
  frozen: boolean;
  /** withThreads calls that could split in this step */
  splitCalls: number;
  t0: number;
  /** recent step wall times (ms): [0] one thread everywhere, [1] the sites' choices */
  samples: [number[], number[]];
  /** the sites' choices are in force (else: one thread everywhere, between comparisons) */
  split: boolean;
  /** the thread count the samples were taken at */
  threads: number;
}
const fresh = (threads = 0): Steps => ({ n: 0, oneNow: false, frozen: false, splitCalls: 0, t0: 0, samples: [[], []], split: true, threads });
let steps: Steps = fresh();

/** which mode step number `n` runs: 0 one thread everywhere, 1 the sites' choices; null: not a compared step */
function stepMode(n: number, split: boolean): { mode: 0 | 1; compared: boolean } {
  if (n < WARM_STEPS) return { mode: 1, compared: false };
  const k = n - WARM_STEPS;
  if (k < 2 * STEP_PROBES) return { mode: (k % 2 === 0 ? 0 : 1) as 0 | 1, compared: true };
  const r = (k - 2 * STEP_PROBES) % STEP_REPROBE;
  if (r < 2) return { mode: (r === 0 ? 0 : 1) as 0 | 1, compared: true };
  return { mode: split ? 1 : 0, compared: false };
}

/**
 * A training step begins (the learner calls this; with `threads: auto` it may decide the step runs on one thread
 * everywhere). Pair with stepEnd once the step's result has been read back.
 */
export function stepBegin(): void {
  if (!threadsAdaptive()) return;
  if (steps.threads !== threadCount()) steps = fresh(threadCount());
  const { mode, compared } = stepMode(steps.n, steps.split);
  steps.oneNow = mode === 0;
  steps.frozen = compared;
  steps.splitCalls = 0;
  steps.t0 = performance.now();
}

/** The training step begun by stepBegin has finished (its loss read back). */
export function stepEnd(): void {
  if (!threadsAdaptive()) return;
  const ms = performance.now() - steps.t0;
  const { mode, compared } = stepMode(steps.n, steps.split);
  steps.n++;
  const wasOne = steps.oneNow;
  steps.oneNow = false;
  steps.frozen = false;
  // a step with nothing to split says nothing about splitting
  if (!compared || (!wasOne && steps.splitCalls === 0)) return;
  const s = steps.samples[mode];
  s.push(ms);
  if (s.length > KEEP) s.shift();
  if (steps.samples[0].length > 0 && steps.samples[1].length > 0) {
    steps.split = best(steps.samples[1]) < MARGIN * best(steps.samples[0]);
  }
}

/** What the whole-step judge has seen (bench/tools): fastest recent step each way, ms, and which one is in force. */
export function adaptiveSteps(): { steps: number; oneMs: number; splitMs: number; split: boolean } {
  return { steps: steps.n, oneMs: best(steps.samples[0]), splitMs: best(steps.samples[1]), split: steps.split };
}

/** Forgets every measurement (tests, and a change of thread count). */
export function resetAdaptive(): void {
  sites.clear();
  steps = fresh();
}

/**
 * `find --repeats N` over several cores: the repeats are independent range tests from the same learner state, each
 * with its own RNG state, so they can run at once. This thread runs them from a queue as the sequential loop does,
 * and worker threads (repeat-worker.ts, one kernel thread each) take repeats from the same queue once their own
 * session is open. Who runs a repeat does not change its numbers (same plan, same state, same RNG state, kernels
 * bit-identical at any thread count); a worker that fails gives its repeat back to the queue.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Learner } from '../engine/learner.js';
import { StopSignal, type EventSink, type StopReason } from '../engine/events.js';
import type { RngState } from '../engine/rng.js';
import type { OptimizerState } from '../optim/index.js';
import type { Plan } from '../plan/index.js';
import type { Dataset } from '../data/index.js';
import { setThreads, threadCount } from '../kernels/simd/pool.js';
import { rangeTest, type RangeTestConfig, type RangeTestResult } from './find.js';

/** What a worker needs to rebuild the coordinator's learner: the plan, and the state in positional form. */
export interface RepeatWorkerData {
  plan: Plan;
  modelDir?: string;
  /** the coordinator's dataset when it is plain arrays (images, made per batch from pixels, are loaded again) */
  data?: Dataset;
  cfg: RangeTestConfig;
  /** model.weights in order, with the coordinator's names (the optimizer state is keyed by them) */
  weights: { name: string; shape: number[]; data: Float32Array }[];
  optimizer: OptimizerState;
  rng: RngState;
  frozenGroups: number;
}
/** stop: the repeat `k` (another thread finished it first), or whatever runs (a signal) */
export type ToWorker = { type: 'job'; k: number; rng: RngState; stop: boolean } | { type: 'stop'; k?: number } | { type: 'close' };
export type FromWorker = { type: 'ready' } | { type: 'result'; k: number; result: RangeTestResult } | { type: 'error'; k: number; message: string };

export interface RepeatJob {
  k: number;
  rng: RngState;
}

export interface ParallelRepeats {
  /** the plan the learner's session was opened from (the workers open theirs from it) */
  plan: Plan;
  /** the model folder the session loaded instead of the plan's model (find --unfreeze) */
  modelDir?: string;
  /** worker threads besides this one (0: everything runs here) */
  workers: number;
  /** false: this thread only coordinates, the workers run every repeat (tests; default true) */
  local?: boolean;
}

export interface RepeatJobsResult {
  /** by job index; undefined: not run (after a stop) */
  results: (RangeTestResult | undefined)[];
  /** how many repeats worker threads ran */
  onWorkers: number;
}

/** A stop flag that is also set when `parent` is. */
class LinkedSignal extends StopSignal {
  constructor(private readonly parent: StopSignal | undefined) {
    super();
  }
  override get requested(): StopReason | null {
    return super.requested ?? this.parent?.requested ?? null;
  }
}

/** The fields of a dataset a worker's session reads (no warnings or skipped lists: the coordinator reported them). */
function plainData(d: Dataset): Dataset {
  const split = (s: Dataset['train']): Dataset['train'] => ({ x: s.x, y: s.y, n: s.n });
  return {
    train: split(d.train),
    valid: split(d.valid),
    inputShape: d.inputShape,
    task: d.task,
    nClasses: d.nClasses,
    targetDim: d.targetDim,
    classNames: d.classNames,
    source: d.source,
    ...(d.preprocessing !== undefined ? { preprocessing: d.preprocessing } : {}),
  };
}

/** The compiled worker (dist/phases/repeat-worker.js, also when this module runs from src/ under a test runner). */
const WORKER_FILE = fileURLToPath(new URL('../../dist/phases/repeat-worker.js', import.meta.url));

/** Worker threads worth starting for `repeats` repeats on `threads` threads: this thread runs repeats too. */
export function repeatWorkers(repeats: number, threads: number): number {
  return Math.max(0, Math.min(repeats - 1, threads - 1));
}

/**
 * Runs `jobs` here and on `par.workers` worker threads.
 * A repeat that ends `interrupted`, or the signal, stops the queue: repeats already running finish or stop.
 */
export async function runRepeatJobs(
  learner: Learner,
  cfg: RangeTestConfig,
  jobs: readonly RepeatJob[],
  par: ParallelRepeats,
  opts: { signal?: StopSignal; onEvent?: EventSink; onRepeat?: (k: number, r: RangeTestResult) => void },
): Promise<RepeatJobsResult> {
  const results: (RangeTestResult | undefined)[] = new Array<RangeTestResult | undefined>(jobs.length).fill(undefined);
  const queue = [...jobs];
  /** repeats running on a worker, with its handle */
  const inFlight = new Map<number, { job: RepeatJob; w: Worker }>();
  /** repeats this thread runs again while a worker runs them (first to finish wins: the same numbers) */
  const doubles = new Map<number, StopSignal>();
  let stopped = false;
  let onWorkers = 0;
  // after a signal the next repeat still starts and stops at once (interrupted), as in the sequential loop
  const take = (): RepeatJob | undefined => (stopped ? undefined : queue.shift());
  const done = (k: number, r: RangeTestResult): void => {
    results[k] = r;
    opts.onRepeat?.(k, r);
    if (r.stop.reason === 'interrupted') stopped = true;
  };
  let wake: () => void = () => undefined;

  const nWorkers = existsSync(WORKER_FILE) ? Math.min(par.workers, jobs.length - 1) : 0;
  const workers: Worker[] = [];
  let live = 0;
  if (nWorkers > 0) {
    const snap = learner.snapshot();
    const data: RepeatWorkerData = {
      plan: par.plan,
      ...(par.modelDir !== undefined ? { modelDir: par.modelDir } : {}),
      ...(learner.data.train.rows === undefined && learner.data.valid.rows === undefined ? { data: plainData(learner.data) } : {}),
      cfg,
      weights: learner.model.weights.map((w) => ({ name: w.originalName, ...snap.weights.get(w.originalName)! })),
      optimizer: snap.optimizer,
      rng: snap.rng,
      frozenGroups: snap.frozenGroups,
    };
    for (let i = 0; i < nWorkers; i++) {
      let w: Worker;
      try {
        w = new Worker(WORKER_FILE, { workerData: data, stdout: true, stderr: true });
      } catch (e) {
        if (process.env.FASTLR_DEBUG_WORKERS) process.stderr.write(`repeat worker: ${String(e)}\n`);
        break; // no worker threads here (or the plan does not clone): this thread runs every repeat
      }
      // the worker's own output (backend notes) is not this run's: drained, not shown
      w.stdout.resume();
      w.stderr.resume();
      let job: RepeatJob | undefined;
      let alive = true;
      const giveBack = (): void => {
        if (job !== undefined) {
          inFlight.delete(job.k);
          if (results[job.k] === undefined && !doubles.has(job.k)) {
            queue.unshift(job);
            queue.sort((a, b) => a.k - b.k);
          }
          job = undefined;
        }
      };
      const retire = (): void => {
        if (!alive) return;
        alive = false;
        live--;
        giveBack();
        void w.terminate();
        wake();
      };
      const assign = (): void => {
        job = take();
        if (job === undefined) {
          w.postMessage({ type: 'close' } satisfies ToWorker);
          return;
        }
        inFlight.set(job.k, { job, w });
        // a stop already requested travels with the job (the relay below may come later)
        w.postMessage({ type: 'job', k: job.k, rng: job.rng, stop: opts.signal?.requested != null } satisfies ToWorker);
      };
      w.on('message', (m: FromWorker) => {
        if (!alive) return;
        if (m.type === 'ready') assign();
        else if (m.type === 'result') {
          inFlight.delete(m.k);
          job = undefined;
          if (results[m.k] === undefined) {
            onWorkers++;
            done(m.k, m.result);
            doubles.get(m.k)?.request('interrupted');
          }
          assign();
        } else {
          if (process.env.FASTLR_DEBUG_WORKERS) process.stderr.write(`repeat worker: ${m.message}\n`);
          retire();
        }
        wake();
      });
      w.on('error', (e) => {
        if (process.env.FASTLR_DEBUG_WORKERS) process.stderr.write(`repeat worker: ${String(e)}\n`);
        retire();
      });
      w.on('exit', retire);
      workers.push(w);
      live++;
    }
  }
  // a signal (Ctrl-C) reaches the workers' own loops within a batch, as it reaches this thread's
  const relay = workers.length
    ? setInterval(() => {
        if (opts.signal?.requested) for (const w of workers) w.postMessage({ type: 'stop' } satisfies ToWorker);
      }, 50)
    : undefined;
  const threadsBefore = threadCount();
  // one kernel thread here while workers run: each repeat is one core's work
  if (workers.length) setThreads(1);
  try {
    for (;;) {
      // without live workers this thread runs what is left, whatever `local` says
      const here = par.local !== false || live === 0;
      const j = here ? take() : undefined;
      if (j !== undefined) {
        learner.rng.restore(j.rng);
        done(j.k, await rangeTest(learner, cfg, opts));
        continue;
      }
      // nothing left to start: rather than wait, run the oldest repeat a worker still runs (a cold worker can
      // be slower than this warm thread); whichever finishes first gives the result, the other is stopped
      const twin = here && !stopped ? [...inFlight.values()].find((f) => !doubles.has(f.job.k)) : undefined;
      if (twin !== undefined) {
        const { job: tj, w: tw } = twin;
        const mine = new LinkedSignal(opts.signal);
        doubles.set(tj.k, mine);
        learner.rng.restore(tj.rng);
        const r = await rangeTest(learner, cfg, { ...opts, signal: mine });
        doubles.delete(tj.k);
        if (results[tj.k] === undefined) {
          done(tj.k, r);
          if (inFlight.get(tj.k)?.w === tw) {
            inFlight.delete(tj.k);
            tw.postMessage({ type: 'stop', k: tj.k } satisfies ToWorker);
          }
        }
        continue;
      }
      // done when nothing runs and nothing is left to start (a stop leaves the rest of the queue unstarted)
      if (inFlight.size === 0 && (stopped || queue.length === 0)) break;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    if (relay) clearInterval(relay);
    setThreads(threadsBefore);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return { results, onWorkers };
}

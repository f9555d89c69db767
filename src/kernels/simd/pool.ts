/**
 * The worker threads fastlr's SIMD programs run on: node:worker_threads, each instantiating the same programs
 * against one shared WebAssembly.Memory, woken per call through Atomics on a small shared control block. The
 * calling (main) thread runs the first call itself and waits for the others, so a kernel stays synchronous, as
 * tfjs kernels must be.
 *
 * Determinism: callers split a kernel's OUTPUT into disjoint tiles, one call each; every output element is computed
 * by exactly one thread with the same program and the same summation order as on one thread, so results are
 * bit-identical at any thread count (test/threads.test.ts).
 */
import { openSync, readSync } from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';

/** The cores this process may use (os.availableParallelism(), where Node has it). */
export function availableThreads(): number {
  const f = (os as { availableParallelism?: () => number }).availableParallelism;
  return Math.max(1, typeof f === 'function' ? f() : os.cpus().length);
}

/** `threads:` as configured → a count (auto: every available core). */
export function resolveThreads(setting: 'auto' | number): number {
  if (setting === 'auto') return availableThreads();
  if (!Number.isInteger(setting) || setting < 1) throw new Error(`threads must be "auto" or a positive integer, got ${String(setting)}`);
  return setting;
}

let current = 1;
let adaptive = false;

/**
 * The thread count kernels split their work over from now on (1: everything on the calling thread). `auto`: every
 * available core, and each kernel call site measures whether splitting pays off (simd/adaptive.ts) and stays on one
 * thread where it does not; a number: split wherever the work is large enough (tiles.ts MIN_PARALLEL_MACS).
 */
export function setThreads(n: 'auto' | number): void {
  current = resolveThreads(n);
  adaptive = n === 'auto';
}

export function threadCount(): number {
  return current;
}

/** true when the count came from `auto` (kernels then choose per call site, simd/adaptive.ts) */
export function threadsAdaptive(): boolean {
  return adaptive && current > 1;
}

/** What the pool did since the last reset (bench/tools): runs, runs split over several threads, calls in them. */
export interface PoolStats {
  runs: number;
  splitRuns: number;
  splitCalls: number;
  /** wall time of the split runs, ms */
  splitMs: number;
  /**
   * Σ over split runs of the busiest thread's time in its calls (each thread timing the calls it claimed): what
   * the split runs would take with a free core per thread, no waiting to be scheduled; and all calls' total time
   * (their work)
   */
  splitLongestMs: number;
  splitWorkMs: number;
  /**
   * The same two sums counting only each call's time on a core (its wall time less the time its thread waited for
   * a core meanwhile, /proc/thread-self/schedstat): what a machine with a free core per thread would see. Only with
   * FASTLR_POOL_CPU=1 when the pool starts (bench/tools; two reads of a /proc file per call), else 0
   */
  splitLongestCpuMs: number;
  splitWorkCpuMs: number;
  /**
   * Σ over split runs of max(the longest call, the work / threads), by time on a core: what the runs would take
   * with a free core per thread, the threads claiming calls as they come free (the busiest thread's time above is
   * what happened here: on a loaded machine the calling thread claims what a worker waiting for a core cannot)
   */
  splitBalancedCpuMs: number;
  /** the split runs' wall time less the calling thread's waits for a core during them (FASTLR_POOL_CPU=1) */
  splitMainOnCoreMs: number;
}
const ZERO: PoolStats = { runs: 0, splitRuns: 0, splitCalls: 0, splitMs: 0, splitLongestMs: 0, splitWorkMs: 0, splitLongestCpuMs: 0, splitWorkCpuMs: 0, splitBalancedCpuMs: 0, splitMainOnCoreMs: 0 };
const stats: PoolStats = { ...ZERO };

export function poolStats(reset = false): PoolStats {
  const s = { ...stats };
  if (reset) Object.assign(stats, ZERO);
  return s;
}

/** One program call: an export of the shared module and its i32 arguments. */
export interface Call {
  fn: string;
  args: readonly number[];
}

/*
 * The control block (Int32Array over a SharedArrayBuffer):
 *   [PENDING]  calls of the current run not yet finished (the calling thread waits for 0)
 *   [FAILED]   1 when a call trapped on a worker
 *   [NEXT]     the run's claim word: generation (11 bits) | calls (10 bits) | next unclaimed call (10 bits); every
 *              thread claims calls with a compare-and-swap on it, workers sleep on it between runs
 *   then MAX_CALLS call slots of SLOT int32: program index, argument count, arguments, and after the call: the
 *   thread that ran it, its wall time and its time waiting for a core (1/10 µs, PoolStats).
 * Claiming instead of one fixed call per thread: a worker that does not get a core soon (a loaded machine) costs
 * nothing, the calling thread runs the calls nobody has claimed itself, and only waits for calls already running.
 */
const PENDING = 0;
const FAILED = 1;
const NEXT = 2;
const HEADER = 16;
const SLOT = 32;
const WHO = SLOT - 3;
const ELAPSED = SLOT - 1;
const WAITED = SLOT - 2;
const MAX_ARGS = SLOT - 5;
/** calls one run can hold (a split's tiles) */
export const MAX_CALLS = 1023;
const IDX_BITS = 10;
const IDX_MASK = (1 << IDX_BITS) - 1;

/**
 * How long this thread has waited for a core so far, ms (the run_delay of Linux schedstat: brought up to date
 * whenever the thread gets a core back, so it is exact at any moment the thread runs; its run time field, by
 * contrast, lags by up to a scheduler tick). A call's time on a core = its wall time − the growth of this.
 * null where that file does not exist.
 */
function threadCpuReader(): (() => number) | null {
  try {
    const fd = openSync('/proc/thread-self/schedstat', 'r');
    const buf = Buffer.alloc(96);
    return () => {
      const n = readSync(fd, buf, 0, buf.length, 0);
      return Number(buf.toString('latin1', 0, n).split(' ')[1]) / 1e6;
    };
  } catch {
    return null;
  }
}
/**
 * How long (µs) a worker polls for the next run before it sleeps in Atomics.wait: a training step calls kernels
 * back to back with a little JS between them; longer polling only takes a core from someone else.
 */
const WORKER_SPIN_US = 60;
/**
 * How long (µs) the calling thread polls for calls still running on workers before it sleeps (by then every call
 * is claimed: what is left is at most one tile per worker)
 */
const MAIN_SPIN_US = 100;

// Plain CommonJS, run with { eval: true }: needs no file on disk, so it works from dist/ and under vitest alike.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, bytes, names, ctrl, id, spinUs, cpuStats } = workerData;
let cpuNow = null;
if (cpuStats) {
  try {
    const fs = require('node:fs');
    const fd = fs.openSync('/proc/thread-self/schedstat', 'r');
    const buf = Buffer.alloc(96);
    cpuNow = () => Number(buf.toString('latin1', 0, fs.readSync(fd, buf, 0, 96, 0)).split(' ')[1]) / 1e6;
  } catch (e) {
    cpuNow = null;
  }
}
const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
const fns = names.map((n) => inst.exports[n]);
const c = new Int32Array(ctrl);
let v = Atomics.load(c, ${NEXT});
for (;;) {
  // claim calls of the current run until none is left
  for (;;) {
    const n = (v >>> ${IDX_BITS}) & ${IDX_MASK};
    const i = v & ${IDX_MASK};
    if (i >= n) break;
    const w = Atomics.compareExchange(c, ${NEXT}, v, v + 1);
    if (w !== v) { v = w; continue; }
    v = v + 1;
    const base = ${HEADER} + i * ${SLOT};
    const fn = c[base];
    const k = c[base + 1];
    const args = new Array(k);
    for (let a = 0; a < k; a++) args[a] = c[base + 2 + a];
    const u0 = cpuNow === null ? 0 : cpuNow();
    const t0 = performance.now();
    try {
      fns[fn](...args);
    } catch (e) {
      Atomics.store(c, ${FAILED}, 1);
    }
    const el = performance.now() - t0;
    c[base + ${WHO}] = id;
    c[base + ${ELAPSED}] = Math.min(2147483647, Math.round(el * 10000));
    c[base + ${WAITED}] = cpuNow === null ? 0 : Math.max(0, Math.min(2147483647, Math.round((cpuNow() - u0) * 10000)));
    if (Atomics.sub(c, ${PENDING}, 1) === 1) Atomics.notify(c, ${PENDING});
  }
  // wait for the next run: poll a little, then sleep
  const seen = v;
  const until = performance.now() + spinUs / 1000;
  for (let p = 0; v === seen; p++) {
    v = Atomics.load(c, ${NEXT});
    if ((p & 255) === 255 && performance.now() > until) break;
  }
  while (v === seen) {
    Atomics.wait(c, ${NEXT}, seen);
    v = Atomics.load(c, ${NEXT});
  }
}
`;

type Fn = (...args: number[]) => void;

/** Workers for one shared memory. Grows to the largest thread count asked for; idle workers sleep. */
export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ctrl: Int32Array;
  private readonly index: Map<string, number>;
  private gen = 0;
  /** the calling thread's CPU clock, when FASTLR_POOL_CPU=1 */
  private readonly cpuNow: (() => number) | null = process.env['FASTLR_POOL_CPU'] === '1' ? threadCpuReader() : null;

  constructor(
    private readonly memory: object,
    private readonly bytes: Uint8Array,
    private readonly local: Record<string, unknown>,
    private readonly names: readonly string[],
    private readonly maxWorkers = 63,
  ) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(4 * (HEADER + SLOT * MAX_CALLS)));
    this.index = new Map(names.map((n, i) => [n, i]));
  }

  private ensure(workers: number): void {
    if (workers > this.maxWorkers) throw new Error(`at most ${this.maxWorkers + 1} threads are supported, asked for ${workers + 1}`);
    while (this.workers.length < workers) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          memory: this.memory,
          bytes: this.bytes,
          names: this.names,
          ctrl: this.ctrl.buffer,
          id: this.workers.length + 1,
          spinUs: WORKER_SPIN_US,
          cpuStats: this.cpuNow !== null,
        },
      });
      // never keep the process alive; an idle worker only sleeps in Atomics.wait
      w.unref();
      this.workers.push(w);
    }
  }

  /**
   * Runs the calls on this thread and `threads - 1` workers, each call on whichever thread claims it first (they
   * must write disjoint memory); returns when every call has finished. Which thread runs a call never changes
   * what it computes.
   */
  run(calls: readonly Call[], threads = calls.length): void {
    if (calls.length === 0) return;
    const workers = Math.min(threads, calls.length) - 1;
    stats.runs++;
    if (workers < 1) {
      for (const call of calls) (this.local[call.fn] as Fn)(...call.args);
      return;
    }
    if (calls.length > MAX_CALLS) throw new Error(`at most ${MAX_CALLS} calls in one run, got ${calls.length}`);
    const c = this.ctrl;
    const cpu = this.cpuNow;
    const w0 = cpu === null ? 0 : cpu();
    const t0 = performance.now();
    this.ensure(workers);
    for (let i = 0; i < calls.length; i++) {
      const call = calls[i]!;
      const fn = this.index.get(call.fn);
      if (fn === undefined) throw new Error(`no program ${call.fn}`);
      if (call.args.length > MAX_ARGS) throw new Error(`${call.fn}: more than ${MAX_ARGS} arguments`);
      const base = HEADER + i * SLOT;
      c[base] = fn;
      c[base + 1] = call.args.length;
      for (let a = 0; a < call.args.length; a++) c[base + 2 + a] = call.args[a]! | 0;
    }
    Atomics.store(c, FAILED, 0);
    Atomics.store(c, PENDING, calls.length);
    this.gen = (this.gen + 1) & 0x7ff;
    let v = (this.gen << (2 * IDX_BITS)) | (calls.length << IDX_BITS);
    Atomics.store(c, NEXT, v);
    Atomics.notify(c, NEXT, workers);
    let failure: unknown = null;
    const n = calls.length;
    // claim calls like the workers do
    for (;;) {
      const i = v & IDX_MASK;
      if (i >= n) break;
      const w = Atomics.compareExchange(c, NEXT, v, v + 1);
      if (w !== v) {
        v = w;
        continue;
      }
      v++;
      const call = calls[i]!;
      const u0 = cpu === null ? 0 : cpu();
      const tm = performance.now();
      try {
        (this.local[call.fn] as Fn)(...call.args);
      } catch (e) {
        failure ??= e;
      }
      const el = performance.now() - tm;
      const base = HEADER + i * SLOT;
      c[base + WHO] = 0;
      c[base + ELAPSED] = Math.min(2147483647, Math.round(el * 10000));
      c[base + WAITED] = cpu === null ? 0 : Math.max(0, Math.min(2147483647, Math.round((cpu() - u0) * 10000)));
      Atomics.sub(c, PENDING, 1);
    }
    let left = Atomics.load(c, PENDING);
    const until = left === 0 ? 0 : performance.now() + MAIN_SPIN_US / 1000;
    for (let i = 0; left !== 0; i++) {
      left = Atomics.load(c, PENDING);
      if ((i & 255) === 255 && performance.now() > until) break;
    }
    while (left !== 0) {
      Atomics.wait(c, PENDING, left);
      left = Atomics.load(c, PENDING);
    }
    stats.splitRuns++;
    stats.splitCalls += n;
    const runMs = performance.now() - t0;
    stats.splitMs += runMs;
    if (cpu !== null) stats.splitMainOnCoreMs += runMs - (cpu() - w0);
    const per = new Float64Array(workers + 1);
    const perCpu = new Float64Array(workers + 1);
    let longestCall = 0;
    for (let i = 0; i < n; i++) {
      const base = HEADER + i * SLOT;
      const who = Math.min(workers, c[base + WHO]!);
      const ms = c[base + ELAPSED]! / 10000;
      const onCore = Math.max(0, ms - c[base + WAITED]! / 10000);
      per[who]! += ms;
      perCpu[who]! += onCore;
      longestCall = Math.max(longestCall, onCore);
    }
    stats.splitLongestMs += Math.max(...per);
    stats.splitWorkMs += per.reduce((a, b) => a + b, 0);
    if (cpu !== null) {
      stats.splitLongestCpuMs += Math.max(...perCpu);
      const work = perCpu.reduce((a, b) => a + b, 0);
      stats.splitWorkCpuMs += work;
      stats.splitBalancedCpuMs += Math.max(longestCall, work / (workers + 1));
    }
    if (Atomics.load(c, FAILED) !== 0 && failure === null) {
      failure = new Error(`a worker thread trapped running ${[...new Set(calls.map((x) => x.fn))].join(', ')}`);
    }
    if (failure !== null) throw failure;
  }

  /** Ends the workers (tests; the process does not wait for them anyway). */
  async close(): Promise<void> {
    const ws = this.workers.splice(0);
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

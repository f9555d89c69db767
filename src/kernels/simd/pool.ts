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
   * Σ over split runs of the longest call's own time (each thread timing its call): what the split runs would
   * take with a free core per thread, no waiting to be scheduled; and the same calls' total time (their work)
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
}
const ZERO: PoolStats = { runs: 0, splitRuns: 0, splitCalls: 0, splitMs: 0, splitLongestMs: 0, splitWorkMs: 0, splitLongestCpuMs: 0, splitWorkCpuMs: 0 };
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

const HEADER = 16;
const SLOT = 32;
/** the last int32 of a slot: the worker's time in its last call, in 1/10 µs (PoolStats) */
const ELAPSED = SLOT - 1;
/** the one before: its time on a core in that call, 1/10 µs (FASTLR_POOL_CPU=1) */
const CPU = SLOT - 2;
const MAX_ARGS = SLOT - 5;

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
/** Atomics.load polls before a worker sleeps in Atomics.wait (a training step calls kernels back to back). */
const WORKER_SPIN = 20000;
/** polls before the calling thread sleeps while the workers finish */
const MAIN_SPIN = 1 << 20;

// Plain CommonJS, run with { eval: true }: needs no file on disk, so it works from dist/ and under vitest alike.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, bytes, names, ctrl, slot, spin, cpuStats } = workerData;
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
const base = ${HEADER} + slot * ${SLOT};
let seen = 0;
for (;;) {
  let s = Atomics.load(c, base);
  for (let i = 0; s === seen && i < spin; i++) s = Atomics.load(c, base);
  while (s === seen) {
    Atomics.wait(c, base, seen);
    s = Atomics.load(c, base);
  }
  seen = s;
  const fn = c[base + 1];
  const n = c[base + 2];
  const args = new Array(n);
  for (let i = 0; i < n; i++) args[i] = c[base + 3 + i];
  const u0 = cpuNow === null ? 0 : cpuNow();
  const t0 = performance.now();
  try {
    fns[fn](...args);
  } catch (e) {
    Atomics.store(c, 1, 1);
  }
  const el = performance.now() - t0;
  c[base + ${SLOT - 1}] = Math.min(2147483647, Math.round(el * 10000));
  c[base + ${SLOT - 2}] = cpuNow === null ? 0 : Math.max(0, Math.min(2147483647, Math.round((el - (cpuNow() - u0)) * 10000)));
  if (Atomics.sub(c, 0, 1) === 1) Atomics.notify(c, 0);
}
`;

type Fn = (...args: number[]) => void;

/** Workers for one shared memory. Grows to the largest thread count asked for; idle workers sleep. */
export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ctrl: Int32Array;
  private readonly index: Map<string, number>;
  /** the calling thread's CPU clock, when FASTLR_POOL_CPU=1 */
  private readonly cpuNow: (() => number) | null = process.env['FASTLR_POOL_CPU'] === '1' ? threadCpuReader() : null;

  constructor(
    private readonly memory: object,
    private readonly bytes: Uint8Array,
    private readonly local: Record<string, unknown>,
    private readonly names: readonly string[],
    maxWorkers = 64,
  ) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(4 * (HEADER + SLOT * maxWorkers)));
    this.index = new Map(names.map((n, i) => [n, i]));
  }

  private ensure(workers: number): void {
    const max = (this.ctrl.length - HEADER) / SLOT;
    if (workers > max) throw new Error(`at most ${max + 1} threads are supported, asked for ${workers + 1}`);
    while (this.workers.length < workers) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          memory: this.memory,
          bytes: this.bytes,
          names: this.names,
          ctrl: this.ctrl.buffer,
          slot: this.workers.length,
          spin: WORKER_SPIN,
          cpuStats: this.cpuNow !== null,
        },
      });
      // never keep the process alive; an idle worker only sleeps in Atomics.wait
      w.unref();
      this.workers.push(w);
    }
  }

  /** Runs calls[0] here and calls[1..] on workers, all at once; returns when every call has finished. */
  run(calls: readonly Call[]): void {
    if (calls.length === 0) return;
    const c = this.ctrl;
    const others = calls.length - 1;
    stats.runs++;
    const t0 = others > 0 ? performance.now() : 0;
    if (others > 0) {
      this.ensure(others);
      Atomics.store(c, 1, 0);
      Atomics.store(c, 0, others);
      for (let w = 0; w < others; w++) {
        const call = calls[w + 1]!;
        const fn = this.index.get(call.fn);
        if (fn === undefined) throw new Error(`no program ${call.fn}`);
        if (call.args.length > MAX_ARGS) throw new Error(`${call.fn}: more than ${MAX_ARGS} arguments`);
        const base = HEADER + w * SLOT;
        c[base + 1] = fn;
        c[base + 2] = call.args.length;
        for (let i = 0; i < call.args.length; i++) c[base + 3 + i] = call.args[i]! | 0;
        Atomics.add(c, base, 1);
        Atomics.notify(c, base, 1);
      }
    }
    let failure: unknown = null;
    const cpu = others > 0 ? this.cpuNow : null;
    const um = cpu === null ? 0 : cpu();
    const tm = others > 0 ? performance.now() : 0;
    try {
      (this.local[calls[0]!.fn] as Fn)(...calls[0]!.args);
    } catch (e) {
      failure = e;
    }
    const mainMs = others > 0 ? performance.now() - tm : 0;
    const mainCpu = cpu === null ? 0 : Math.max(0, mainMs - (cpu() - um));
    if (others > 0) {
      let left = Atomics.load(c, 0);
      for (let i = 0; left !== 0 && i < MAIN_SPIN; i++) left = Atomics.load(c, 0);
      while (left !== 0) {
        Atomics.wait(c, 0, left);
        left = Atomics.load(c, 0);
      }
      stats.splitRuns++;
      stats.splitCalls += calls.length;
      stats.splitMs += performance.now() - t0;
      let longest = mainMs;
      let work = mainMs;
      for (let w = 0; w < others; w++) {
        const ms = c[HEADER + w * SLOT + ELAPSED]! / 10000;
        longest = Math.max(longest, ms);
        work += ms;
      }
      stats.splitLongestMs += longest;
      stats.splitWorkMs += work;
      if (cpu !== null) {
        let longestCpu = mainCpu;
        let workCpu = mainCpu;
        for (let w = 0; w < others; w++) {
          const ms = c[HEADER + w * SLOT + CPU]! / 10000;
          longestCpu = Math.max(longestCpu, ms);
          workCpu += ms;
        }
        stats.splitLongestCpuMs += longestCpu;
        stats.splitWorkCpuMs += workCpu;
      }
      if (Atomics.load(c, 1) !== 0 && failure === null) {
        failure = new Error(`a worker thread trapped running ${calls.slice(1).map((x) => x.fn).join(', ')}`);
      }
    }
    if (failure !== null) throw failure;
  }

  /** Ends the workers (tests; the process does not wait for them anyway). */
  async close(): Promise<void> {
    const ws = this.workers.splice(0);
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

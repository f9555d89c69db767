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
 * With an explicit count (`threads: N`) there is no measuring: N threads wherever the work is large enough.
 */
import { threadCount, threadsAdaptive } from './pool.js';

const PROBES = 3;
const REPROBE = 24;
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
  const at = `${key}|${threads}`;
  let site = sites.get(at);
  if (site === undefined) {
    if (sites.size >= MAX_SITES) sites.clear();
    site = { calls: 0, samples: [[], []], choice: 1 };
    sites.set(at, site);
  }
  const option = pick(site);
  const timed = site.calls >= 2;
  site.calls++;
  const t0 = performance.now();
  const out = run(option === 1 ? threads : 1);
  if (timed) {
    const s = site.samples[option];
    s.push(performance.now() - t0);
    if (s.length > KEEP) s.shift();
    site.choice = best(site.samples[1]) < best(site.samples[0]) ? 1 : 0;
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

/** Forgets every measurement (tests, and a change of thread count). */
export function resetAdaptive(): void {
  sites.clear();
}

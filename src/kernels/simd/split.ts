/**
 * One program call split into blocks of independent units (elements, rows, images) over a Runner's threads: the
 * shared shape of every memory-bound per-step kernel (relu and its gradient, bias + relu, max pooling and its
 * gradient, Adam, the col2im of a convolution's input gradient). Each unit is computed by exactly one call, with the
 * same program and the same order as the one-thread call, so the split never changes a bit. With `threads: auto`
 * a call site splits only where that is measured to pay off (adaptive.ts).
 */
import { MAX_CALLS, type Call } from './pool.js';
import type { Runner } from './runtime.js';
import { rowBlocks, tileCount } from './tiles.js';
import { withThreads } from './adaptive.js';

/**
 * Bytes a memory-bound call must touch before it is worth splitting at all (~256 KiB: tens of µs of work against a
 * round trip of ~4 µs when the workers spin).
 */
export const MIN_SPLIT_BYTES = 1 << 18;
/** bytes below which a tile is not cut smaller (the threads claim tiles, simd/pool.ts) */
const MIN_TILE_BYTES = 1 << 16;

export interface SplitJob {
  /** names the call site for `threads: auto` (a kernel and its shapes) */
  key: string;
  /** independent units: block [u0, u1) is `block(u0, u1)` */
  units: number;
  /** bytes the whole call reads and writes (below MIN_SPLIT_BYTES it runs as one call) */
  bytes: number;
  /** blocks are multiples of this many units except the last (4 keeps element blocks on 16-byte boundaries) */
  align?: number;
  block(u0: number, u1: number): Call;
}

/** Runs the job on `runner`'s threads where that applies, else `one()` (the kernel's one-thread call). */
export function runSplit(runner: Runner | null, job: SplitJob, one: () => void): void {
  const align = job.align ?? 1;
  if (runner === null || runner.threads() < 2 || job.units < 2 * align || job.bytes < MIN_SPLIT_BYTES) return one();
  withThreads(job.key, (t) => {
    if (t < 2) return one();
    const tiles = Math.max(t, Math.min(tileCount(t), Math.floor(job.bytes / MIN_TILE_BYTES)));
    const blocks = rowBlocks(job.units, tiles, align);
    if (blocks.length < 2) return one();
    runner.parallel(blocks.map(([u0, u1]) => job.block(u0, u1)), t);
  });
}

/** One of several independent calls joined into one split (runSplitAll): the units, bytes and blocks of one. */
export type SplitPart = Omit<SplitJob, 'key'>;

/**
 * Several independent jobs (one kernel's work on several tensors, e.g. Adam over every parameter of a step) as one
 * split: a single thread choice for site `key` and one pool run for all of them instead of one per job. A job below
 * MIN_SPLIT_BYTES is one block, a larger one is cut as runSplit would cut it; each unit is still computed by exactly
 * one call with the same program, so the split never changes a bit. `one()` runs every job on the calling thread.
 */
export function runSplitAll(runner: Runner | null, key: string, parts: readonly SplitPart[], one: () => void): void {
  const bytes = parts.reduce((s, p) => s + p.bytes, 0);
  if (runner === null || runner.threads() < 2 || bytes < MIN_SPLIT_BYTES) return one();
  withThreads(key, (t) => {
    if (t < 2) return one();
    const calls: Call[] = [];
    for (const p of parts) {
      const align = p.align ?? 1;
      if (p.units < 2 * align || p.bytes < MIN_SPLIT_BYTES) {
        if (p.units > 0) calls.push(p.block(0, p.units));
        continue;
      }
      const tiles = Math.max(t, Math.min(tileCount(t), Math.floor(p.bytes / MIN_TILE_BYTES)));
      for (const [u0, u1] of rowBlocks(p.units, tiles, align)) calls.push(p.block(u0, u1));
    }
    if (calls.length < 2) return one();
    for (let i = 0; i < calls.length; i += MAX_CALLS) runner.parallel(calls.slice(i, i + MAX_CALLS), t);
  });
}

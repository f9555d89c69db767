/**
 * How kernels split their output over threads (pure arithmetic, no memory): contiguous row blocks of a gemm, one
 * block per thread. gemm_r4 and gemm_r1 compute every element the same way (Σ_k in order, one f32x4 multiply and
 * add per k), so which thread and which program computes a row never changes its bits.
 */
import type { Call } from './pool.js';

/** Multiply-adds below which a gemm stays on one thread (waking a worker costs ~10-50 µs). */
export const MIN_PARALLEL_MACS = 1 << 18;

/**
 * Tiles per thread a split kernel is cut into: the threads claim tiles as they come free (simd/pool.ts), so a
 * thread that gets a core late (a loaded machine), or a slower tile, costs at most one tile's wait, not a share.
 */
export const TILES_PER_THREAD = 4;

/** How many tiles a split over `threads` threads uses: TILES_PER_THREAD each, fewer when `units` is small. */
export function tileCount(threads: number, units = Infinity): number {
  return threads < 2 ? 1 : Math.max(1, Math.min(units, threads * TILES_PER_THREAD));
}

/**
 * Channel blocks [c0, c1) of `c` channels for a split by channels over `threads` threads (per-channel sums: every
 * block reads every row, its channels only, so each block boundary costs a cache line of every row read twice):
 * one block per thread, more (up to tileCount) only while blocks keep >= 64 channels (256 bytes); multiples of 4.
 */
export function channelBlocks(c: number, threads: number): [number, number][] {
  return rowBlocks(c, Math.max(Math.min(threads, Math.floor(c / 4)), tileCount(threads, Math.floor(c / 64))), 4);
}

/** Row ranges [from, to) covering [0, rows): at most `parts`, each a multiple of `align` rows except the last. */
export function rowBlocks(rows: number, parts: number, align = 4): [number, number][] {
  const units = Math.ceil(rows / align);
  const n = Math.max(1, Math.min(parts, units));
  const out: [number, number][] = [];
  let from = 0;
  for (let p = 0; p < n; p++) {
    const u = Math.floor(units / n) + (p < units % n ? 1 : 0);
    const to = Math.min(rows, from + u * align);
    if (to > from) out.push([from, to]);
    from = to;
  }
  return out;
}

/**
 * The calls of C[m, n8] = A[m, k]·B[k, n8] (byte offsets pa, pb, pc; n8 % 8 == 0) split over `threads`: one call
 * per row block (tileCount blocks), gemm_r4 on blocks of whole 4-row groups and gemm_r1 on the leftover rows
 * (its own call; disjoint rows, so it may run beside the blocks).
 */
export function gemmCalls(pa: number, pb: number, pc: number, m: number, k: number, n8: number, threads: number): { blocks: Call[]; tail: Call | null } {
  const m4 = m - (m % 4);
  const parts = m * k * n8 < MIN_PARALLEL_MACS ? 1 : tileCount(threads, Math.floor(m4 / 4));
  const blocks: Call[] = m4 > 0
    ? rowBlocks(m4, parts).map(([r0, r1]) => ({ fn: 'gemm_r4', args: [pa + 4 * r0 * k, pb, pc + 4 * r0 * n8, r1 - r0, k, n8] }))
    : [];
  const tail = m4 < m ? { fn: 'gemm_r1', args: [pa + 4 * m4 * k, pb, pc + 4 * m4 * n8, m - m4, k, n8] } : null;
  return { blocks, tail };
}

/**
 * Bytes of an operand that every block of a split reads in full, above which it no longer stays in a core's L2
 * (1 MiB on the machines measured): each extra block then streams it again from L3 or DRAM, so such a split is cut
 * into one block per thread instead of tileCount's several.
 */
export const REREAD_CACHE_BYTES = 1 << 20;

/** Floats in a 64-byte cache line: blocks of a row-major operand's columns on these boundaries share no line. */
const LINE_FLOATS = 16;

/**
 * The calls of C[m, n8] = Aᵀ·B with A stored [k, m] (gemm_tn; byte offsets pa, pb, pc; n8 % 8 == 0) split over
 * `threads`. Each call reads all of k for its part, so the split goes along the smaller operand's side (the bytes
 * read: threads·|B| + |A| by rows, threads·|A| + |B| by columns): with m ≥ n8, blocks of C's rows, i.e. of A's
 * columns (pa + 4·r0, the row stride m unchanged; every call reads all of B); else blocks of 8-column groups of C
 * and B (pb + 4·j0, pc + 4·j0, the row stride n8 unchanged; every call reads all of A) — a filter gradient xᵀ·dy
 * with few input channels (A = x) and a large dy (B) then reads dy once, not once per thread. Blocks start on cache
 * line boundaries of the operand they split (16 rows, 2 column groups) where it has a line per thread. Column blocks
 * are one per thread; row blocks too where B, which every call re-reads, exceeds REREAD_CACHE_BYTES (e.g. dW of
 * 8×112×112×32 → 16: eight tiles of 4 rows read its 6.4 MB of dy eight times and every line of x four times), else
 * tileCount's. Which
 * thread computes an element never changes its sum (gemm_tn: Σ_t in order).
 */
export function gemmTnCalls(pa: number, pb: number, pc: number, m: number, k: number, n8: number, threads: number): Call[] {
  if (m * k * n8 < MIN_PARALLEL_MACS || threads < 2) return [{ fn: 'gemm_tn', args: [pa, pb, pc, m, k, n8, m, n8] }];
  if (m >= n8) {
    const align = m >= LINE_FLOATS * threads ? LINE_FLOATS : 4;
    const parts = 4 * k * n8 > REREAD_CACHE_BYTES ? threads : tileCount(threads, Math.ceil(m / align));
    return rowBlocks(m, parts, align).map(([r0, r1]) => ({ fn: 'gemm_tn', args: [pa + 4 * r0, pb, pc + 4 * r0 * n8, r1 - r0, k, n8, m, n8] }));
  }
  // one column block per thread: each re-reads all of A, and more (measured) cost more than they balance
  const groups = n8 / 8;
  const align = groups >= (LINE_FLOATS / 8) * threads ? LINE_FLOATS / 8 : 1;
  return rowBlocks(groups, threads, align).map(([g0, g1]) => ({
    fn: 'gemm_tn',
    args: [pa, pb + 32 * g0, pc + 32 * g0, m, k, 8 * (g1 - g0), m, n8],
  }));
}

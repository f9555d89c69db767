// The gemm programs (src/kernels/simd/programs.ts) against the definition, on shapes that cross their blocking:
// gemm_r4/gemm_r1 column panels (k large enough that B is walked in several panels), gemm_tn (Aᵀ·B read from A as
// stored) k blocks, leftover rows, k = 0, and row splits as the threads take them (tiles.ts gemmTnCalls). Each
// element must be Σ_t in order, one multiply-add per t rounded as the module's FMA mode says, so every program,
// block and split gives the same bits.
import { describe, expect, it } from 'vitest';
import { emitModule } from '../src/kernels/simd/emitter.js';
import { PROGRAMS } from '../src/kernels/simd/programs.js';
import { fmaState } from '../src/kernels/simd/fma.js';
import { gemmCalls, gemmTnCalls, REREAD_CACHE_BYTES } from '../src/kernels/simd/tiles.js';
import { values } from './helpers/kernels.js';

function module(fma: boolean): { f32: () => Float32Array; call: (fn: string, args: number[]) => void } {
  const memory = new WebAssembly.Memory({ initial: 256 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(emitModule(PROGRAMS, { fma })), { env: { memory } });
  const e = inst.exports as Record<string, (...a: number[]) => void>;
  return { f32: () => new Float32Array(memory.buffer), call: (fn, args) => e[fn]!(...args) };
}

/** C[r, j] = Σ_t at(r, t)·b[t, j] in order, each step fround(acc + fround(p)) (two roundings) or fround(acc + p) (one). */
function reference(at: (r: number, t: number) => number, b: Float32Array, m: number, k: number, n: number, fused: boolean): number[] {
  const c: number[] = [];
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) {
        const p = at(r, t) * b[t * n + j]!;
        acc = Math.fround(acc + (fused ? p : Math.fround(p)));
      }
      c.push(acc);
    }
  }
  return c;
}

const modes = fmaState() === 'on' ? [false, true] : [false];

describe('gemm programs', () => {
  for (const fma of modes) {
    const label = fma ? 'FMA on' : 'FMA off';
    it(`${label}: gemm_r4/gemm_r1 over several column panels (22×3000·3000×96), split over 1 and 3 threads`, () => {
      const [m, k, n] = [22, 3000, 96];
      const a = values(m * k, 21);
      const b = values(k * n, 22);
      const want = reference((r, t) => a[r * k + t]!, b, m, k, n, fma);
      for (const threads of [1, 3]) {
        const g = module(fma);
        const [pa, pb, pc] = [0, 4 * m * k, 4 * (m * k + k * n)];
        g.f32().set(a, pa / 4);
        g.f32().set(b, pb / 4);
        const { blocks, tail } = gemmCalls(pa, pb, pc, m, k, n, threads);
        for (const c of [...blocks, ...(tail ? [tail] : [])]) g.call(c.fn, c.args);
        expect(Array.from(g.f32().subarray(pc / 4, pc / 4 + m * n)), `${threads} thread(s)`).toEqual(want);
      }
    });

    for (const [m, k, n] of [[18, 5000, 96], [40, 2000, 16], [36, 9000, 32], [24, 600, 64], [7, 33, 16], [3, 1, 8], [5, 0, 8]] as const) {
      it(`${label}: gemm_tn ${m}×${k}ᵀ·${k}×${n} (A stored [k, m]) equals the definition and gemm_r4 on the transposed A, split over 1, 2 and 3 threads`, () => {
        const a = values(k * m, 31); // [k, m]
        const b = values(k * n, 32);
        const want = reference((r, t) => a[t * m + r]!, b, m, k, n, fma);
        const g = module(fma);
        const [pa, pb, pc, pt] = [0, 4 * m * k, 4 * (m * k + k * n), 4 * (m * k + k * n + m * n)];
        g.f32().set(a, pa / 4);
        g.f32().set(b, pb / 4);
        for (const threads of [1, 2, 3]) {
          g.f32().fill(NaN, pc / 4, pc / 4 + m * n);
          for (const c of gemmTnCalls(pa, pb, pc, m, k, n, threads)) g.call(c.fn, c.args);
          expect(Array.from(g.f32().subarray(pc / 4, pc / 4 + m * n)), `${threads} thread(s)`).toEqual(want);
        }
        // gemm_r4/gemm_r1 on Aᵀ written out: the same bits
        const f = g.f32();
        for (let r = 0; r < m; r++) for (let t = 0; t < k; t++) f[pt / 4 + r * k + t] = a[t * m + r]!;
        const q = pt + 4 * m * k;
        const { blocks, tail } = gemmCalls(pt, pb, q, m, k, n, 1);
        for (const c of [...blocks, ...(tail ? [tail] : [])]) g.call(c.fn, c.args);
        expect(Array.from(g.f32().subarray(q / 4, q / 4 + m * n))).toEqual(want);
      });
    }
  }
});

describe('gemmTnCalls', () => {
  const rowsOf = (calls: ReturnType<typeof gemmTnCalls>): number[] => calls.map((c) => c.args[3]!);
  it('splits by rows on 16-row boundaries, one block per thread where B (re-read by every block) exceeds REREAD_CACHE_BYTES', () => {
    const [m, n] = [48, 16];
    const big = Math.ceil(REREAD_CACHE_BYTES / (4 * n)) + 1;
    const calls = gemmTnCalls(0, 0, 0, m, big, n, 2);
    expect(rowsOf(calls)).toEqual([32, 16]);
    // C's rows: A's columns from pa + 4·r0, C's rows from pc + 4·r0·n
    expect(calls.map((c) => [c.args[0], c.args[2]])).toEqual([[0, 0], [4 * 32, 4 * 32 * n]]);
    const small = Math.floor(REREAD_CACHE_BYTES / (4 * n)); // B stays in L2: tileCount's blocks
    expect(gemmTnCalls(0, 0, 0, m, small, n, 2).length).toBe(3);
  });
  it('splits by 16-column blocks (one per thread) with fewer rows than columns, reading all of A in each', () => {
    const [m, k, n] = [16, 4096, 96];
    const calls = gemmTnCalls(0, 1 << 20, 1 << 24, m, k, n, 2);
    expect(calls.map((c) => c.args[5])).toEqual([48, 48]);
    expect(calls.map((c) => [c.args[0], c.args[1], c.args[2]])).toEqual([[0, 1 << 20, 1 << 24], [0, (1 << 20) + 4 * 48, (1 << 24) + 4 * 48]]);
  });
});

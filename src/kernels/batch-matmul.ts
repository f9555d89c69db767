/**
 * BatchMatMul for the wasm backend: explicit transposes, and our own SIMD matmul where it applies.
 *
 * tfjs-backend-wasm sends any matmul with transposeA/transposeB (what every dense layer's backward uses:
 * dx = dy·Wᵀ, dW = xᵀ·dy) to a scalar fallback loop instead of XNNPACK, ~15x slower (64x784x256: 0.9 ms plain,
 * 12-15 ms with a flag). Transposing the flagged operand first (a cheap copy) avoids that loop.
 *
 * The plain product then goes to our SIMD program gemm_r4/gemm_r1 (simd/programs.ts) when the output width is a
 * multiple of 8: XNNPACK packs B into its own layout the first time it sees a tensor, and during training every
 * weight matrix is a new tensor every step, so x[64,784]·W[784,256] paid ~0.45 ms of packing on top of a ~0.55 ms
 * product. The SIMD loop reads B as it is; measured with the same B every call (XNNPACK's best case) it is still as
 * fast or faster on every shape tried (64×784×256, 784×64×256, 1024×512×512, 7744×144×32, …), and it sums each
 * output along k in order, as XNNPACK's kernel does: the results were bit-identical on all of them (without FMA).
 * Aᵀ·B (a filter gradient xᵀ·dy, every dense layer's dW) goes to gemm_tn, which reads A as it is: no transposed copy,
 * and k (N·H·W for a 1×1 conv's dW) walked in blocks that stay in cache.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, KernelContext, release } from './kernel-context.js';
import { rawInput } from './raw-memory.js';
import { backendRunner, heapGemm, heapOutput, heapPtr, heapRunner, type PrivateHeap, privateHeap, type Runner, type SimdPrograms, simdPrograms } from './simd/runtime.js';
import { withThreads } from './simd/adaptive.js';
import { gemmTnCalls, MIN_PARALLEL_MACS } from './simd/tiles.js';

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/**
 * The product's sizes where our gemm programs take it: float32, A [...batch, m, k] (transposeA: [...batch, k, m]),
 * B [...batch, k, n] with n % 8 == 0, equal batch shapes or a single matrix on each side; null otherwise.
 */
function gemmDims(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean): { m: number; k: number; n: number; batchA: number } | null {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) return null;
  const m = a.shape[transposeA ? ra - 1 : ra - 2] ?? 0;
  const k = a.shape[transposeA ? ra - 2 : ra - 1] ?? 0;
  const n = b.shape[rb - 1] ?? 0;
  if ((b.shape[rb - 2] ?? -1) !== k || n % 8 !== 0 || m === 0 || k === 0 || n === 0) return null;
  const batchA = size(a.shape.slice(0, -2));
  const batchB = size(b.shape.slice(0, -2));
  const sameBatch = ra === rb && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  if (!(batchA === 1 && batchB === 1) && !sameBatch) return null;
  return { m, k, n, batchA };
}

/**
 * C = A·B with the SIMD program, or null when it does not apply (no SIMD, not float32, broadcast batches, output
 * width not a multiple of 8). A: [...batch, m, k], B: [...batch, k, n], no transpose flags.
 */
function simdMatMul(backend: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo | null {
  const progs = simdPrograms(backend);
  const dims = progs === null ? null : gemmDims(a, b, false);
  if (progs === null || dims === null) return null;
  const { m, k, n, batchA } = dims;
  const outShape = [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), m, n];
  const out = heapOutput(backend, outShape);
  const key = `BatchMatMul ${batchA}x${m}x${k}x${n}`;
  const runner = backendRunner(backend);
  if (runner !== null) {
    // the backend's heap is shared (wasm-shared-heap.ts): row blocks in place on it, no copies
    const t = runner.threads() > 1 && m * k * n >= MIN_PARALLEL_MACS;
    const go = (threads: number): tf.TensorInfo => {
      const pa = heapPtr(backend, a);
      const pb = heapPtr(backend, b);
      const pc = heapPtr(backend, out);
      for (let i = 0; i < batchA; i++) heapGemm(runner, pa + 4 * i * m * k, pb + 4 * i * k * n, pc + 4 * i * m * n, m, k, n, threads);
      return out;
    };
    return t ? withThreads(key, go) : go(1);
  }
  const heap = privateHeap();
  if (heap !== null && heap.threads() > 1 && m * k * n >= MIN_PARALLEL_MACS) {
    return withThreads(key, (threads) => {
      if (threads > 1) gemmThreaded(backend, heap, a, b, out, batchA, m, k, n, threads);
      else gemmInPlace(progs, backend, a, b, out, batchA, m, k, n);
      return out;
    });
  }
  gemmInPlace(progs, backend, a, b, out, batchA, m, k, n);
  return out;
}

/**
 * C = Aᵀ·B (transposeA only) with gemm_tn, reading A as it is (no transposed copy): A [...batch, k, m], B [...batch,
 * k, n], n % 8 == 0, single or equal batches; in place on the backend's heap (row blocks over the threads when it is
 * shared). null where it does not apply, or where the operands would have to be copied to the private heap to be
 * threaded (the transposing path does that). The same sums in the same order as gemm_r4 on the transposed A.
 */
function simdMatMulTn(backend: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo | null {
  const dims = simdPrograms(backend) === null ? null : gemmDims(a, b, true);
  if (dims === null) return null;
  const { m, k, n, batchA } = dims;
  const shared = backendRunner(backend);
  const big = m * k * n >= MIN_PARALLEL_MACS;
  if (shared === null && big && (privateHeap()?.threads() ?? 1) > 1) return null;
  const runner: Runner | null = shared ?? heapRunner(backend);
  if (runner === null) return null;
  const out = heapOutput(backend, [...(a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2), m, n]);
  const go = (threads: number): tf.TensorInfo => {
    const pa = heapPtr(backend, a);
    const pb = heapPtr(backend, b);
    const pc = heapPtr(backend, out);
    for (let i = 0; i < batchA; i++) runner.parallel(gemmTnCalls(pa + 4 * i * k * m, pb + 4 * i * k * n, pc + 4 * i * m * n, m, k, n, Math.min(threads, runner.threads())));
    return out;
  };
  return runner.threads() > 1 && big ? withThreads(`BatchMatMulTn ${batchA}x${m}x${k}x${n}`, go) : go(1);
}

/** The product on tfjs-backend-wasm's heap, in place, on the calling thread. */
function gemmInPlace(progs: SimdPrograms, backend: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo, out: tf.TensorInfo, batch: number, m: number, k: number, n: number): void {
  const pa = heapPtr(backend, a);
  const pb = heapPtr(backend, b);
  const pc = heapPtr(backend, out);
  const m4 = m - (m % 4);
  for (let t = 0; t < batch; t++) {
    const oa = pa + 4 * t * m * k;
    const ob = pb + 4 * t * k * n;
    const oc = pc + 4 * t * m * n;
    if (m4 > 0) progs.gemm_r4(oa, ob, oc, m4, k, n);
    if (m4 < m) progs.gemm_r1(oa + 4 * m4 * k, ob, oc + 4 * m4 * n, m - m4, k, n);
  }
}

/** The product over `threads` threads: tfjs-backend-wasm's heap is not shared with worker threads, so the operands go through the private shared heap. */
function gemmThreaded(backend: tf.KernelBackend, heap: PrivateHeap, a: tf.TensorInfo, b: tf.TensorInfo, out: tf.TensorInfo, batch: number, m: number, k: number, n: number, threads: number): void {
  const av = rawInput(backend, a);
  const bv = rawInput(backend, b);
  const cv = rawInput(backend, out);
  const qb = 4 * m * k;
  const qc = qb + 4 * k * n;
  heap.reserve(qc + 4 * m * n);
  for (let t = 0; t < batch; t++) {
    const f = heap.f32();
    f.set(av.subarray(t * m * k, (t + 1) * m * k), 0);
    f.set(bv.subarray(t * k * n, (t + 1) * k * n), qb / 4);
    heapGemm(heap, 0, qb, qc, m, k, n, threads);
    cv.set(heap.f32().subarray(qc / 4, qc / 4 + m * n), t * m * n);
  }
}

/** Wraps `stock` (the backend's own BatchMatMul) so it never receives a transpose flag. */
export function explicitTransposeBatchMatMul(stock: Kernel, backendName: string): Kernel {
  const ctx = new KernelContext(backendName);
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const a = args.inputs['a'];
    const b = args.inputs['b'];
    const attrs = args.attrs ?? {};
    const transposeA = attrs['transposeA'] === true;
    const transposeB = attrs['transposeB'] === true;
    if (a == null || b == null) throw new Error('BatchMatMul: missing input');
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
    if (transposeA && !transposeB) {
      const tn = simdMatMulTn(backend, a, b);
      if (tn !== null) return tn;
    }
    const temps: tf.TensorInfo[] = [];
    try {
      const a2 = transposeA ? ctx.transpose(backend, a, swapLastTwo(a.shape.length)) : a;
      if (transposeA) temps.push(a2);
      const b2 = transposeB ? ctx.transpose(backend, b, swapLastTwo(b.shape.length)) : b;
      if (transposeB) temps.push(b2);
      return (
        simdMatMul(backend, a2, b2) ??
        stock({ inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } })
      );
    } finally {
      release(backend, ...temps);
    }
  };
}

/**
 * The cpu backend's matmul and convolutions on our SIMD gemm (simd/programs.ts gemm_r4/gemm_r1), run in a private
 * WebAssembly memory (simd/runtime.ts PrivateHeap): operands are copied in (transposed, or as a patch matrix, on the
 * way), the product is computed there and copied out into a new JS array. The copies are O(n²) next to the O(n³)
 * product. The stock kernels are plain scalar JS loops; their fused variants (_FusedMatMul, FusedConv2D, what
 * tf.layers' dense and conv2d call) use the stock loops directly, so they are replaced too.
 *
 * Every output sums along k in order (gemm), as the stock loops do per block; results differ from stock only by
 * float32 rounding (stock accumulates some partial sums in float64).
 *
 * Anything these do not handle (non-float32, broadcast batches, NCHW, dilations, activations we do not map) goes
 * to the stock kernel. Without WebAssembly SIMD every kernel here is the stock one.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, kernelFunc, release } from './kernel-context.js';
import { convInfo } from './kernel-attrs.js';
import { rawInput } from './raw-memory.js';
import { heapGemm, type PrivateHeap, privateHeap } from './simd/runtime.js';


interface CpuBackendLike {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

/** The private heap (null: no WebAssembly SIMD here). */
export function cpuHeap(): PrivateHeap | null {
  return privateHeap();
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const round8 = (n: number): number => Math.ceil(n / 8) * 8;

function output(backend: tf.KernelBackend, shape: number[], data: Float32Array): tf.TensorInfo {
  const wasm = backend as unknown as Partial<WasmOutputLike>;
  if (typeof wasm.makeOutput === 'function' && typeof wasm.typedArrayFromHeap === 'function') {
    // wasm (the col2im backprop input runs there too): the values copied onto its heap
    const info = wasm.makeOutput(shape, 'float32');
    (wasm.typedArrayFromHeap(info) as Float32Array).set(data);
    return info;
  }
  return (backend as unknown as CpuBackendLike).makeTensorInfo(shape, 'float32', data);
}

interface WasmOutputLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * Runs gemm on the heap: C[m, n8] = A[m, k]·B[k, n8] at byte offsets pa, pb, pc (n8 % 8 == 0, B's padding columns
 * zero), then copies C's first n columns into `out` from float index `outAt`.
 */
function gemmOut(heap: PrivateHeap, pa: number, pb: number, pc: number, m: number, k: number, n: number, n8: number, out: Float32Array, outAt: number): void {
  heapGemm(heap, pa, pb, pc, m, k, n8);
  const f = heap.f32();
  const c0 = pc / 4;
  if (n8 === n) {
    out.set(f.subarray(c0, c0 + m * n), outAt);
  } else {
    for (let r = 0; r < m; r++) out.set(f.subarray(c0 + r * n8, c0 + r * n8 + n), outAt + r * n);
  }
}

/** Writes the [k, n] matrix src (or srcᵀ when `trans`: src is [n, k]) at float index `at` as [k, n8], zero padded. */
function putB(f: Float32Array, at: number, src: Float32Array, k: number, n: number, n8: number, trans: boolean): void {
  if (!trans) {
    if (n8 === n) {
      f.set(src.subarray(0, k * n), at);
      return;
    }
    for (let r = 0; r < k; r++) {
      const o = at + r * n8;
      f.set(src.subarray(r * n, r * n + n), o);
      f.fill(0, o + n, o + n8);
    }
    return;
  }
  for (let r = 0; r < k; r++) {
    const o = at + r * n8;
    for (let j = 0; j < n; j++) f[o + j] = src[j * k + r]!;
    if (n8 > n) f.fill(0, o + n, o + n8);
  }
}

/** Writes the [m, k] matrix src (or srcᵀ when `trans`: src is [k, m]) at float index `at`. */
function putA(f: Float32Array, at: number, src: Float32Array, m: number, k: number, trans: boolean): void {
  if (!trans) {
    f.set(src.subarray(0, m * k), at);
    return;
  }
  for (let i = 0; i < m; i++) {
    const o = at + i * k;
    for (let kk = 0; kk < k; kk++) f[o + kk] = src[kk * m + i]!;
  }
}

/** C = op(A)·op(B) for float32 operands with equal batch shapes (or a single matrix each); null: not handled. */
function matMul(backend: tf.KernelBackend, a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean): tf.TensorInfo | null {
  const heap = cpuHeap();
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (heap === null || a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) return null;
  const m = a.shape[ta ? ra - 1 : ra - 2] ?? 0;
  const k = a.shape[ta ? ra - 2 : ra - 1] ?? 0;
  const kb = b.shape[tb ? rb - 1 : rb - 2] ?? -1;
  const n = b.shape[tb ? rb - 2 : rb - 1] ?? 0;
  if (kb !== k || m === 0 || k === 0 || n === 0) return null;
  const batchA = size(a.shape.slice(0, -2));
  const batchB = size(b.shape.slice(0, -2));
  const sameBatch = ra === rb && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  if (!(batchA === 1 && batchB === 1) && !sameBatch) return null;
  const outShape = [...(ra >= rb ? a.shape : b.shape).slice(0, -2), m, n];
  const n8 = round8(n);
  const pa = 0;
  const pb = 4 * m * k;
  const pc = pb + 4 * k * n8;
  heap.reserve(pc + 4 * m * n8);
  const av = rawInput(backend, a);
  const bv = rawInput(backend, b);
  const out = new Float32Array(batchA * m * n);
  for (let t = 0; t < batchA; t++) {
    const f = heap.f32();
    putA(f, pa / 4, av.subarray(t * m * k, (t + 1) * m * k), m, k, ta);
    putB(f, pb / 4, bv.subarray(t * k * n, (t + 1) * k * n), k, n, n8, tb);
    gemmOut(heap, pa, pb, pc, m, k, n, n8, out, t * m * n);
  }
  return output(backend, outShape, out);
}

/** cpu BatchMatMul: ours, or `stock` for what matMul does not handle. */
export function cpuBatchMatMul(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const a = args.inputs['a'];
    const b = args.inputs['b'];
    if (a == null || b == null) throw new Error('BatchMatMul: missing input');
    const attrs = args.attrs ?? {};
    return matMul(args.backend, a, b, attrs['transposeA'] === true, attrs['transposeB'] === true) ?? stock(args);
  };
}

const ACTIVATION_KERNELS: Record<string, string> = {
  linear: 'Identity',
  relu: 'Relu',
  elu: 'Elu',
  relu6: 'Relu6',
  sigmoid: 'Sigmoid',
  leakyrelu: 'LeakyRelu',
  prelu: 'Prelu',
};

/** Bias and activation after `core` (what the stock fused kernels do), by the backend's registered kernels. */
export function biasActivation(args: KernelArgs, core: tf.TensorInfo): tf.TensorInfo {
  const { backend } = args;
  const attrs = args.attrs ?? {};
  const bias = args.inputs['bias'];
  const activation = attrs['activation'] as string | undefined;
  let current = core;
  try {
    if (bias != null) {
      const added = kernelFunc('Add', 'cpu')({ inputs: { a: current, b: bias }, backend });
      release(backend, current);
      current = added;
    }
    if (activation != null) {
      const name = ACTIVATION_KERNELS[activation];
      if (name === undefined) throw new Error(`fused activation ${activation} has no cpu kernel mapping (the stock path should have taken it)`);
      const inputs: tf.NamedTensorInfoMap = { x: current };
      const alpha = args.inputs['preluActivationWeights'];
      if (activation === 'prelu' && alpha != null) inputs['alpha'] = alpha;
      const a2: KernelArgs = { inputs, backend };
      if (activation === 'leakyrelu') a2.attrs = { alpha: attrs['leakyreluAlpha'] as number };
      const activated = kernelFunc(name, 'cpu')(a2);
      release(backend, current);
      current = activated;
    }
    return current;
  } catch (e) {
    release(backend, current);
    throw e;
  }
}

export function fusable(args: KernelArgs): boolean {
  const activation = (args.attrs ?? {})['activation'] as string | undefined;
  return activation == null || ACTIVATION_KERNELS[activation] !== undefined;
}

/** cpu _FusedMatMul: our matmul, then the backend's Add and activation kernels. */
export function cpuFusedMatMul(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const a = args.inputs['a'];
    const b = args.inputs['b'];
    if (a == null || b == null) throw new Error('_FusedMatMul: missing input');
    const attrs = args.attrs ?? {};
    if (!fusable(args)) return stock(args);
    const core = matMul(args.backend, a, b, attrs['transposeA'] === true, attrs['transposeB'] === true);
    return core === null ? stock(args) : biasActivation(args, core);
  };
}


/** Batch images per patch matrix, so it stays under ~4M floats (16 MB). */
const PATCH_FLOATS = 4 * 1024 * 1024;

function zero(f: Float32Array, from: number, to: number): void {
  if (to - from > 64) f.fill(0, from, to);
  else for (let q = from; q < to; q++) f[q] = 0;
}

/**
 * Patch matrix of images [b0, b1) of x at float index `at`: row ((b − b0)·oh + yr)·ow + yc, column (i·kw + j)·c + ci
 * = x[b, yr·sh − top + i, yc·sw − left + j, ci] (0 outside x).
 */
function im2col(f: Float32Array, at: number, x: Float32Array, b0: number, b1: number, info: tf.backend_util.Conv2DInfo): void {
  const { inHeight: h, inWidth: w, inChannels: c, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const kwc = kw * c;
  const k = kh * kwc;
  let row = at;
  for (let b = b0; b < b1; b++) {
    for (let yr = 0; yr < oh; yr++) {
      for (let yc = 0; yc < ow; yc++, row += k) {
        const c0 = yc * sw - left;
        const jFrom = Math.max(0, -c0);
        const jTo = Math.min(kw, w - c0);
        for (let i = 0; i < kh; i++) {
          const r = yr * sh - top + i;
          const o = row + i * kwc;
          if (r < 0 || r >= h || jTo <= jFrom) {
            zero(f, o, o + kwc);
            continue;
          }
          const from = o + jFrom * c;
          const to = o + jTo * c;
          zero(f, o, from);
          const src = ((b * h + r) * w + c0 + jFrom) * c - from;
          // short runs (few channels): a loop beats subarray + set, which allocate
          if (to - from <= 64) {
            for (let q = from; q < to; q++) f[q] = x[src + q]!;
          } else {
            f.set(x.subarray(src + from, src + to), from);
          }
          zero(f, to, o + kwc);
        }
      }
    }
  }
}

/** NHWC, dilation-1 Conv2D as patch matrix · filter; null: not handled. */
function conv2d(args: KernelArgs): tf.TensorInfo | null {
  const { backend } = args;
  const x = args.inputs['x'];
  const filter = args.inputs['filter'];
  const attrs = args.attrs ?? {};
  const heap = cpuHeap();
  const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
  if (heap === null || x == null || filter == null || dataFormat !== 'NHWC' || x.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  if (x.shape.length !== 4 || filter.shape.length !== 4) return null;
  const info = convInfo(x.shape, filter.shape, attrs);
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const { batchSize: nb, outHeight: oh, outWidth: ow, outChannels: co } = info;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const perImage = oh * ow;
  if (nb * perImage === 0 || k === 0) return null;
  const chunk = Math.max(1, Math.min(nb, Math.floor(PATCH_FLOATS / Math.max(1, perImage * k))));
  const co8 = round8(co);
  const pb = 0;
  const pa = 4 * k * co8;
  const pc = pa + 4 * chunk * perImage * k;
  heap.reserve(pc + 4 * chunk * perImage * co8);
  const xv = rawInput(backend, x);
  const wv = rawInput(backend, filter);
  const out = new Float32Array(nb * perImage * co);
  putB(heap.f32(), pb / 4, wv, k, co, co8, false);
  for (let b0 = 0; b0 < nb; b0 += chunk) {
    const b1 = Math.min(nb, b0 + chunk);
    im2col(heap.f32(), pa / 4, xv, b0, b1, info);
    gemmOut(heap, pa, pb, pc, (b1 - b0) * perImage, k, co, co8, out, b0 * perImage * co);
  }
  return output(backend, [nb, oh, ow, co], out);
}

/** cpu Conv2D: ours, or `stock`. */
export function cpuConv2D(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => conv2d(args) ?? stock(args);
}

/** cpu FusedConv2D: our conv, then the backend's Add and activation kernels. */
export function cpuFusedConv2D(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    if (!fusable(args)) return stock(args);
    const core = conv2d(args);
    return core === null ? stock(args) : biasActivation(args, core);
  };
}

/**
 * cpu Conv2DBackpropFilter: dW [KH·KW·Ci, Co] = patchesᵀ [KH·KW·Ci, N·OH·OW] · dy [N·OH·OW, Co], the transposed
 * patch matrix built in the heap by the SIMD program im2col_t from a copy of x. NCHW, or a patch matrix over
 * MAX_BPF_FLOATS, go to `fallback`.
 */
const MAX_BPF_FLOATS = 16 * 1024 * 1024;

export function cpuConv2DBackpropFilter(fallback: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const x = args.inputs['x'];
    const dy = args.inputs['dy'];
    const attrs = args.attrs ?? {};
    const heap = cpuHeap();
    const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
    if (heap === null || x == null || dy == null || dataFormat !== 'NHWC' || x.dtype !== 'float32' || dy.dtype !== 'float32') {
      return fallback(args);
    }
    const filterShape = attrs['filterShape'] as [number, number, number, number];
    const info = convInfo(x.shape, filterShape, { ...attrs, dilations: 1 });
    const [kh, kw, ci, co] = filterShape;
    const k = kh * kw * ci;
    const m = info.batchSize * info.outHeight * info.outWidth;
    if (k * m > MAX_BPF_FLOATS || k === 0 || m === 0 || dy.shape[3] !== co) return fallback(args);
    const co8 = round8(co);
    const xv = rawInput(backend, x);
    const dyv = rawInput(backend, dy);
    const px = 0;
    const pt = 4 * xv.length;
    const pd = pt + 4 * k * m;
    const pc = pd + 4 * m * co8;
    heap.reserve(pc + 4 * k * co8);
    const f = heap.f32();
    f.set(xv, px / 4);
    heap.progs.im2col_t(
      px, pt, info.batchSize, info.inHeight, info.inWidth, ci, kh, kw, info.outHeight, info.outWidth,
      info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
    );
    putB(heap.f32(), pd / 4, dyv, m, co, co8, false);
    const out = new Float32Array(k * co);
    gemmOut(heap, pt, pd, pc, k, m, co, co8, out, 0);
    return output(backend, [kh, kw, ci, co], out);
  };
}

/**
 * cpu Conv2DBackpropInput as the adjoint of im2col: the patch-matrix gradient dP [N·OH·OW, KH·KW·Ci] = dy [N·OH·OW,
 * Co] · Wᵀ [Co, KH·KW·Ci] by the gemm (batch images at a time, like Conv2D), then each patch entry added back to
 * the input position it was copied from (col2im). Any stride and padding; NCHW goes to `fallback`.
 */
export function cpuConv2DBackpropInput(fallback: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const dy = args.inputs['dy'];
    const filter = args.inputs['filter'];
    const attrs = args.attrs ?? {};
    const heap = cpuHeap();
    const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
    if (heap === null || dy == null || filter == null || dataFormat !== 'NHWC' || dy.dtype !== 'float32' || filter.dtype !== 'float32') {
      return fallback(args);
    }
    const inputShape = attrs['inputShape'] as [number, number, number, number];
    if (dy.shape.length !== 4 || filter.shape.length !== 4) return fallback(args);
    const info = convInfo(inputShape, filter.shape, { ...attrs, dilations: 1 });
    const { batchSize: nb, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const k = kh * kw * ci;
    const perImage = oh * ow;
    if (dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== co || k === 0 || nb * perImage === 0) return fallback(args);
    const chunk = Math.max(1, Math.min(nb, Math.floor(PATCH_FLOATS / Math.max(1, perImage * Math.max(k, co)))));
    const k8 = round8(k);
    const pb = 0;
    const pa = 4 * co * k8;
    const pc = pa + 4 * chunk * perImage * co;
    heap.reserve(pc + 4 * chunk * perImage * k8);
    const dyv = rawInput(backend, dy);
    const wv = rawInput(backend, filter);
    putB(heap.f32(), pb / 4, wv, co, k, k8, true);
    const dx = new Float32Array(nb * h * w * ci);
    const kwc = kw * ci;
    for (let b0 = 0; b0 < nb; b0 += chunk) {
      const b1 = Math.min(nb, b0 + chunk);
      const m = (b1 - b0) * perImage;
      heap.f32().set(dyv.subarray(b0 * perImage * co, b1 * perImage * co), pa / 4);
      heapGemm(heap, pa, pb, pc, m, co, k8);
      const f = heap.f32();
      let row = pc / 4;
      for (let b = b0; b < b1; b++) {
        for (let yr = 0; yr < oh; yr++) {
          for (let yc = 0; yc < ow; yc++, row += k8) {
            const c0 = yc * sw - left;
            const jFrom = Math.max(0, -c0);
            const jTo = Math.min(kw, w - c0);
            if (jTo <= jFrom) continue;
            for (let i = 0; i < kh; i++) {
              const r = yr * sh - top + i;
              if (r < 0 || r >= h) continue;
              const from = row + i * kwc + jFrom * ci;
              const to = row + i * kwc + jTo * ci;
              const d = ((b * h + r) * w + c0 + jFrom) * ci - from;
              for (let q = from; q < to; q++) dx[d + q] += f[q]!;
            }
          }
        }
      }
    }
    return output(backend, inputShape.slice(), dx);
  };
}

/**
 * `FastlrFoldWeights`: an inference-mode BatchNorm folded into the weights of the convolution before it
 * (conv-bn-fold.ts), as one op each way instead of tfjs's chain of weight-sized ops (Add, Sqrt, RealDiv, Multiply ×3,
 * Neg / Sub, Add, a Reshape — and under a tape the gradients of each: ~25 small kernels per folded layer).
 *
 *   inputs w [..., C] (a conv filter [kh, kw, cin, cout]: C = cout; a depthwise one [kh, kw, c, m]: C = c·m, both
 *   the same row-major [rows, C]), mean, variance [C], and where the layers have them γ, β, the conv's bias b [C]
 *   (attrs `gamma`, `beta`, `bias`: present or not; epsilon)
 *   s = γ/√(variance + ε) (γ = 1 without), per channel in float64, rounded once
 *   outputs filter' = w·s (float32 products) and bias' = β + (b − μ)·s (β, b = 0 without; float64, rounded once),
 *   and for the gradient s, 1/√(variance + ε) and b − μ [C] (saved outputs: the inputs present vary)
 *
 * `FastlrFoldWeightsGrad` (its gradient, one kernel, inputs w, dfilter — the conv's filter gradient —, dbias = Σ dz
 * and the forward's s, inv = 1/√(variance + ε), centred = b − μ):
 *   dw = dfilter·s,  S = Σ_rows dfilter·w (blocked float32 sum, channel-arena.ts),  ds = S + dbias·(b − μ)
 *   dγ = ds·inv,  dβ = dbias,  db = dbias·s,  dμ = −dbias·s,  dvariance = −½·ds·s·inv² (= −½·ds·γ·(variance + ε)^(−3/2))
 *   outputs [dw, dγ, dβ, db, dμ, dvariance] (the per-channel ones in float64, rounded once).
 * The full-size passes run on the SIMD programs (col_scale for filter'; fold_grad: dw and S in one pass) split by
 * rows (S: at 32-row block multiples) over the threads, the same bits at any thread count; plain float32 loops
 * computing the same values in the same order otherwise (C % 4 ≠ 0, no SIMD).
 * Registered on wasm and cpu; elsewhere conv-bn-fold.ts folds with the stock ops.
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, type MultiKernel } from './kernel-context.js';
import { rawInput } from './raw-memory.js';
import { type Arena, arena, blockedSum, byRowBlocks, byRows, inputsOf, partialsSize } from './channel-arena.js';

export const FOLD_WEIGHTS_KERNEL = 'FastlrFoldWeights';
export const FOLD_WEIGHTS_GRAD_KERNEL = 'FastlrFoldWeightsGrad';

const fr = Math.fround;

interface Present {
  gamma: boolean;
  beta: boolean;
  bias: boolean;
  epsilon: number;
}

function presentOf(attrs: tf.NamedAttrMap | undefined): Present {
  return { gamma: attrs?.['gamma'] === true, beta: attrs?.['beta'] === true, bias: attrs?.['bias'] === true, epsilon: Number(attrs?.['epsilon']) };
}

/** a [C] input's values (a view: take it after every allocation of the kernel), or null when absent */
function channelInput(kernel: string, args: KernelArgs, name: string, present: boolean, c: number): Float32Array | null {
  if (!present) return null;
  const [t] = inputsOf(kernel, args, [name]) as [tf.TensorInfo];
  if (t.shape.reduce((p, s) => p * s, 1) !== c) throw new Error(`${kernel}: ${name} must have ${c} values`);
  return rawInput(args.backend, t);
}

/** w as [rows, C]: C the values of the per-channel input `perChannel` */
function geometry(kernel: string, args: KernelArgs, w: tf.TensorInfo, perChannel: string): { rows: number; c: number } {
  const c = (args.inputs[perChannel]?.shape ?? []).reduce((a, b) => a * b, 1);
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (c === 0 || n % c !== 0) throw new Error(`${kernel}: the filter's last axes must hold the ${c} channels`);
  return { rows: n / c, c };
}

/** out = x·s per channel over [rows, c] (arena indices): col_scale split by rows, or the loop */
function scaleRows(m: Arena, x: number, out: number, s32: number, rows: number, c: number): void {
  if (m.simd) {
    byRows(m, 'col_scale', [m.ptr(x), m.ptr(s32), m.ptr(out)], [0, 2], rows, c);
    return;
  }
  const [xv, o, s] = [m.view(x), m.view(out), m.view(s32)];
  for (let r = 0, i = 0; r < rows; r++) for (let ch = 0; ch < c; ch++, i++) o[i] = fr(xv[i]! * s[ch]!);
}

export function foldWeightsKernel(backendName: string): MultiKernel {
  const K = FOLD_WEIGHTS_KERNEL;
  return (args: KernelArgs): tf.TensorInfo[] => {
    const p = presentOf(args.attrs);
    const [w] = inputsOf(K, args, ['w']) as [tf.TensorInfo];
    const { rows, c } = geometry(K, args, w, 'mean');
    // 0 w | 1 filter', 2 bias', 3 s, 4 inv, 5 centred
    const m = arena(K, backendName, args.backend, [w], [w.shape.slice(), [c], [c], [c], [c]], [], c);
    try {
      const [variance, mean] = [channelInput(K, args, 'variance', true, c)!, channelInput(K, args, 'mean', true, c)!];
      const [gamma, beta, b] = [channelInput(K, args, 'gamma', p.gamma, c), channelInput(K, args, 'beta', p.beta, c), channelInput(K, args, 'bias', p.bias, c)];
      const [bias, s, inv, centred] = [m.view(2), m.view(3), m.view(4), m.view(5)];
      for (let ch = 0; ch < c; ch++) {
        const r = 1 / Math.sqrt(variance[ch]! + p.epsilon);
        const sc = gamma === null ? r : r * gamma[ch]!;
        const d = (b === null ? 0 : b[ch]!) - mean[ch]!;
        inv[ch] = r;
        s[ch] = sc;
        centred[ch] = d;
        bias[ch] = (beta === null ? 0 : beta[ch]!) + d * sc;
      }
      scaleRows(m, 0, 1, 3, rows, c);
      return m.finish();
    } finally {
      m.dispose();
    }
  };
}

export function foldWeightsGradKernel(backendName: string): MultiKernel {
  const K = FOLD_WEIGHTS_GRAD_KERNEL;
  return (args: KernelArgs): tf.TensorInfo[] => {
    const [w, dfilter] = inputsOf(K, args, ['w', 'dfilter']) as [tf.TensorInfo, tf.TensorInfo];
    if (String(w.shape) !== String(dfilter.shape)) throw new Error(`${K}: w and dfilter must have one shape`);
    const { rows, c } = geometry(K, args, w, 's');
    const part = partialsSize(rows, c);
    // 0 w, 1 dfilter, 2 s | 3 dw, 4 dγ, 5 dβ, 6 db, 7 dμ, 8 dvariance | 9 S, 10 its block partials
    const [sIn] = inputsOf(K, args, ['s']) as [tf.TensorInfo];
    const m = arena(K, backendName, args.backend, [w, dfilter, sIn], [w.shape.slice(), [c], [c], [c], [c], [c]], [c, part], c);
    try {
      if (m.simd) byRowBlocks(m, 'fold_grad', [m.ptr(0), m.ptr(1), m.ptr(2), m.ptr(3), m.ptr(9)], [0, 1, 3], [4], [m.ptr(10)], rows, c);
      else {
        scaleRows(m, 1, 3, 2, rows, c);
        const [wv, dv] = [m.view(0), m.view(1)];
        blockedSum(rows, c, m.view(9), (i) => fr(dv[i]! * wv[i]!));
      }
      const [s, inv, centred, dbias] = ['s', 'inv', 'centred', 'dbias'].map((k) => channelInput(K, args, k, true, c)!) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const S = m.view(9);
      const [dg, dbeta, db, dmean, dvar] = [m.view(4), m.view(5), m.view(6), m.view(7), m.view(8)];
      for (let ch = 0; ch < c; ch++) {
        const ds = S[ch]! + dbias[ch]! * centred[ch]!;
        const r = inv[ch]!;
        const g = dbias[ch]!;
        dg[ch] = ds * r;
        dbeta[ch] = g;
        db[ch] = g * s[ch]!;
        dmean[ch] = -g * s[ch]!;
        dvar[ch] = -0.5 * ds * s[ch]! * r * r;
      }
      return m.finish();
    } finally {
      m.dispose();
    }
  };
}

export interface FoldSources {
  w: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
  gamma: tf.Tensor | null;
  beta: tf.Tensor | null;
  bias: tf.Tensor | null;
}

/** The inputs map and attrs of a fold: the present vectors only, in a fixed order (the gradient reads them so). */
function opOf(src: FoldSources, epsilon: number): { inputs: tf.NamedTensorMap; attrs: Present } {
  const inputs: tf.NamedTensorMap = { w: src.w, mean: src.mean, variance: src.variance };
  if (src.gamma !== null) inputs['gamma'] = src.gamma;
  if (src.beta !== null) inputs['beta'] = src.beta;
  if (src.bias !== null) inputs['bias'] = src.bias;
  return { inputs, attrs: { gamma: src.gamma !== null, beta: src.beta !== null, bias: src.bias !== null, epsilon } };
}

export const foldWeightsGradConfig: tf.GradConfig = {
  kernelName: FOLD_WEIGHTS_KERNEL,
  inputsToSave: ['w'],
  outputsToSave: [false, false, true, true, true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const [gf, gb] = Array.isArray(dys) ? dys : [dys];
    const p = presentOf(attrs);
    const [w, s, inv, centred] = saved;
    if (w === undefined || s === undefined || inv === undefined || centred === undefined) throw new Error(`${FOLD_WEIGHTS_KERNEL} gradient: missing saved tensors`);
    // an output no gradient reached (null) counts as zeros
    const dfilter = gf ?? tf.zerosLike(w);
    const dbias = gb ?? tf.zerosLike(s);
    const [dw, dg, dbeta, db, dmean, dvar] = tf.engine().runKernel(FOLD_WEIGHTS_GRAD_KERNEL, { w, dfilter, dbias, s, inv, centred }) as tf.Tensor[];
    const grads: Record<string, () => tf.Tensor> = { w: () => dw!, mean: () => dmean!, variance: () => dvar! };
    if (p.gamma) grads['gamma'] = () => dg!;
    if (p.beta) grads['beta'] = () => dbeta!;
    if (p.bias) grads['bias'] = () => db!;
    return grads;
  },
};

/**
 * [filter', bias'] of a BN folded into the convolution before it, as one op (gradient: FastlrFoldWeightsGrad) when
 * both kernels are registered on the active backend; null otherwise (the caller folds with stock ops).
 */
export function foldWeights(src: FoldSources, epsilon: number): [tf.Tensor, tf.Tensor1D] | null {
  const name = tf.getBackend();
  if (tf.getKernel(FOLD_WEIGHTS_KERNEL, name) == null || tf.getKernel(FOLD_WEIGHTS_GRAD_KERNEL, name) == null) return null;
  const all = [src.w, src.mean, src.variance, src.gamma, src.beta, src.bias];
  if (all.some((t) => t !== null && t.dtype !== 'float32')) return null;
  const { inputs, attrs } = opOf(src, epsilon);
  const [filter, bias] = tf.engine().runKernel(FOLD_WEIGHTS_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return [filter!, bias as tf.Tensor1D];
}

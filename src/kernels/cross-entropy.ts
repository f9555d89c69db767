/**
 * `FastlrCrossEntropy`: PyTorch's CrossEntropyLoss (mean over the batch of −log_softmax(logits)[y]) as one kernel,
 * and `FastlrCrossEntropyGrad` its gradient (softmax(z) − onehot(y))·dy/B as another, instead of the ~14 recorded ops
 * of oneHot + logSoftmax (max, sub, exp, sum, log, sub) + mul + sum + mean + neg and the 4 of the backward.
 *
 * Per row r, in float32 as the op path computes it: m = max_j z[r,j]; s_j = z[r,j] − m; S = Σ_j exp(s_j) (in order);
 * logp_j = s_j − log(S). loss = −(Σ_r logp[r, y_r]) / B with the batch sum in float64 (rounded once); a label outside
 * [0, C) contributes 0, as its all-zero one-hot row does, and gets a zero gradient row (as tf.grad of the op formula
 * gives). Gradient: (exp(logp_j) − [j = y_r]) · (dy / B).
 * exp and log are float64 rounded to float32 (the cpu backend's own exp and log; tfjs-backend-wasm's expf can differ by
 * one unit in the last place). Tiny tensors ([batch, classes]): plain loops on the raw data, wasm and cpu.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { rawInput, rawOutput } from './raw-memory.js';

export const CROSS_ENTROPY_KERNEL = 'FastlrCrossEntropy';
export const CROSS_ENTROPY_GRAD_KERNEL = 'FastlrCrossEntropyGrad';

const fr = Math.fround;

/** Class ids of `info` (int32 or float32) as numbers. */
function labelsOf(backend: tf.KernelBackend, info: tf.TensorInfo): ArrayLike<number> {
  if (info.dtype === 'float32') return rawInput(backend, info);
  const wasm = backend as unknown as { typedArrayFromHeap?: (i: tf.TensorInfo) => Int32Array };
  if (typeof wasm.typedArrayFromHeap === 'function') return wasm.typedArrayFromHeap(info);
  return backend.readSync(info.dataId) as Int32Array;
}

function shapeOf(args: KernelArgs, name: string): { z: tf.TensorInfo; y: tf.TensorInfo; b: number; c: number } {
  const z = args.inputs['logits'];
  const y = args.inputs['labels'];
  if (z == null || y == null) throw new Error(`${name}: missing logits or labels`);
  const b = z.shape[0] ?? 0;
  const c = z.shape[1] ?? 0;
  if (z.dtype !== 'float32' || z.shape.length !== 2 || y.shape.length !== 1 || y.shape[0] !== b) {
    throw new Error(`${name}: expects logits [batch, classes] float32 and labels [batch] (got ${z.shape} / ${y.shape})`);
  }
  return { z, y, b, c };
}

/** logp of row r into `out` (c values); returns nothing */
function logSoftmaxRow(z: Float32Array, r: number, c: number, out: Float64Array): void {
  const o = r * c;
  let m = z[o]!;
  for (let j = 1; j < c; j++) {
    const v = z[o + j]!;
    if (v > m || v !== v) m = v;
  }
  let s = 0;
  for (let j = 0; j < c; j++) s = fr(s + fr(Math.exp(fr(z[o + j]! - m))));
  const ls = fr(Math.log(s));
  for (let j = 0; j < c; j++) out[j] = fr(fr(z[o + j]! - m) - ls);
}

export function crossEntropyKernel(): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const { z, y, b, c } = shapeOf(args, CROSS_ENTROPY_KERNEL);
    const out = rawOutput(args.backend, []);
    const zv = rawInput(args.backend, z);
    const yv = labelsOf(args.backend, y);
    const lp = new Float64Array(c);
    let sum = 0;
    for (let r = 0; r < b; r++) {
      const t = yv[r]!;
      if (!(t >= 0 && t < c && Number.isInteger(t))) continue;
      logSoftmaxRow(zv, r, c, lp);
      sum += lp[t]!;
    }
    out.data[0] = b > 0 ? -(sum / b) : NaN;
    return out.finish();
  };
}

export function crossEntropyGradKernel(): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const { z, y, b, c } = shapeOf(args, CROSS_ENTROPY_GRAD_KERNEL);
    const dyInfo = args.inputs['dy'];
    if (dyInfo == null) throw new Error(`${CROSS_ENTROPY_GRAD_KERNEL}: missing dy`);
    const out = rawOutput(args.backend, [b, c]);
    const zv = rawInput(args.backend, z);
    const yv = labelsOf(args.backend, y);
    const scale = fr(rawInput(args.backend, dyInfo)[0]! / b);
    const lp = new Float64Array(c);
    const g = out.data;
    for (let r = 0; r < b; r++) {
      const t = yv[r]!;
      // a row that adds nothing to the loss has no gradient (rawOutput is zero-filled)
      if (!(t >= 0 && t < c && Number.isInteger(t))) continue;
      logSoftmaxRow(zv, r, c, lp);
      for (let j = 0; j < c; j++) g[r * c + j] = fr(fr(fr(Math.exp(lp[j]!)) - (j === t ? 1 : 0)) * scale);
    }
    return out.finish();
  };
}

export const crossEntropyGradConfig: tf.GradConfig = {
  kernelName: CROSS_ENTROPY_KERNEL,
  inputsToSave: ['logits', 'labels'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const g = Array.isArray(dy) ? dy[0] : dy;
    const [logits, labels] = saved;
    if (g == null || logits === undefined || labels === undefined) throw new Error(`${CROSS_ENTROPY_KERNEL} gradient: missing tensors`);
    return {
      logits: () => tf.engine().runKernel(CROSS_ENTROPY_GRAD_KERNEL, { logits, labels, dy: g }) as tf.Tensor,
      labels: () => tf.zerosLike(labels),
    };
  },
};

/** The fused loss when the kernel is registered on the active backend and the shapes fit; null otherwise. */
export function fusedCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar | null {
  if (logits.rank !== 2 || logits.dtype !== 'float32' || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) return null;
  if (labels.dtype !== 'int32' && labels.dtype !== 'float32') return null;
  if (tf.getKernel(CROSS_ENTROPY_KERNEL, tf.getBackend()) == null) return null;
  return tf.engine().runKernel(CROSS_ENTROPY_KERNEL, { logits, labels }) as tf.Scalar;
}

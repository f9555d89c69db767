/**
 * A fused convolution's bias and activation applied in place on its output on the wasm heap: one bias_clamp pass
 * (simd/epilogue-programs.ts), out = pmin(hi, pmax(lo, out + bias)) with the bounds of linear (−∞, +∞), relu (0, +∞)
 * or relu6 (0, 6), split into row blocks over the heap's threads (element-wise: the split never changes a bit).
 * Used after fastlr's own product / depthwise program for FusedConv2D (pointwise.ts) and FusedDepthwiseConv2D
 * (depthwise.ts) — the convolutions the conv + BatchNorm fold produces (conv-bn-fold.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import type { KernelArgs } from './kernel-context.js';
import { backendRunner, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';

const f32Bits = (v: number): number => new Int32Array(new Float32Array([v]).buffer)[0]!;
const CLAMPS: Record<string, [number, number]> = {
  linear: [f32Bits(-Infinity), f32Bits(Infinity)],
  relu: [f32Bits(0), f32Bits(Infinity)],
  relu6: [f32Bits(0), f32Bits(6)],
};

/**
 * The bias (rank 1, `channels` long, float32) and clamp bounds of a fused kernel call bias_clamp can apply on wasm,
 * or null (no bias, prelu / leakyrelu / other activations, no SIMD programs).
 */
export function clampEpilogue(args: KernelArgs, channels: number): { bias: tf.TensorInfo; bounds: [number, number] } | null {
  const bias = args.inputs['bias'];
  const act = ((args.attrs ?? {})['activation'] as string | undefined) ?? 'linear';
  const bounds = CLAMPS[act];
  if (bounds === undefined || bias == null || args.inputs['preluActivationWeights'] != null) return null;
  if (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== channels) return null;
  if (simdPrograms(args.backend) === null) return null;
  return { bias, bounds };
}

/** out[r, j] = pmin(hi, pmax(lo, out[r, j] + bias[j])) over out as [rows, c], in place. */
export function biasClampInPlace(backend: tf.KernelBackend, out: tf.TensorInfo, e: { bias: tf.TensorInfo; bounds: [number, number] }): void {
  const progs = simdPrograms(backend);
  if (progs === null) throw new Error('bias_clamp: no SIMD programs on this backend');
  const c = out.shape[out.shape.length - 1] ?? 0;
  const rows = c === 0 ? 0 : out.shape.reduce((p, s) => p * s, 1) / c;
  const [po, pb] = [heapPtr(backend, out), heapPtr(backend, e.bias)];
  const [lo, hi] = e.bounds;
  runSplit(
    backendRunner(backend),
    { key: `bias_clamp ${rows}x${c}`, units: rows, bytes: 8 * rows * c, block: (a, b) => ({ fn: 'bias_clamp', args: [po + 4 * a * c, pb, po + 4 * a * c, b - a, c, lo, hi] }) },
    () => progs.bias_clamp(po, pb, po, rows, c, lo, hi),
  );
}

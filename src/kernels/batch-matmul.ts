/**
 * BatchMatMul with explicit transposes, for the wasm backend.
 *
 * tfjs-backend-wasm sends any matmul with transposeA/transposeB (what every dense layer's backward uses:
 * dx = dy·Wᵀ, dW = xᵀ·dy) to a scalar fallback loop instead of XNNPACK, ~15x slower (64x784x256: 0.9 ms plain,
 * 12-15 ms with a flag). Transposing the flagged operand first (a cheap copy) and calling the stock kernel
 * without flags keeps every matmul on XNNPACK.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, KernelContext, release } from './kernel-context.js';

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
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
    if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
    const temps: tf.TensorInfo[] = [];
    try {
      const a2 = transposeA ? ctx.transpose(backend, a, swapLastTwo(a.shape.length)) : a;
      if (transposeA) temps.push(a2);
      const b2 = transposeB ? ctx.transpose(backend, b, swapLastTwo(b.shape.length)) : b;
      if (transposeB) temps.push(b2);
      return stock({ inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    } finally {
      release(backend, ...temps);
    }
  };
}

/**
 * `FastlrActBiasGrad`: the gradient through an activation read from its output and the bias gradient before it, in
 * one pass over [rows, c] (c the last axis) — FastlrConvBnAct's gradient (conv-bn-act.ts) where the folded bias gets
 * one, instead of the activation's gradient kernel then a full-size Sum:
 *   dz[r, ch] = lo ≤ y[r, ch] ≤ hi ? dy[r, ch] : 0   (relu: 0 < y; relu6: 0 < y < 6, as FastlrConvBnAct's mask; NaN y: 0)
 *   db[ch] = Σ_r dz[r, ch]                             (linear: dz = dy, only db is computed)
 * outputs [dz, db] (linear: [db]). The sum is blocked (32 rows in order, then the block sums in order:
 * channel-arena.ts), split over the threads by rows at block multiples, so it is the same bits at any thread count;
 * SIMD programs (clip_grad_sum, bn_sum) for c % 4 == 0, the same order in plain loops otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, type MultiKernel } from './kernel-context.js';
import { arena, blockedSum, byRowBlocks, channelsOf, inputsOf, partialsSize } from './channel-arena.js';

export const ACT_BIAS_GRAD_KERNEL = 'FastlrActBiasGrad';

export type MaskedActivation = 'linear' | 'relu' | 'relu6';

/** The smallest positive float32 and the largest float32 below 6: y in [MIN_POSITIVE, BELOW_6] ⇔ 0 < y < 6. */
export const MIN_POSITIVE = 1.401298464324817e-45;
export const BELOW_6 = Math.fround(6 - 2 ** -21);

/** the mask's bounds on the activation's output, lo ≤ y ≤ hi */
export const OUTPUT_MASK: Record<'relu' | 'relu6', [number, number]> = { relu: [MIN_POSITIVE, Infinity], relu6: [MIN_POSITIVE, BELOW_6] };

const f32Bits = (v: number): number => new Int32Array(Float32Array.of(v).buffer)[0]!;

function activationOf(attrs: tf.NamedAttrMap | undefined): MaskedActivation {
  const a = attrs?.['activation'] ?? 'linear';
  for (const known of ['linear', 'relu', 'relu6'] as const) if (a === known) return known;
  throw new Error(`${ACT_BIAS_GRAD_KERNEL}: unknown activation ${String(a)}`);
}

export function actBiasGradKernel(backendName: string): MultiKernel {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const act = activationOf(args.attrs);
    if (act === 'linear') {
      const [dy] = inputsOf(ACT_BIAS_GRAD_KERNEL, args, ['dy']) as [tf.TensorInfo];
      const { rows, c } = channelsOf(dy);
      // 0 dy | 1 db | 2 block partials
      const m = arena(ACT_BIAS_GRAD_KERNEL, backendName, args.backend, [dy], [[c]], [partialsSize(rows, c)], c);
      try {
        if (m.simd) byRowBlocks(m, 'bn_sum', [m.ptr(0), m.ptr(1)], [0], [1], [m.ptr(2)], rows, c);
        else {
          const d = m.view(0);
          blockedSum(rows, c, m.view(1), (i) => d[i]!);
        }
        return m.finish();
      } finally {
        m.dispose();
      }
    }
    const [y, dy] = inputsOf(ACT_BIAS_GRAD_KERNEL, args, ['y', 'dy']) as [tf.TensorInfo, tf.TensorInfo];
    if (String(y.shape) !== String(dy.shape)) throw new Error(`${ACT_BIAS_GRAD_KERNEL}: y and dy must have one shape`);
    const { rows, c } = channelsOf(y);
    const [lo, hi] = OUTPUT_MASK[act];
    // 0 y, 1 dy | 2 dz, 3 db | 4 block partials
    const m = arena(ACT_BIAS_GRAD_KERNEL, backendName, args.backend, [y, dy], [y.shape.slice(), [c]], [partialsSize(rows, c)], c);
    try {
      if (m.simd) byRowBlocks(m, 'clip_grad_sum', [m.ptr(0), m.ptr(1), m.ptr(2), m.ptr(3)], [0, 1, 2], [3], [m.ptr(4)], rows, c, [f32Bits(lo), f32Bits(hi)]);
      else {
        const [yv, dv, dz] = [m.view(0), m.view(1), m.view(2)];
        const [flo, fhi] = [Math.fround(lo), Math.fround(hi)];
        for (let i = 0; i < yv.length; i++) {
          const v = yv[i]!;
          dz[i] = v >= flo && v <= fhi ? dv[i]! : 0;
        }
        blockedSum(rows, c, m.view(3), (i) => dz[i]!);
      }
      return m.finish();
    } finally {
      m.dispose();
    }
  };
}

/**
 * [dz, db] (linear: [dy, db]) of an activation's output gradient `dy` read from its output `y`, as one op when the
 * kernel is registered on the active backend; null otherwise (the caller then uses its own ops).
 */
export function actBiasGrad(dy: tf.Tensor, y: tf.Tensor, activation: MaskedActivation): [tf.Tensor, tf.Tensor1D] | null {
  if (tf.getKernel(ACT_BIAS_GRAD_KERNEL, tf.getBackend()) == null || dy.dtype !== 'float32' || y.dtype !== 'float32') return null;
  const e = tf.engine();
  if (activation === 'linear') {
    const [db] = e.runKernel(ACT_BIAS_GRAD_KERNEL, { dy }, { activation }) as tf.Tensor[];
    return [dy, db as tf.Tensor1D];
  }
  const [dz, db] = e.runKernel(ACT_BIAS_GRAD_KERNEL, { y, dy }, { activation }) as tf.Tensor[];
  return [dz!, db as tf.Tensor1D];
}

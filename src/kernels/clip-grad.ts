/**
 * ClipByValue's gradient as one kernel (`FastlrClipGrad`: dx = lo ≤ x ≤ hi ? dy : 0) instead of tfjs's
 * where(logicalAnd(greaterEqual(x, lo), lessEqual(x, hi)), dy, zerosLike(dy)) — five full-size passes (four kernels
 * and a zeros tensor) per ReLU(max_value=6) layer of a MobileNet become one. The same result (NaN x gives 0).
 * The gradient is registered globally (gradients are per kernel, not per backend); on a backend without our kernel
 * it computes exactly the stock formula.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { rawInput, rawOutput } from './raw-memory.js';
import { backendRunner, heapOutput, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';

export const CLIP_GRAD_KERNEL = 'FastlrClipGrad';

function inputs(args: KernelArgs): { x: tf.TensorInfo; dy: tf.TensorInfo; lo: number; hi: number } {
  const x = args.inputs['x'];
  const dy = args.inputs['dy'];
  if (x == null || dy == null || x.dtype !== 'float32' || dy.dtype !== 'float32' || String(x.shape) !== String(dy.shape)) {
    throw new Error(`${CLIP_GRAD_KERNEL}: needs float32 x and dy of one shape`);
  }
  return { x, dy, lo: Number(args.attrs?.['clipValueMin']), hi: Number(args.attrs?.['clipValueMax']) };
}

const bits = (v: number): number => new Int32Array(new Float32Array([v]).buffer)[0]!;

/** The plain loop (cpu; wasm without SIMD), on raw memory. */
function clipGradLoop(args: KernelArgs): tf.TensorInfo {
  const { x, dy, lo, hi } = inputs(args);
  const out = rawOutput(args.backend, x.shape.slice());
  const xv = rawInput(args.backend, x);
  const dv = rawInput(args.backend, dy);
  const o = out.data;
  const flo = Math.fround(lo);
  const fhi = Math.fround(hi);
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i]!;
    o[i] = v >= flo && v <= fhi ? dv[i]! : 0;
  }
  return out.finish();
}

export function clipGradCpu(): Kernel {
  return clipGradLoop;
}

export function clipGradWasm(): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const progs = simdPrograms(args.backend);
    if (progs === null) return clipGradLoop(args);
    const { x, dy, lo, hi } = inputs(args);
    const n = x.shape.reduce((p, s) => p * s, 1);
    const out = heapOutput(args.backend, x.shape.slice());
    const [px, pd, po, bl, bh] = [heapPtr(args.backend, x), heapPtr(args.backend, dy), heapPtr(args.backend, out), bits(lo), bits(hi)];
    // split by element blocks over the shared heap's threads (each element one thread: the same bits)
    runSplit(
      backendRunner(args.backend),
      { key: `clip_grad ${n}`, units: n, bytes: 12 * n, align: 4, block: (a, b) => ({ fn: 'clip_grad', args: [px + 4 * a, pd + 4 * a, po + 4 * a, b - a, bl, bh] }) },
      () => progs.clip_grad(px, pd, po, n, bl, bh),
    );
    return out;
  };
}

export const clipGradConfig: tf.GradConfig = {
  kernelName: 'ClipByValue',
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const g = Array.isArray(dy) ? dy[0] : dy;
    const x = saved[0];
    if (g === undefined || x === undefined) throw new Error('ClipByValue gradient: missing tensors');
    const lo = attrs?.['clipValueMin'] as number;
    const hi = attrs?.['clipValueMax'] as number;
    const ours = tf.getKernel(CLIP_GRAD_KERNEL, tf.getBackend()) != null && g.dtype === 'float32' && x.dtype === 'float32' && String(g.shape) === String(x.shape);
    return {
      x: () =>
        ours
          ? (tf.engine().runKernel(CLIP_GRAD_KERNEL, { x, dy: g }, { clipValueMin: lo, clipValueMax: hi }) as tf.Tensor)
          : tf.where(tf.logicalAnd(tf.greaterEqual(x, lo), tf.lessEqual(x, hi)), g, tf.zerosLike(g)),
    };
  },
};

/**
 * `FastlrMovingAverages`: BatchNormalization's two moving-statistics updates of a training call as one kernel,
 * exactly tfjs-layers' doMovingAverage for each, v − (v − stat)·decay in float32 (decay = 1 − momentum, rounded to
 * float32 as tf.mul's scalar is):
 *   inputs movingMean, mean, movingVariance, variance (one value per channel); attrs decay → [new mean, new variance]
 * As ops (Sub, Multiply, Sub per statistic) the update ran under the training step's gradient tape: six kernels and
 * twelve saved-tensor clones (Identity) per layer, none of them on the gradient's path — in a MobileNetV2 step 312
 * kernels and 624 Identity calls of the 1115. A kernel with no gradient saves nothing for the backward pass.
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, type MultiKernel } from './kernel-context.js';
import { type RawOutput, rawInput, rawOutputs } from './raw-memory.js';

export const MOVING_AVERAGES_KERNEL = 'FastlrMovingAverages';

const fr = Math.fround;

/** out[i] = v[i] − (v[i] − s[i])·decay, each operation rounded to float32 (decay already float32) */
function update(v: Float32Array, s: Float32Array, decay: number, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const vi = v[i]!;
    out[i] = fr(vi - fr(fr(vi - s[i]!) * decay));
  }
}

/** The kernel (wasm and cpu: plain loops over heap views or the backend's arrays; a few thousand values). */
export function movingAveragesKernel(): MultiKernel {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const { movingMean, mean, movingVariance, variance } = args.inputs;
    if (movingMean == null || mean == null || movingVariance == null || variance == null) {
      throw new Error(`${MOVING_AVERAGES_KERNEL}: missing input`);
    }
    const decay = args.attrs?.['decay'];
    if (typeof decay !== 'number') throw new Error(`${MOVING_AVERAGES_KERNEL}: attribute decay must be a number`);
    const n = movingMean.shape.reduce((a, b) => a * b, 1);
    for (const t of [mean, movingVariance, variance]) {
      if (t.shape.reduce((a, b) => a * b, 1) !== n) throw new Error(`${MOVING_AVERAGES_KERNEL}: inputs differ in size`);
    }
    // outputs first: their allocation may grow the wasm heap, which detaches views taken earlier
    const [outMean, outVariance] = rawOutputs(args.backend, movingMean.shape.slice(), 2) as [RawOutput, RawOutput];
    const d = fr(decay);
    update(rawInput(args.backend, movingMean), rawInput(args.backend, mean), d, outMean.data, n);
    update(rawInput(args.backend, movingVariance), rawInput(args.backend, variance), d, outVariance.data, n);
    return [outMean.finish(), outVariance.finish()];
  };
}

/** Whether FastlrMovingAverages is registered on the active backend. */
export function movingAveragesAvailable(): boolean {
  return tf.getKernel(MOVING_AVERAGES_KERNEL, tf.getBackend()) != null;
}

/**
 * The new moving mean and variance: v − (v − stat)·(1 − momentum) for each, bit-identical to tfjs-layers'
 * doMovingAverage (tf.sub(v, tf.mul(tf.sub(v, stat), 1 − momentum))). Tracked by the caller's scope.
 */
export function movingAverages(
  movingMean: tf.Tensor,
  mean: tf.Tensor,
  movingVariance: tf.Tensor,
  variance: tf.Tensor,
  momentum: number,
): [tf.Tensor, tf.Tensor] {
  const out = tf.engine().runKernel(MOVING_AVERAGES_KERNEL, { movingMean, mean, movingVariance, variance }, { decay: 1 - momentum });
  if (!Array.isArray(out) || out.length !== 2) throw new Error(`${MOVING_AVERAGES_KERNEL}: expected two outputs`);
  return [out[0]!, out[1]!];
}

/**
 * ReLU(max_value=6) — every activation of MobileNet v1/v2 — as one op: tfjs-layers' ReLU layer runs relu then
 * clipByValue(0, 6), two full-size passes forward and two gradient kernels backward (FastlrReluGrad, then
 * FastlrClipGrad). The ReLU layer is patched at the prototype (layer-patch.ts) to run tf.relu6 when its maxValue is
 * 6: the same values (min(max(x, 0), 6)); and Relu6's gradient is registered as one FastlrClipGrad pass over x with
 * bounds [smallest positive float32, 6]: dy where 0 < x ≤ 6, else 0 — the mask of relu's gradient (x > 0) times
 * clipByValue's on relu(x) (0 ≤ relu(x) ≤ 6), so the gradient is the same bit for bit. Without our kernel the
 * gradient is tfjs's stock formula. Installed with fastlr's other gradients (kernels/index.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { CLIP_GRAD_KERNEL } from './clip-grad.js';
import { layerPatch, type LayerCall } from './layer-patch.js';

/** The smallest positive float32 (a subnormal): x ≥ it ⇔ x > 0 for every float32 x. */
export const MIN_POSITIVE = 1.401298464324817e-45;

export const relu6GradConfig: tf.GradConfig = {
  kernelName: 'Relu6',
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const g = Array.isArray(dy) ? dy[0] : dy;
    const x = saved[0];
    if (g === undefined || x === undefined) throw new Error('Relu6 gradient: missing tensors');
    const ours = tf.getKernel(CLIP_GRAD_KERNEL, tf.getBackend()) != null && g.dtype === 'float32' && x.dtype === 'float32' && String(g.shape) === String(x.shape);
    return {
      x: () =>
        ours
          ? (tf.engine().runKernel(CLIP_GRAD_KERNEL, { x, dy: g }, { clipValueMin: MIN_POSITIVE, clipValueMax: 6 }) as tf.Tensor)
          : tf.mul(g, tf.cast(tf.mul(tf.lessEqual(x, 6), tf.step(x)), 'float32')),
    };
  },
};

interface ReluLayer {
  maxValue?: number | null;
}

function fusedCall(layer: ReluLayer, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | null {
  if (layer.maxValue !== 6) return null;
  const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0]! : null) : inputs;
  if (x === null || x.dtype !== 'float32') return null;
  return tf.relu6(x);
}

const patch = layerPatch<ReluLayer>(() => Object.getPrototypeOf(tf.layers.reLU({ maxValue: 6 })) as { call: LayerCall }, fusedCall);

/** Patch ReLU.prototype.call (idempotent). */
export function installRelu6Layer(): void {
  patch.install();
}

/** Put the original call back. */
export function uninstallRelu6Layer(): void {
  patch.uninstall();
}

/**
 * `FastlrDense`: a Dense layer's forward, act(x·W + b) with act relu or linear, as ONE recorded op, with a gradient
 * that computes only what the tape asks for.
 *
 * tfjs-layers' Dense goes through tf.fused.matMul, which under a gradient tape does not fuse relu: a relu layer runs
 * matMul + Add + Relu (each an op with its reshapes and identities on the tape), a linear one the fused op whose
 * customGrad computes dx even for the first layer, whose input needs none (for the MNIST MLP: a 64×256×784 product
 * thrown away every step, had the first layer been linear). Here the forward calls the backend's own kernels
 * directly (BatchMatMul, Add, Relu: on wasm and cpu the fastlr overrides), so the numbers are those of the unfused
 * path, and the registered gradient gives dx, dW and db lazily: the tape calls only the ones on a path to the
 * variables.
 *
 *   forward  y = relu?(BatchMatMul(x, W) + b)                    (x [m, k], W [k, n], b [n])
 *   backward dz = relu ? (y > 0 ? dy : 0) : dy                    (FastlrReluGrad where registered)
 *            dx = dz·Wᵀ, dW = xᵀ·dz, db = Σ_rows dz               (tf.matMul / tf.sum: the same kernels as before)
 *
 * The layer is patched at the prototype (installDenseLayer) like BatchNormalization (batch-norm.ts): `call` uses the
 * op when the kernel is registered on the active backend (never with FASTLR_KERNELS=stock), the activation is relu
 * or linear and the data float32; anything else runs tfjs-layers' own call.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, kernelFunc, release } from './kernel-context.js';
import { RELU_GRAD_KERNEL } from './relu-grad.js';
import { layerPatch, type LayerCall } from './layer-patch.js';

export const DENSE_KERNEL = 'FastlrDense';

/** The kernel for `backendName`: its BatchMatMul, Add and Relu (resolved at the first call: the overrides). */
export function denseKernel(backendName: string): Kernel {
  let k: { mm: Kernel; add: Kernel; relu: Kernel } | null = null;
  return (args: KernelArgs): tf.TensorInfo => {
    k ??= { mm: kernelFunc('BatchMatMul', backendName), add: kernelFunc('Add', backendName), relu: kernelFunc('Relu', backendName) };
    const { backend } = args;
    const x = args.inputs['x'];
    const w = args.inputs['w'];
    const bias = args.inputs['bias'] ?? null;
    if (x == null || w == null) throw new Error(`${DENSE_KERNEL}: missing x or w`);
    const relu = args.attrs?.['relu'] === true;
    const mm = k.mm({ inputs: { a: x, b: w }, backend, attrs: { transposeA: false, transposeB: false } });
    if (bias === null && !relu) return mm;
    const z = bias === null ? mm : k.add({ inputs: { a: mm, b: bias }, backend });
    if (z !== mm) release(backend, mm);
    if (!relu) return z;
    const y = k.relu({ inputs: { x: z }, backend });
    release(backend, z);
    return y;
  };
}

export const denseGradConfig: tf.GradConfig = {
  kernelName: DENSE_KERNEL,
  inputsToSave: ['x', 'w'],
  outputsToSave: [true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [x, w, y] = saved;
    if (dy == null || x === undefined || w === undefined || y === undefined) throw new Error(`${DENSE_KERNEL} gradient: missing tensors`);
    const relu = attrs?.['relu'] === true;
    // once, shared by the three gradients (disposed with the backward pass)
    const dz = !relu
      ? dy
      : tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) != null
        ? (tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x: y }) as tf.Tensor)
        : tf.mul(dy, tf.cast(tf.step(y), 'float32'));
    return {
      x: () => tf.matMul(dz as tf.Tensor2D, w as tf.Tensor2D, false, true),
      w: () => tf.matMul(x as tf.Tensor2D, dz as tf.Tensor2D, true, false),
      bias: () => tf.sum(dz, 0),
    };
  },
};

/** act(x·W + b) through the kernel; x [m, k] float32, W [k, n], b [n] or null. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor1D | null, relu: boolean): tf.Tensor2D {
  const inputs: tf.NamedTensorMap = bias === null ? { x, w } : { x, w, bias };
  return tf.engine().runKernel(DENSE_KERNEL, inputs, { relu }) as tf.Tensor2D;
}

// --------------------------------------------------------------------------------------------- the layer patch
interface DenseLayer {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  activation: { getClassName(): string };
  invokeCallHook(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): void;
}
function fusedCall(layer: DenseLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | null {
  const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
  if (input === undefined || input.dtype !== 'float32' || input.rank < 2) return null;
  const act = layer.activation?.getClassName();
  if (act !== 'relu' && act !== 'linear') return null;
  const kernel = layer.kernel.read();
  if (kernel.rank !== 2 || kernel.dtype !== 'float32' || tf.getKernel(DENSE_KERNEL, tf.getBackend()) == null) return null;
  return tf.tidy(() => {
    layer.invokeCallHook(inputs, kwargs);
    const k = input.shape[input.rank - 1] ?? 0;
    const x2 = input.rank === 2 ? (input as tf.Tensor2D) : tf.reshape(input, [-1, k]) as tf.Tensor2D;
    const bias = layer.bias === null ? null : (layer.bias.read() as tf.Tensor1D);
    const y = dense(x2, kernel as tf.Tensor2D, bias, act === 'relu');
    return input.rank === 2 ? y : tf.reshape(y, [...input.shape.slice(0, -1), kernel.shape[1] ?? 0]);
  });
}

const patch = layerPatch<DenseLayer>(() => Object.getPrototypeOf(tf.layers.dense({ units: 1 })) as { call: LayerCall }, fusedCall);

/** Patch Dense.prototype.call (idempotent). */
export function installDenseLayer(): void {
  patch.install();
}

/** Put the original call back. */
export function uninstallDenseLayer(): void {
  patch.uninstall();
}

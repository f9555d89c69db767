/**
 * `FastlrBiasAct`: a convolution's bias and relu, relu?(x + b) over x [..., C], b [C], as one recorded op and, on wasm,
 * one SIMD pass (simd/epilogue-programs.ts bias_relu) instead of Add + Relu (two passes, two outputs of the conv's
 * full size: ~0.6 ms per step on the MNIST CNN's first layer). The same float32 operations as those two kernels, so
 * the same numbers. Gradient: dz = relu ? (y > 0 ? dy : 0) : dy once (FastlrReluGrad), x ← dz, b ← Σ_rows dz (tf.sum:
 * the same kernel as the Add gradient's).
 *
 * Conv2D layers are patched at the prototype (installConvLayer) only while a gradient tape records (training steps):
 * tfjs's fused conv2d does not fuse relu there and runs conv2d + add + relu, which this replaces by conv2d + this op;
 * outside a tape (validation, prediction) tfjs-layers' own call runs its FusedConv2D. Channels-last, rank-2 convolutions
 * with a bias and relu, or linear without a bias (plain conv2d: no input gradient where none is asked for; a linear
 * one with a bias already runs as one FusedConv2D under a tape); anything else, and
 * FASTLR_KERNELS=stock, runs the original.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, kernelFunc, release } from './kernel-context.js';
import { biasAddCase } from './kernel-attrs.js';
import { RELU_GRAD_KERNEL } from './relu-grad.js';
import { backendRunner, heapOutput, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';
import { layerPatch, type LayerCall } from './layer-patch.js';

export const BIAS_ACT_KERNEL = 'FastlrBiasAct';

export function biasActKernel(backendName: string): Kernel {
  let k: { add: Kernel; relu: Kernel } | null = null;
  return (args: KernelArgs): tf.TensorInfo => {
    k ??= { add: kernelFunc('Add', backendName), relu: kernelFunc('Relu', backendName) };
    const { backend } = args;
    const x = args.inputs['x'];
    const bias = args.inputs['bias'];
    if (x == null || bias == null) throw new Error(`${BIAS_ACT_KERNEL}: missing x or bias`);
    const relu = args.attrs?.['relu'] === true;
    const m = biasAddCase({ inputs: { a: x, b: bias }, backend });
    const progs = backendName === 'wasm' ? simdPrograms(backend) : null;
    if (relu && m !== null && m.x === x && progs !== null) {
      const out = heapOutput(backend, x.shape.slice());
      const [px, pb, po, rows, c] = [heapPtr(backend, x), heapPtr(backend, bias), heapPtr(backend, out), m.rows, m.c];
      // split by rows over the shared heap's threads (each element one thread: the same bits)
      runSplit(
        backendRunner(backend),
        { key: `bias_relu ${rows}x${c}`, units: rows, bytes: 8 * rows * c, block: (a, b) => ({ fn: 'bias_relu', args: [px + 4 * a * c, pb, po + 4 * a * c, b - a, c] }) },
        () => progs.bias_relu(px, pb, po, rows, c),
      );
      return out;
    }
    const z = k.add({ inputs: { a: x, b: bias }, backend });
    if (!relu) return z;
    const y = k.relu({ inputs: { x: z }, backend });
    release(backend, z);
    return y;
  };
}

export const biasActGradConfig: tf.GradConfig = {
  kernelName: BIAS_ACT_KERNEL,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [x, y] = saved;
    if (dy == null || x === undefined || y === undefined) throw new Error(`${BIAS_ACT_KERNEL} gradient: missing tensors`);
    const relu = attrs?.['relu'] === true;
    const dz = !relu
      ? dy
      : tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) != null
        ? (tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x: y }) as tf.Tensor)
        : tf.mul(dy, tf.cast(tf.step(y), 'float32'));
    const leading = Array.from({ length: x.rank - 1 }, (_, i) => i);
    return {
      x: () => tf.clone(dz),
      bias: () => tf.sum(dz, leading),
    };
  },
};

export function biasAct(x: tf.Tensor, bias: tf.Tensor1D, relu: boolean): tf.Tensor {
  return tf.engine().runKernel(BIAS_ACT_KERNEL, { x, bias }, { relu }) as tf.Tensor;
}

// --------------------------------------------------------------------------------------------- the layer patch
interface ConvLayer {
  rank: number;
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  activation: { getClassName(): string };
  strides: number[];
  padding: string;
  dataFormat: string;
  dilationRate: number | number[];
}
function recording(): boolean {
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: number } }).state;
  return (state?.gradientDepth ?? 0) > 0;
}

function fusedCall(layer: ConvLayer, inputs: tf.Tensor | tf.Tensor[], _kwargs: Record<string, unknown>): tf.Tensor | null {
  if (!recording()) return null;
  const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
  if (input === undefined || input.dtype !== 'float32' || input.rank !== 4 || layer.rank !== 2 || layer.dataFormat !== 'channelsLast') return null;
  const act = layer.activation?.getClassName();
  // relu + bias: conv2d + FastlrBiasAct. Linear without a bias (a conv before a BatchNorm): plain conv2d, whose
  // gradient is computed per input only where one is asked for: tfjs's fused conv2d computes dx in every step, also
  // for a first layer fed by data (MobileNetV2's stem: ~9% of a whole-net step). A linear conv with a bias keeps its
  // one FusedConv2D (bias inside the sums).
  const plain = act === 'linear' && layer.bias === null;
  if (!plain && (act !== 'relu' || layer.bias === null)) return null;
  if (layer.padding !== 'same' && layer.padding !== 'valid') return null;
  if (!plain && tf.getKernel(BIAS_ACT_KERNEL, tf.getBackend()) == null) return null;
  return tf.tidy(() => {
    const dil = layer.dilationRate;
    const dilations: [number, number] = Array.isArray(dil) ? [dil[0] ?? 1, dil[1] ?? dil[0] ?? 1] : [dil, dil];
    const strides: [number, number] = [layer.strides[0] ?? 1, layer.strides[1] ?? layer.strides[0] ?? 1];
    const z = tf.conv2d(input as tf.Tensor4D, layer.kernel.read() as tf.Tensor4D, strides, layer.padding as 'same' | 'valid', 'NHWC', dilations);
    return plain ? z : biasAct(z, layer.bias!.read() as tf.Tensor1D, true);
  });
}

const patch = layerPatch<ConvLayer>(() => Object.getPrototypeOf(tf.layers.conv2d({ filters: 1, kernelSize: 1 })) as { call: LayerCall }, fusedCall);

/** Patch Conv2D.prototype.call (idempotent). */
export function installConvLayer(): void {
  patch.install();
}

/** Put the original call back. */
export function uninstallConvLayer(): void {
  patch.uninstall();
}

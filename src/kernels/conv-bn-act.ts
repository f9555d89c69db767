/**
 * `FastlrConvBnAct`: a convolution with a BatchNorm folded into its weights and its activation in the epilogue
 * (conv-bn-fold.ts decides where), act(conv(x, filter) + bias), as one recorded op: the backend's own FusedConv2D or
 * FusedDepthwiseConv2D (bias and relu / relu6 inside the convolution's output pass: XNNPACK's on wasm, cpu-simd.ts's
 * on cpu), whether or not a gradient tape records. tfjs's tf.fused.conv2d runs conv + add + activation as separate
 * ops under a tape for any activation but linear, and its gradient knows relu only; this op keeps the fusion when a
 * gradient may flow through the fold (a frozen body inside a training step) and its gradient is lazy per input, so
 * a frozen body computes none of it unless something upstream trains:
 *   dz = dy where the activation passes (relu: y > 0; relu6: 0 < y < 6; linear: everywhere), else 0
 *   x ← Conv2DBackpropInput / DepthwiseConv2dNativeBackpropInput(dz, filter)
 *   filter ← Conv2DBackpropFilter / DepthwiseConv2dNativeBackpropFilter(x, dz),  bias ← Σ_{n,h,w} dz
 * (attr biasGrad — the fold's bias is differentiated: conv-bn-fold.ts — dz and the bias's Σ dz come from one pass,
 * FastlrActBiasGrad: act-bias-grad.ts, a blocked sum split over the threads; else the mask kernel then tf.sum.)
 * (relu6's mask is read from the output: an input exactly 6 counts as saturated, where the unfused ReLU(6) passes
 * it — a measure-zero difference at float rounding level.) Registered on wasm and cpu (kernels/index.ts); stock
 * backends never see it (the fold then uses tf.fused ops, conv-bn-fold.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, kernelFunc } from './kernel-context.js';
import { RELU_GRAD_KERNEL } from './relu-grad.js';
import { CLIP_GRAD_KERNEL } from './clip-grad.js';
import { actBiasGrad, BELOW_6, MIN_POSITIVE } from './act-bias-grad.js';

export const CONV_BN_ACT_KERNEL = 'FastlrConvBnAct';

export type FoldedActivation = 'linear' | 'relu' | 'relu6';

export interface ConvBnActAttrs {
  depthwise: boolean;
  strides: [number, number];
  pad: 'same' | 'valid' | tf.backend_util.ExplicitPadding;
  dilations: [number, number];
  activation: FoldedActivation;
  /** the folded bias gets a gradient: dz and Σ dz in one pass (FastlrActBiasGrad) */
  biasGrad?: boolean;
}

function attrsOf(attrs: tf.NamedAttrMap | undefined): ConvBnActAttrs {
  const a = (attrs ?? {}) as unknown as ConvBnActAttrs;
  return { depthwise: a.depthwise === true, strides: a.strides, pad: a.pad, dilations: a.dilations, activation: a.activation, biasGrad: a.biasGrad === true };
}

export function convBnActKernel(backendName: string): (args: KernelArgs) => tf.TensorInfo {
  return (args: KernelArgs): tf.TensorInfo => {
    const a = attrsOf(args.attrs);
    const { x, filter, bias } = args.inputs;
    if (x == null || filter == null || bias == null) throw new Error(`${CONV_BN_ACT_KERNEL}: missing x, filter or bias`);
    // the registration current at the call (our overrides included)
    const conv = kernelFunc(a.depthwise ? 'FusedDepthwiseConv2D' : 'FusedConv2D', backendName);
    return conv({
      inputs: { x, filter, bias },
      backend: args.backend,
      attrs: { strides: a.strides, pad: a.pad, dataFormat: 'NHWC', dilations: a.dilations, dimRoundingMode: undefined as unknown as string, activation: a.activation, leakyreluAlpha: 0 },
    });
  };
}

function activationGrad(dy: tf.Tensor, y: tf.Tensor, activation: FoldedActivation): tf.Tensor {
  if (activation === 'linear') return dy;
  const backend = tf.getBackend();
  if (activation === 'relu') {
    return tf.getKernel(RELU_GRAD_KERNEL, backend) != null ? (tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x: y }) as tf.Tensor) : tf.mul(dy, tf.step(y));
  }
  return tf.getKernel(CLIP_GRAD_KERNEL, backend) != null
    ? (tf.engine().runKernel(CLIP_GRAD_KERNEL, { x: y, dy }, { clipValueMin: MIN_POSITIVE, clipValueMax: BELOW_6 }) as tf.Tensor)
    : tf.mul(dy, tf.cast(tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6)), 'float32'));
}

export const convBnActGradConfig: tf.GradConfig = {
  kernelName: CONV_BN_ACT_KERNEL,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [x, filter, y] = saved;
    if (dy == null || x === undefined || filter === undefined || y === undefined) throw new Error(`${CONV_BN_ACT_KERNEL} gradient: missing tensors`);
    const a = attrsOf(attrs);
    const fused = a.biasGrad === true ? actBiasGrad(dy, y, a.activation) : null;
    const dz = fused === null ? activationGrad(dy, y, a.activation) : fused[0];
    const common = { strides: a.strides, pad: a.pad, dimRoundingMode: undefined as unknown as string };
    const e = tf.engine();
    return {
      x: () =>
        a.depthwise
          ? (e.runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dz, filter }, { ...common, dilations: a.dilations, inputShape: x.shape }) as tf.Tensor)
          : (e.runKernel('Conv2DBackpropInput', { dy: dz, filter }, { ...common, dataFormat: 'NHWC', inputShape: x.shape }) as tf.Tensor),
      filter: () =>
        a.depthwise
          ? (e.runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: dz }, { ...common, dilations: a.dilations, filterShape: filter.shape }) as tf.Tensor)
          : (e.runKernel('Conv2DBackpropFilter', { x, dy: dz }, { ...common, dataFormat: 'NHWC', filterShape: filter.shape }) as tf.Tensor),
      bias: () => (fused === null ? tf.sum(dz, [0, 1, 2]) : fused[1]),
    };
  },
};

/** act(conv(x, filter) + bias) as one recorded op (the kernel must be registered on the active backend). */
export function convBnAct(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, attrs: ConvBnActAttrs): tf.Tensor4D {
  return tf.engine().runKernel(CONV_BN_ACT_KERNEL, { x, filter, bias }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * Our kernel overrides, registered per backend (idempotent), and a way back to the stock kernels.
 *
 *   wasm: MaxPool (SIMD, split by images over the threads; max-pool.ts); Relu, ClipByValue, Relu6 (XNNPACK's ops, one
 *         SIMD pass split by elements; unary.ts); BatchMatMul (explicit transposes; our SIMD gemm for widths % 8 == 0, else XNNPACK); Conv2DBackpropFilter (missing in tfjs-backend-wasm:
 *         im2col + one matmul); Conv2DBackpropInput (XNNPACK conv instead of a scalar loop); MaxPoolGrad (SIMD;
 *         the stock one also drops gradients of all-negative windows); Identity/Cast (share, don't copy);
 *         Add (bias fast path); Sum (leading axes fast path); FastlrReluGrad + the Relu gradient that uses it;
 *         FastlrAdamStep (FastOptimizer's whole Adam update of one parameter, one SIMD pass) and FastlrAdamSteps (that
 *         for every parameter of a step in one call, one split over the threads; adam-steps.ts);
 *         DepthwiseConv2dNativeBackpropInput / ...Filter (missing in tfjs-backend-wasm; depthwise.ts) and
 *         DepthwiseConv2dNative (the dw_fwd program, split by images; depthwise.ts), FusedDepthwiseConv2D with
 *         bias + linear/relu/relu6 (dw_fwd, then one bias_clamp pass in place; epilogue.ts);
 *         Conv2D, FusedConv2D (none or bias + linear/relu/relu6: then bias_clamp in place) and Conv2DBackpropInput,
 *         when 1×1 stride 1 (MobileNet's pointwise convolutions), as products through our BatchMatMul, threaded
 *         (pointwise.ts); Slice by contiguous runs (slice.ts: ZeroPadding2D's gradient) and PadV2 with zeros on H, W
 *         (pad.ts: ZeroPadding2D), both split over the threads; strided or narrow (< 8 channels) Conv2DBackpropInput
 *         by col2im on the gemm (cpu-simd.ts's, conv2d-backprop-input.ts convBackpropInputChoose), the others (stride
 *         1, Ci % 4 == 0) by our gemm + col2im_nhwc in place on the heap (wasm-conv-bpi.ts).
 *   both: FastlrDense (a Dense layer's matmul + bias + relu as one op, its gradient lazy per input; dense.ts);
 *         FastlrCrossEntropy + FastlrCrossEntropyGrad (the loss and its gradient, one kernel each; cross-entropy.ts);
 *         FastlrBiasAct (a Conv2D layer's bias + relu while training, one op, one SIMD pass on wasm; bias-act.ts);
 *         FastlrBatchNormTrain + its two gradient kernels, with BatchNormalization's training branch patched to use
 *         them (a BN read only by a ReLU / ReLU6 computes it, its gradient masked in the sums pass; the moving
 *         statistics' update one FastlrMovingAverages kernel: moving-average.ts), and
 *         FusedBatchNorm (inference mode) + its gradient on the same programs (batch-norm.ts); FastlrClipGrad + the ClipByValue gradient that uses it (clip-grad.ts);
 *         ReLU(max 6) layers as one Relu6 op, its gradient one FastlrClipGrad pass (relu6.ts);
 *         FastlrConvBnAct (a conv with an inference-mode BatchNorm folded in and relu/relu6 in its epilogue, one op
 *         under a gradient tape, its gradient lazy per input; conv-bn-act.ts, planned by conv-bn-fold.ts), its
 *         activation mask and bias gradient one FastlrActBiasGrad pass (act-bias-grad.ts), the folded weights one
 *         FastlrFoldWeights op each way (fold-weights.ts); Mean's gradient without a full-size tensor of ones
 *         (mean-grad.ts).
 *   cpu:  BatchMatMul, _FusedMatMul, Conv2D, FusedConv2D, Conv2DBackpropFilter and Conv2DBackpropInput on our
 *         SIMD gemm in a private wasm memory (cpu-simd.ts; im2col / col2im for the convolutions; NCHW falls back
 *         to the conv formulations); Sum (leading axes), bias Add, Relu, MaxPool and FastlrReluGrad as single JS
 *         loops (cpu-elementwise.ts); MaxPoolGrad (one flat loop instead of TensorBuffer.get per element);
 *         FastlrAdamStep and FastlrAdamSteps (the SIMD adam_step program in the private memory); DepthwiseConv2dNative,
 *         FusedDepthwiseConv2D and both depthwise gradients (SIMD programs in the private memory; depthwise.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { explicitTransposeBatchMatMul } from './batch-matmul.js';
import { wasmConv2D } from './wasm-conv2d.js';
import { biasAdd } from './bias-add.js';
import { convBackpropFilterIm2col, convBackpropFilterViaConv2D } from './conv2d-backprop-filter.js';
import { convBackpropInputChoose, convBackpropInputViaConv2D } from './conv2d-backprop-input.js';
import { leadingAxesSum } from './leading-sum.js';
import { maxPoolGradRaw, maxPoolGradWasm } from './max-pool-grad.js';
import { RELU_GRAD_KERNEL, reluGradConfig, reluGradWasm } from './relu-grad.js';
import { installRelu6Layer, relu6GradConfig, uninstallRelu6Layer } from './relu6.js';
import { sharingCast, sharingIdentity } from './share-data.js';
import { type Kernel, type MultiKernel, kernelFunc } from './kernel-context.js';
import { cpuBiasAdd, cpuLeadingAxesSum, cpuMaxPool, cpuRelu, reluGradCpu } from './cpu-elementwise.js';
import { cpuBatchMatMul, cpuConv2D, cpuConv2DBackpropFilter, cpuConv2DBackpropInput, cpuFusedConv2D, cpuFusedMatMul } from './cpu-simd.js';
import { ADAM_STEP_KERNEL, adamStepCpu, adamStepWasm } from './adam-step.js';
import { ADAM_STEPS_KERNEL, adamStepsCpu, adamStepsWasm } from './adam-steps.js';
import { meanGradConfig } from './mean-grad.js';
import {
  BN_GRAD_INPUT_KERNEL, BN_GRAD_SUMS_KERNEL, BN_TRAIN_KERNEL, bnGradInputKernel, bnGradSumsKernel, bnInferenceGradConfig, bnInferenceKernel, bnTrainGradConfig, bnTrainKernel,
  installBatchNormTraining, uninstallBatchNormTraining,
} from './batch-norm.js';
import { CLIP_GRAD_KERNEL, clipGradConfig, clipGradCpu, clipGradWasm } from './clip-grad.js';
import { pointwiseBackpropInput, pointwiseConv2D } from './pointwise.js';
import { runSliceWasm } from './slice.js';
import { padWasm } from './pad.js';
import { wasmConvBackpropInput } from './wasm-conv-bpi.js';
import { maxPoolWasm } from './max-pool.js';
import { clipByValueWasm, relu6Wasm, reluWasm } from './unary.js';
import { BIAS_ACT_KERNEL, biasActGradConfig, biasActKernel, installConvLayer, uninstallConvLayer } from './bias-act.js';
import { CROSS_ENTROPY_GRAD_KERNEL, CROSS_ENTROPY_KERNEL, crossEntropyGradConfig, crossEntropyGradKernel, crossEntropyKernel } from './cross-entropy.js';
import { DENSE_KERNEL, denseGradConfig, denseKernel, installDenseLayer, uninstallDenseLayer } from './dense.js';
import { cpuDepthwiseConv2D, cpuFusedDepthwiseConv2D, depthwiseBackpropFilter, depthwiseBackpropInput, wasmDepthwiseConv2D, wasmFusedDepthwiseConv2D } from './depthwise.js';
import { MOVING_AVERAGES_KERNEL, movingAveragesKernel } from './moving-average.js';
import { CONV_BN_ACT_KERNEL, convBnActGradConfig, convBnActKernel } from './conv-bn-act.js';
import { ACT_BIAS_GRAD_KERNEL, actBiasGradKernel } from './act-bias-grad.js';
import { FOLD_WEIGHTS_GRAD_KERNEL, FOLD_WEIGHTS_KERNEL, foldWeightsGradConfig, foldWeightsGradKernel, foldWeightsKernel } from './fold-weights.js';

interface Override {
  kernelName: string;
  /** builds our kernel; `stock` is the backend's own registration of the same kernel, if any */
  make(backendName: string, stock: Kernel | null): Kernel | MultiKernel;
}

function need(stock: Kernel | null, name: string, backendName: string): Kernel {
  if (!stock) throw new Error(`${name} is not registered for ${backendName}`);
  return stock;
}

/** Kernels whose override is the same on wasm and cpu (each picks its backend's programs itself). */
const BOTH_BACKENDS: Override[] = [
    { kernelName: 'DepthwiseConv2dNativeBackpropInput', make: (b, stock) => depthwiseBackpropInput(b, stock) },
    { kernelName: 'DepthwiseConv2dNativeBackpropFilter', make: (b, stock) => depthwiseBackpropFilter(b, stock) },
    { kernelName: BN_TRAIN_KERNEL, make: (b) => bnTrainKernel(b) },
    { kernelName: BN_GRAD_SUMS_KERNEL, make: (b) => bnGradSumsKernel(b) },
    { kernelName: BN_GRAD_INPUT_KERNEL, make: (b) => bnGradInputKernel(b) },
    { kernelName: MOVING_AVERAGES_KERNEL, make: () => movingAveragesKernel() },
    { kernelName: 'FusedBatchNorm', make: (b, stock) => bnInferenceKernel(b, need(stock, 'FusedBatchNorm', b)) },
    { kernelName: DENSE_KERNEL, make: (b) => denseKernel(b) },
    { kernelName: CROSS_ENTROPY_KERNEL, make: () => crossEntropyKernel() },
    { kernelName: CROSS_ENTROPY_GRAD_KERNEL, make: () => crossEntropyGradKernel() },
    { kernelName: BIAS_ACT_KERNEL, make: (b) => biasActKernel(b) },
    { kernelName: CONV_BN_ACT_KERNEL, make: (b) => convBnActKernel(b) },
    { kernelName: ACT_BIAS_GRAD_KERNEL, make: (b) => actBiasGradKernel(b) },
    { kernelName: FOLD_WEIGHTS_KERNEL, make: (b) => foldWeightsKernel(b) },
    { kernelName: FOLD_WEIGHTS_GRAD_KERNEL, make: (b) => foldWeightsGradKernel(b) },
];

const OVERRIDES: Record<string, Override[]> = {
  wasm: [
    // Conv2D first: the Conv2DBackpropInput (and the backprop-filter fallback) built below call the Conv2D
    // registered when they are made, ours (wasm-conv2d.ts: threaded, bit-identical at any thread count)
    { kernelName: 'Conv2D', make: (b, stock) => wasmConv2D(need(stock, 'Conv2D', b)) },
    {
      kernelName: 'BatchMatMul',
      make: (b, stock) => {
        if (!stock) throw new Error(`BatchMatMul is not registered for ${b}`);
        return explicitTransposeBatchMatMul(stock, b);
      },
    },
    // 1×1 convolutions as products through the BatchMatMul above (pointwise.ts); the rest as before
    { kernelName: 'Conv2D', make: (b, stock) => pointwiseConv2D(b, need(stock, 'Conv2D', b)) },
    { kernelName: 'FusedConv2D', make: (b, stock) => pointwiseConv2D(b, need(stock, 'FusedConv2D', b)) },
    {
      kernelName: 'Conv2DBackpropFilter',
      make: (b, stock) => convBackpropFilterIm2col(b, convBackpropFilterViaConv2D(b, stock)),
    },
    {
      kernelName: 'Conv2DBackpropInput',
      make: (b, stock) => {
        const viaConv = convBackpropInputViaConv2D(b, stock);
        return pointwiseBackpropInput(b, convBackpropInputChoose(cpuConv2DBackpropInput(viaConv), wasmConvBackpropInput(viaConv)));
      },
    },
    { kernelName: 'MaxPoolGrad', make: () => maxPoolGradWasm() },
    { kernelName: 'MaxPool', make: (b, stock) => maxPoolWasm(need(stock, 'MaxPool', b)) },
    { kernelName: 'Relu', make: (b, stock) => reluWasm(need(stock, 'Relu', b)) },
    { kernelName: 'ClipByValue', make: (b, stock) => clipByValueWasm(need(stock, 'ClipByValue', b)) },
    { kernelName: 'Relu6', make: (b, stock) => relu6Wasm(need(stock, 'Relu6', b)) },
    { kernelName: 'Slice', make: (b, stock) => runSliceWasm(need(stock, 'Slice', b)) },
    { kernelName: 'PadV2', make: (b, stock) => padWasm(need(stock, 'PadV2', b)) },
    { kernelName: 'DepthwiseConv2dNative', make: (b, stock) => wasmDepthwiseConv2D(need(stock, 'DepthwiseConv2dNative', b)) },
    { kernelName: 'FusedDepthwiseConv2D', make: (b, stock) => wasmFusedDepthwiseConv2D(need(stock, 'FusedDepthwiseConv2D', b)) },
    { kernelName: 'Identity', make: (b, stock) => sharingIdentity(need(stock, 'Identity', b)) },
    { kernelName: 'Cast', make: (b, stock) => sharingCast(need(stock, 'Cast', b)) },
    { kernelName: 'Add', make: (b, stock) => biasAdd(need(stock, 'Add', b)) },
    { kernelName: 'Sum', make: (b, stock) => leadingAxesSum(need(stock, 'Sum', b)) },
    { kernelName: RELU_GRAD_KERNEL, make: () => reluGradWasm() },
    { kernelName: ADAM_STEP_KERNEL, make: () => adamStepWasm() },
    { kernelName: ADAM_STEPS_KERNEL, make: () => adamStepsWasm() },
    { kernelName: CLIP_GRAD_KERNEL, make: () => clipGradWasm() },
    ...BOTH_BACKENDS,
  ],
  cpu: [
    // Conv2D first: the Conv2DBackpropInput (and the backprop-filter fallback) built below call the Conv2D
    // registered when they are made, ours
    { kernelName: 'Conv2D', make: (b, stock) => cpuConv2D(need(stock, 'Conv2D', b)) },
    { kernelName: 'FusedConv2D', make: (b, stock) => cpuFusedConv2D(need(stock, 'FusedConv2D', b)) },
    { kernelName: 'BatchMatMul', make: (b, stock) => cpuBatchMatMul(need(stock, 'BatchMatMul', b)) },
    { kernelName: '_FusedMatMul', make: (b, stock) => cpuFusedMatMul(need(stock, '_FusedMatMul', b)) },
    {
      kernelName: 'Conv2DBackpropFilter',
      make: (b, stock) => cpuConv2DBackpropFilter(convBackpropFilterViaConv2D(b, stock)),
    },
    {
      kernelName: 'Conv2DBackpropInput',
      make: (b, stock) => cpuConv2DBackpropInput(convBackpropInputViaConv2D(b, stock)),
    },
    { kernelName: 'MaxPoolGrad', make: () => maxPoolGradRaw() },
    { kernelName: 'Sum', make: (b, stock) => cpuLeadingAxesSum(need(stock, 'Sum', b)) },
    { kernelName: 'Add', make: (b, stock) => cpuBiasAdd(need(stock, 'Add', b)) },
    { kernelName: 'Relu', make: (b, stock) => cpuRelu(need(stock, 'Relu', b)) },
    { kernelName: 'MaxPool', make: (b, stock) => cpuMaxPool(need(stock, 'MaxPool', b)) },
    { kernelName: RELU_GRAD_KERNEL, make: () => reluGradCpu() },
    { kernelName: ADAM_STEP_KERNEL, make: () => adamStepCpu() },
    { kernelName: ADAM_STEPS_KERNEL, make: () => adamStepsCpu() },
    { kernelName: 'DepthwiseConv2dNative', make: (b, stock) => cpuDepthwiseConv2D(need(stock, 'DepthwiseConv2dNative', b)) },
    { kernelName: 'FusedDepthwiseConv2D', make: (b, stock) => cpuFusedDepthwiseConv2D(need(stock, 'FusedDepthwiseConv2D', b)) },
    { kernelName: CLIP_GRAD_KERNEL, make: () => clipGradCpu() },
    ...BOTH_BACKENDS,
  ],
};

/** Gradients we register (per kernel, for every backend: each uses our kernel only where it is registered). */
const GRADIENTS: tf.GradConfig[] = [meanGradConfig, reluGradConfig, clipGradConfig, relu6GradConfig, bnTrainGradConfig, bnInferenceGradConfig, denseGradConfig, crossEntropyGradConfig, biasActGradConfig, convBnActGradConfig, foldWeightsGradConfig];

/** the stock gradients while ours are installed (null: none existed; undefined map: ours are not installed) */
let stockGradients: Map<string, tf.GradConfig | null> | undefined;

function installGradients(): void {
  if (stockGradients !== undefined) return;
  stockGradients = new Map();
  for (const g of GRADIENTS) {
    stockGradients.set(g.kernelName, tf.getGradient(g.kernelName) ?? null);
    tf.registerGradient(g);
  }
  // BatchNormalization's training branch on FastlrBatchNormTrain (inert where that kernel is not registered)
  installBatchNormTraining();
  // Dense layers as one op with a lazy gradient (dense.ts; inert where FastlrDense is not registered)
  installDenseLayer();
  // Conv2D's bias + relu as one op while training (bias-act.ts; inert where FastlrBiasAct is not registered)
  installConvLayer();
  // ReLU(max 6) as one Relu6 op, its gradient one FastlrClipGrad pass (relu6.ts)
  installRelu6Layer();
}

function uninstallGradients(): void {
  if (stockGradients === undefined || replaced.size > 0) return;
  for (const [name, stock] of stockGradients) {
    tf.unregisterGradient(name);
    if (stock) tf.registerGradient(stock);
  }
  stockGradients = undefined;
  uninstallBatchNormTraining();
  uninstallDenseLayer();
  uninstallConvLayer();
  uninstallRelu6Layer();
}

/** stock configs we replaced, per backend, to restore them (null: the kernel did not exist) */
const replaced = new Map<string, Map<string, tf.KernelConfig | null>>();

/** Names of the kernels we override on `backendName` (empty for backends we leave alone). */
export function overridableKernels(backendName: string): string[] {
  return (OVERRIDES[backendName] ?? []).map((o) => o.kernelName);
}

/**
 * Registers our overrides for `backendName`; returns the kernel names now overridden. Idempotent. Safe before
 * or after tf.setBackend: each stock setupFunc is carried over so the backend still initialises its kernels.
 */
export function registerKernelOverrides(backendName: string): string[] {
  const list = OVERRIDES[backendName] ?? [];
  if (replaced.has(backendName)) return list.map((o) => o.kernelName);
  const saved = new Map<string, tf.KernelConfig | null>();
  for (const o of list) {
    const stockConfig = tf.getKernel(o.kernelName, backendName) ?? null;
    const stock = stockConfig ? kernelFunc(o.kernelName, backendName) : null;
    const ours = o.make(backendName, stock);
    if (stockConfig) tf.unregisterKernel(o.kernelName, backendName);
    const config: tf.KernelConfig = {
      kernelName: o.kernelName,
      backendName,
      kernelFunc: ours as tf.KernelFunc,
    };
    if (stockConfig?.setupFunc) config.setupFunc = stockConfig.setupFunc;
    if (stockConfig?.disposeFunc) config.disposeFunc = stockConfig.disposeFunc;
    tf.registerKernel(config);
    saved.set(o.kernelName, stockConfig);
  }
  replaced.set(backendName, saved);
  if (list.some((o) => o.kernelName === RELU_GRAD_KERNEL)) installGradients();
  return list.map((o) => o.kernelName);
}

/** Puts the stock kernels back (for tests and before/after measurements). */
export function restoreStockKernels(backendName: string): void {
  const saved = replaced.get(backendName);
  if (!saved) return;
  for (const [name, config] of saved) {
    tf.unregisterKernel(name, backendName);
    if (config) tf.registerKernel(config);
  }
  replaced.delete(backendName);
  uninstallGradients();
}

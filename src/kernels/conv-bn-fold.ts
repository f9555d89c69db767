/**
 * Conv → BatchNorm (inference mode) → ReLU / ReLU6, computed as ONE fused convolution: the BN folded into the
 * convolution's weights, per output channel (depthwise: per channel), with s = γ/√(σ² + ε):
 *   filter' = filter·s,   bias' = β + (b − μ)·s   (b: the conv's own bias, 0 without),   y = act(conv(x, filter') + bias')
 * which is the unfused result up to float rounding. The BN (and the activation) then pass their input through.
 *
 * Where: the fold plan of the model being run (src/model/fold-plan.ts: a conv whose only consumer is the BN, a BN
 * whose only consumer is the activation, none of them a model output), computed once per model. LayersModel's
 * `call` (every functional / Sequential / nested model) and `predict` / `predictOnBatch` set the plan of the model
 * they run for the layers they call; a conv called outside any planned model, or at a node the plan does not name,
 * runs as before. When: the BN runs in inference mode in that call (training false — validation, prediction — or
 * held there by model.bn_freeze / model.bn_inference, src/model/batchnorm.ts).
 *
 * Gradients: the fold also runs under a gradient tape, with exact gradients to float rounding (FastlrConvBnAct's
 * gradient gives x, the folded filter and bias — the bias's with the activation's mask in one pass where it is
 * differentiated, FastlrActBiasGrad; FastlrFoldWeights' gradient, or tf's autodiff of the fold's few weight-sized ops
 * on stock kernels, carries them on to the kernel, γ and β). Two cases:
 *   - no fold parameter (conv kernel and bias, BN γ and β) is differentiated — the frozen body of fine_tune's first
 *     stage; known exactly when the engine declares its targets (withGradientTargets, the Learner does), else tf's
 *     own rule (trainable variables): the folded weights are constants, computed off the tape, and a gradient is
 *     computed only if something upstream asks for the input's;
 *   - some are (train_bn in a frozen stage, a whole net under bn_inference): the folded weights are computed on the
 *     tape. γ's gradient is then r·(Σ dz·z + (b − μ)·Σ dz) through the filter's, where the unfused BN computes
 *     r·Σ dz·(z + b − μ): the same sum regrouped; test/conv-bn-fold.test.ts holds every gradient to the unfused one
 *     within 1e-4 relative (seen: ~1e-6), with BN statistics |μ|/σ > 4 too. setFoldTrained(false) keeps such folds
 *     unfused.
 * Dilated convolutions fold only outside a tape (tfjs has no dilated conv gradient kernels).
 *
 * Training mode: the same model plans also name each BN whose output only a ReLU / ReLU6 layer reads (fold-plan.ts
 * planBnActs): batch-norm.ts's training branch asks plannedBnActivation, computes the activation in its kernel and
 * marks the output (passThrough), which that activation layer then passes through. Off with the fold (setConvBnFold).
 *
 * Kernels: with fastlr's kernels, FastlrConvBnAct (the backend's FusedConv2D / FusedDepthwiseConv2D with bias and
 * relu/relu6 in the epilogue) under a tape; outside one, tf.fused.conv2d / tf.fused.depthwiseConv2d with bias and
 * activation — stock ops, so tfjs-node (FASTLR_KERNELS=stock) folds as well; under a tape there, tf.fused with a
 * linear activation (conv + bias fused) then the activation op.
 */
import * as tf from '@tensorflow/tfjs';
import { describeGraph, planBnActs, planFolds, planPads, type FoldActivation } from '../model/fold-plan.js';
import { inInferenceMode } from '../model/batchnorm.js';
import { layerPatch, type LayerCall, type LayerPatch } from './layer-patch.js';
import { CONV_BN_ACT_KERNEL, convBnAct } from './conv-bn-act.js';
import { foldWeights } from './fold-weights.js';

type Layer = tf.layers.Layer;

interface BnLayer {
  epsilon: number;
  /** absent (undefined or null) without scale / center */
  gamma?: tf.LayerVariable | null;
  beta?: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}
interface ConvLayer {
  kernel?: tf.LayerVariable;
  depthwiseKernel?: tf.LayerVariable;
  bias?: tf.LayerVariable | null;
  strides: number[];
  padding: string;
  dilationRate: number | number[];
}

interface LayerFold {
  bn: Layer;
  act: Layer | null;
  activation: FoldActivation;
  depthwise: boolean;
}
type Plan = Map<Layer, LayerFold>;
/** a training-mode BN that computes the activation after it (planBnActs), by BN layer */
export interface BnActivation {
  act: Layer;
  activation: 'relu' | 'relu6';
}
interface ModelPlan {
  folds: Plan;
  bnActs: Map<Layer, BnActivation>;
  /** ZeroPadding2D layer → the conv that takes its zeros as explicit padding (planPads) */
  pads: Map<Layer, Layer>;
}
type Explicit = tf.backend_util.ExplicitPadding;

const plans = new WeakMap<object, ModelPlan>();
/** the plans of the models being run, innermost last */
const running: ModelPlan[] = [];
/** what the engine differentiates in the step being recorded, innermost last */
const targets: ReadonlySet<tf.Variable>[] = [];
/** tensors a fold produced: the BN and the activation that must pass them through */
const passes = new WeakMap<tf.Tensor, { bn: Layer | null; act: Layer | null }>();
/** a ZeroPadding2D's input passed through: the conv that must pad it, and how */
const padded = new WeakMap<tf.Tensor, { conv: Layer; pad: Explicit }>();
let enabled = true;
/** fold where a fold parameter is differentiated too (gradients through the folded weights) */
let foldTrained = true;

/** Fold where the conv's or the BN's parameters get a gradient (on by default); returns the previous setting. */
export function setFoldTrained(on: boolean): boolean {
  const was = foldTrained;
  foldTrained = on;
  return was;
}

/** Turn the fold on or off (on by default once installed); returns the previous setting. */
export function setConvBnFold(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Run `f` (a tf.variableGrads over `vars`) telling the fold which variables get a gradient. */
export function withGradientTargets<T>(vars: readonly tf.Variable[], f: () => T): T {
  targets.push(new Set(vars));
  try {
    return f();
  } finally {
    targets.pop();
  }
}

function engineState(): { gradientDepth?: number } | undefined {
  return (tf.engine() as unknown as { state?: { gradientDepth?: number } }).state;
}

function recording(): boolean {
  return (engineState()?.gradientDepth ?? 0) > 0;
}

/**
 * `f` with the gradient tape off: the folded weights of a step whose gradient targets are declared and include no
 * fold parameter need no tape entries (each would keep copies of its inputs for a backward pass that never comes).
 */
function untaped<T>(f: () => T): T {
  const state = engineState();
  if (state === undefined || targets.length === 0) return f();
  const depth = state.gradientDepth;
  state.gradientDepth = 0;
  try {
    return f();
  } finally {
    state.gradientDepth = depth;
  }
}

function differentiated(v: tf.LayerVariable | null | undefined): boolean {
  if (v == null) return false;
  const variable = v.read() as tf.Variable;
  const t = targets[targets.length - 1];
  return t !== undefined ? t.has(variable) : variable.trainable;
}

/** The plans of `model` (folds, training-mode BN → activation pairs), computed once. */
function modelPlanOf(model: tf.LayersModel): ModelPlan {
  let plan = plans.get(model);
  if (plan === undefined) {
    const byName = new Map(model.layers.map((l) => [l.name, l]));
    const graph = describeGraph(model);
    const folds: Plan = new Map();
    for (const f of planFolds(graph)) {
      const conv = byName.get(f.conv);
      const bn = byName.get(f.bn);
      if (conv === undefined || bn === undefined) continue;
      folds.set(conv, { bn, act: f.act === null ? null : (byName.get(f.act) ?? null), activation: f.act === null ? 'linear' : f.activation, depthwise: conv.getClassName() === 'DepthwiseConv2D' });
    }
    const bnActs = new Map<Layer, BnActivation>();
    for (const p of planBnActs(graph)) {
      const bn = byName.get(p.bn);
      const act = byName.get(p.act);
      if (bn !== undefined && act !== undefined) bnActs.set(bn, { act, activation: p.activation });
    }
    const pads = new Map<Layer, Layer>();
    for (const p of planPads(graph)) {
      const pad = byName.get(p.pad);
      const conv = byName.get(p.conv);
      if (pad !== undefined && conv !== undefined) pads.set(pad, conv);
    }
    plan = { folds, bnActs, pads };
    plans.set(model, plan);
  }
  return plan;
}

/** The fold plan of `model`, computed once. */
export function foldPlanOf(model: tf.LayersModel): Plan {
  return modelPlanOf(model).folds;
}

/** The training-mode BN → activation pairs of `model`, by BN layer. */
export function bnActPlanOf(model: tf.LayersModel): ReadonlyMap<Layer, BnActivation> {
  return modelPlanOf(model).bnActs;
}

/**
 * The activation a training-mode BN layer computes itself in the model being run (its plan: the BN's output read
 * only by that activation layer), or null (no model plan running, the fold turned off, not planned).
 */
export function plannedBnActivation(bn: object): BnActivation | null {
  if (!enabled) return null;
  return running[running.length - 1]?.bnActs.get(bn as Layer) ?? null;
}

/** `y` is the activation `act`'s output already (a BN computed it): `act` passes it through when called on it. */
export function passThrough(y: tf.Tensor, act: Layer): void {
  passes.set(y, { bn: null, act });
}

const single = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | null => (Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0]! : null) : inputs);
const pair = (v: number | number[]): [number, number] => (Array.isArray(v) ? [v[0] ?? 1, v[1] ?? v[0] ?? 1] : [v, v]);

/**
 * The folded filter and bias (float32 tensors, inside the caller's tidy): one FastlrFoldWeights op where our kernels
 * are registered (fold-weights.ts), else tf's ops.
 */
function foldedWeights(conv: ConvLayer, bn: BnLayer, depthwise: boolean): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
  const w = (depthwise ? conv.depthwiseKernel! : conv.kernel!).read() as tf.Tensor4D;
  const read = (v: tf.LayerVariable | null | undefined): tf.Tensor | null => (v == null ? null : v.read());
  const ours = foldWeights({ w, mean: bn.movingMean.read(), variance: bn.movingVariance.read(), gamma: read(bn.gamma), beta: read(bn.beta), bias: read(conv.bias) }, bn.epsilon);
  if (ours !== null) return { filter: ours[0] as tf.Tensor4D, bias: ours[1] };
  const inv = tf.div(1, tf.sqrt(tf.add(bn.movingVariance.read(), bn.epsilon)));
  const s = bn.gamma == null ? inv : tf.mul(bn.gamma.read(), inv);
  const filter = (depthwise ? tf.mul(w, tf.reshape(s, [w.shape[2], w.shape[3]])) : tf.mul(w, s)) as tf.Tensor4D;
  const centred = conv.bias == null ? tf.neg(bn.movingMean.read()) : tf.sub(conv.bias.read(), bn.movingMean.read());
  const shifted = tf.mul(centred, s);
  const bias = (bn.beta == null ? shifted : tf.add(bn.beta.read(), shifted)) as tf.Tensor1D;
  return { filter, bias };
}

/** Folded weights of constant parameters, per conv layer, valid while every source tensor is the same one. */
interface Cached {
  sources: (object | null)[];
  eps: number;
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}
const cache = new Map<Layer, Cached>();

function dropCached(layer: Layer): void {
  const c = cache.get(layer);
  if (c === undefined) return;
  tf.dispose([c.filter, c.bias]);
  cache.delete(layer);
}

/**
 * The folded weights when no fold parameter is differentiated: computed once and kept while the six source tensors
 * (kernel, conv bias, γ, β, running mean and variance) are the same tensors — every write of a variable (an optimizer
 * step, setWeights, a training-mode BN's moving averages) gives it new data, so a frozen body or a model predicting
 * reuses them, and the backend's own convolution keeps its packed weights. Freed with the conv layer's weights.
 */
function constantWeights(layer: Layer, conv: ConvLayer, bn: BnLayer, depthwise: boolean): { filter: tf.Tensor4D; bias: tf.Tensor1D } {
  const vars = [depthwise ? conv.depthwiseKernel : conv.kernel, conv.bias, bn.gamma, bn.beta, bn.movingMean, bn.movingVariance];
  const sources = vars.map((v) => (v == null ? null : (v.read() as unknown as { dataId: object }).dataId));
  const c = cache.get(layer);
  if (c !== undefined && c.eps === bn.epsilon && c.sources.every((d, i) => d === sources[i])) return c;
  dropCached(layer);
  const w = untaped(() => tf.tidy(() => foldedWeights(conv, bn, depthwise)));
  tf.keep(w.filter);
  tf.keep(w.bias);
  cache.set(layer, { sources, eps: bn.epsilon, ...w });
  return w;
}

/**
 * A conv layer's call: the fold when planned and the BN runs in inference mode; else, when its input is a planned
 * ZeroPadding2D's passed-through input, the layer's own convolution with that padding explicit; else null.
 */
function convCall(layer: Layer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | null {
  if (!enabled) return null;
  const x = single(inputs);
  const pin = x === null ? undefined : padded.get(x);
  const pad = pin !== undefined && pin.conv === layer ? pin.pad : null;
  if (x === null) return null;
  return foldCall(layer, x, kwargs, pad) ?? (pad === null ? null : paddedConv(layer, x as tf.Tensor4D, pad));
}

/** conv (with explicit padding `explicit`, else its own) → BN → activation as one fused convolution, or null. */
function foldCall(layer: Layer, x: tf.Tensor, kwargs: Record<string, unknown>, explicit: Explicit | null): tf.Tensor | null {
  const fold = running[running.length - 1]?.folds.get(layer);
  if (fold === undefined) return null;
  if (x.rank !== 4 || x.dtype !== 'float32') return null;
  if (!(inInferenceMode(fold.bn) || !kwargs['training'])) return null;
  const conv = layer as unknown as ConvLayer;
  const bn = fold.bn as unknown as BnLayer;
  if (conv.padding !== 'same' && conv.padding !== 'valid') return null;
  const dilations = pair(conv.dilationRate);
  const taped = recording();
  let constant = true;
  let biasGrad = false;
  if (taped) {
    if (dilations[0] !== 1 || dilations[1] !== 1) return null;
    const params = [fold.depthwise ? conv.depthwiseKernel : conv.kernel, conv.bias, bn.gamma, bn.beta];
    const trained = params.map(differentiated);
    constant = !trained.some((d) => d);
    // the folded bias depends on the conv's bias, γ and β
    biasGrad = trained.slice(1).some((d) => d);
    if (!constant && !foldTrained) return null;
  }
  const strides = pair(conv.strides);
  const pad: 'same' | 'valid' | Explicit = explicit ?? (conv.padding as 'same' | 'valid');
  const activation = fold.activation;
  const y = tf.tidy(() => {
    const { filter, bias } = constant ? constantWeights(layer, conv, bn, fold.depthwise) : foldedWeights(conv, bn, fold.depthwise);
    const x4 = x as tf.Tensor4D;
    if (taped && tf.getKernel(CONV_BN_ACT_KERNEL, tf.getBackend()) != null) {
      return convBnAct(x4, filter, bias, { depthwise: fold.depthwise, strides, pad, dilations, activation, biasGrad });
    }
    // stock ops: tf.fused fuses a non-linear activation only outside a tape
    const fusedAct = taped ? 'linear' : activation;
    const args = { x: x4, filter, strides, pad, dataFormat: 'NHWC' as const, dilations, bias, activation: fusedAct };
    // tf.fused.depthwiseConv2d's type leaves out explicit padding, which its kernels and gradient take like conv2d's
    const z = fold.depthwise ? tf.fused.depthwiseConv2d({ ...args, pad: pad as 'valid' }) : tf.fused.conv2d(args);
    if (fusedAct === activation) return z;
    return activation === 'relu' ? tf.relu(z) : tf.relu6(z);
  });
  passes.set(y, { bn: fold.bn, act: fold.act });
  return y;
}

/**
 * A planned conv layer's own computation (linear, channels last, dilation 1: planPads) on its input with explicit
 * padding: what the layer computes on the padded input, without the padded copy.
 */
function paddedConv(layer: Layer, x: tf.Tensor4D, pad: Explicit): tf.Tensor {
  const conv = layer as unknown as ConvLayer;
  const strides = pair(conv.strides);
  return tf.tidy(() => {
    const bias = conv.bias == null ? undefined : (conv.bias.read() as tf.Tensor1D);
    if (conv.depthwiseKernel !== undefined) {
      const z = tf.depthwiseConv2d(x, conv.depthwiseKernel.read() as tf.Tensor4D, strides, pad, 'NHWC');
      return bias === undefined ? z : tf.add(z, bias);
    }
    return tf.fused.conv2d({ x, filter: conv.kernel!.read() as tf.Tensor4D, strides, pad, dataFormat: 'NHWC', bias, activation: 'linear' });
  });
}

/** The backends whose convolution kernels (ours and their stock ones, tested) take explicit padding. */
const EXPLICIT_PAD_BACKENDS = new Set(['wasm', 'cpu']);

/**
 * A planned ZeroPadding2D: its input passed through for the conv after it (which pads it), or null. Only on wasm
 * and cpu: the native backends' depthwise kernels are not known here to take explicit padding, so they keep the pad.
 */
function padCall(layer: Layer, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | null {
  if (!enabled || !EXPLICIT_PAD_BACKENDS.has(tf.getBackend())) return null;
  const conv = running[running.length - 1]?.pads.get(layer);
  const x = single(inputs);
  if (conv === undefined || x === null || x.rank !== 4) return null;
  const [[t, b], [l, r]] = (layer as unknown as { padding: [[number, number], [number, number]] }).padding;
  if ([t, b, l, r].some((p) => !Number.isInteger(p) || p < 0)) return null;
  const y = x.clone();
  padded.set(y, { conv, pad: [[0, 0], [t, b], [l, r], [0, 0]] });
  return y;
}

function bnCall(layer: Layer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | null {
  const x = single(inputs);
  const p = x === null ? undefined : passes.get(x);
  if (x === null || p === undefined || p.bn !== layer) return null;
  if (!(inInferenceMode(layer) || !kwargs['training'])) {
    throw new Error(`conv-bn fold: ${layer.name} was folded into its convolution for inference but is called in training mode`);
  }
  const y = x.clone();
  if (p.act !== null) passes.set(y, { bn: null, act: p.act });
  return y;
}

function actCall(layer: Layer, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor | null {
  const x = single(inputs);
  const p = x === null ? undefined : passes.get(x);
  if (x === null || p === undefined || p.bn !== null || p.act !== layer) return null;
  return x.clone();
}

const protoOf = (make: () => Layer) => (): { call: LayerCall } => Object.getPrototypeOf(make()) as { call: LayerCall };

const layerPatches: LayerPatch[] = [
  layerPatch<Layer>(protoOf(() => tf.layers.conv2d({ filters: 1, kernelSize: 1 })), convCall, { first: true }),
  layerPatch<Layer>(protoOf(() => tf.layers.depthwiseConv2d({ kernelSize: 1 })), convCall, { first: true }),
  layerPatch<Layer>(protoOf(() => tf.layers.batchNormalization({})), bnCall, { first: true }),
  layerPatch<Layer>(protoOf(() => tf.layers.reLU({})), (l, i) => actCall(l, i), { first: true }),
  layerPatch<Layer>(protoOf(() => tf.layers.activation({ activation: 'relu' })), (l, i) => actCall(l, i), { first: true }),
  layerPatch<Layer>(protoOf(() => tf.layers.zeroPadding2d({})), (l, i) => padCall(l, i), { first: true }),
];

// ------------------------------------------------------------------- the models' plans around what they run
type Method = (this: tf.LayersModel, ...args: unknown[]) => unknown;
interface ModelPatch {
  proto: Record<string, Method>;
  name: string;
  original: Method;
}
let modelPatches: ModelPatch[] | null = null;

/** The prototype in LayersModel's chain that defines `name` (Container's call, LayersModel's predict). */
function owner(name: string): Record<string, Method> {
  let p: object | null = tf.LayersModel.prototype;
  while (p !== null && !Object.prototype.hasOwnProperty.call(p, name)) p = Object.getPrototypeOf(p) as object | null;
  if (p === null) throw new Error(`conv-bn fold: LayersModel has no ${name}`);
  return p as Record<string, Method>;
}

function withPlan(name: string): ModelPatch {
  const proto = owner(name);
  const original = proto[name]!;
  proto[name] = function (this: tf.LayersModel, ...args: unknown[]): unknown {
    if (!enabled) return original.apply(this, args);
    running.push(modelPlanOf(this));
    try {
      return original.apply(this, args);
    } finally {
      running.pop();
    }
  };
  return { proto, name, original };
}

/** Layer's disposeWeights (the last dispose of a layer) also frees the folded weights kept for it. */
function freeingCache(): ModelPatch {
  let p: object | null = Object.getPrototypeOf(tf.layers.conv2d({ filters: 1, kernelSize: 1 })) as object;
  while (p !== null && !Object.prototype.hasOwnProperty.call(p, 'disposeWeights')) p = Object.getPrototypeOf(p) as object | null;
  if (p === null) throw new Error('conv-bn fold: Layer has no disposeWeights');
  const proto = p as Record<string, Method>;
  const original = proto['disposeWeights']!;
  proto['disposeWeights'] = function (this: tf.LayersModel, ...args: unknown[]): unknown {
    dropCached(this as unknown as Layer);
    return original.apply(this, args);
  };
  return { proto, name: 'disposeWeights', original };
}

/** Install the fold (idempotent): the layer patches and the models' plans. */
export function installConvBnFold(): void {
  if (modelPatches !== null) return;
  modelPatches = [...['call', 'predict', 'predictOnBatch'].map(withPlan), freeingCache()];
  for (const p of layerPatches) p.install();
}

/** Take it out again. */
export function uninstallConvBnFold(): void {
  if (modelPatches === null) return;
  for (const p of modelPatches.reverse()) p.proto[p.name] = p.original;
  modelPatches = null;
  for (const p of layerPatches) p.uninstall();
}

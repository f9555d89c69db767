/**
 * Which convolutions of a model absorb the BatchNormalization (and the ReLU / ReLU6) after them — a pure function
 * from a small description of one model's graph (its nodes, the tensors between them, its outputs) to a fold plan,
 * and the reader that describes a tfjs LayersModel that way. The runtime (src/kernels/conv-bn-fold.ts) computes a
 * planned conv → BN → activation as one fused convolution when the BN runs in inference mode.
 *
 * A fold {conv, bn, act} is planned when, in this model's graph:
 *   - the conv is a Conv2D or DepthwiseConv2D the runtime can fold (linear activation of its own, channels last),
 *     called at one node of the graph, with one output tensor;
 *   - that tensor's only consumer is a BatchNormalization over the last axis, called at one node, and the tensor is
 *     not an output of the model;
 *   - `act`: the BN's output's only consumer is a ReLU / ReLU(max 6) / Activation('relu' | 'relu6') called at one
 *     node, and the BN's output is not a model output; otherwise act is null (conv + BN alone: a BN whose output
 *     feeds two layers, as before a residual Add, keeps its output as it is).
 * A training-mode pair {bn, act} (planBnActs) is planned by the same rule as a fold's `act`, whatever precedes the BN:
 * the BN (last axis, called at one node, one input) computes the activation itself and the activation layer passes
 * its input through. Only activations whose gradient is a mask of the BN's output: ReLU layers (relu, ReLU(max 6))
 * and Activation('relu'); not Activation('relu6') (tfjs-layers computes minimum(6, relu(x)): its gradient at 6 and
 * the sign of its masked zeros differ from ReLU(6)'s, kind 'relu6-minimum').
 * A padding fold {pad, conv} (planPads): a ZeroPadding2D (channels last, called at one node, one input) whose output's
 * only reader is a Conv2D or DepthwiseConv2D the runtime can fold (as above), called at one node on that one input
 * with 'valid' padding and dilation 1, the pad's output not a model output: the convolution then takes the zeros as
 * explicit padding (taps outside the input skipped; the same sums up to the sign of a zero) and the pad layer passes
 * its input through — no padded copy of the activation, and no Slice of its gradient.
 * Nested models are single nodes of their parent's graph (kind 'other'): each model is planned on its own graph.
 */
import type * as tf from '@tensorflow/tfjs';

export type FoldKind = 'conv2d' | 'depthwise' | 'batchnorm' | 'relu' | 'relu6' | 'relu6-minimum' | 'zeropad' | 'other';
export type FoldActivation = 'linear' | 'relu' | 'relu6';

/** One call of a layer in the graph: the tensors (ids) it reads and writes. */
export interface GraphNode {
  layer: string;
  kind: FoldKind;
  inputs: number[];
  outputs: number[];
  /** a conv2d / depthwise node: its padding is 'valid' and its dilation 1 (it can take a pad before it as its own) */
  validPadding?: boolean;
}

export interface FoldGraph {
  nodes: GraphNode[];
  /** ids of the model's output tensors */
  outputs: number[];
}

export interface Fold {
  conv: string;
  bn: string;
  /** the activation layer folded into the conv's epilogue, or null */
  act: string | null;
  activation: FoldActivation;
}

/** A BN computing the activation after it in training mode (the activation layer then passes its input through). */
export interface BnAct {
  bn: string;
  act: string;
  activation: 'relu' | 'relu6';
}

/** The single-consumer rule both plans share, over one graph. */
function graphRules(graph: FoldGraph): { onlyConsumer: (t: number) => GraphNode | null; once: (n: GraphNode) => boolean; actAfter: (bn: GraphNode) => GraphNode | null } {
  const calls = new Map<string, number>();
  for (const n of graph.nodes) calls.set(n.layer, (calls.get(n.layer) ?? 0) + 1);
  const consumers = new Map<number, GraphNode[]>();
  for (const n of graph.nodes) {
    for (const t of n.inputs) consumers.set(t, [...(consumers.get(t) ?? []), n]);
  }
  const outputs = new Set(graph.outputs);
  /** the single node reading tensor t, when t is not a model output, or null */
  const onlyConsumer = (t: number): GraphNode | null => {
    const c = consumers.get(t) ?? [];
    return c.length === 1 && !outputs.has(t) ? c[0]! : null;
  };
  const once = (n: GraphNode): boolean => calls.get(n.layer) === 1 && n.outputs.length === 1;
  /** the activation node reading a BN node's output alone (called once, one input), or null */
  const actAfter = (bn: GraphNode): GraphNode | null => {
    const act = onlyConsumer(bn.outputs[0]!);
    const isAct = act !== null && (act.kind === 'relu' || act.kind === 'relu6' || act.kind === 'relu6-minimum');
    return isAct && once(act) && act.inputs.length === 1 ? act : null;
  };
  return { onlyConsumer, once, actAfter };
}

/** The folds of one model's graph, in the order of its nodes. */
export function planFolds(graph: FoldGraph): Fold[] {
  const { onlyConsumer, once, actAfter } = graphRules(graph);
  const folds: Fold[] = [];
  for (const conv of graph.nodes) {
    if ((conv.kind !== 'conv2d' && conv.kind !== 'depthwise') || !once(conv)) continue;
    const bn = onlyConsumer(conv.outputs[0]!);
    if (bn === null || bn.kind !== 'batchnorm' || !once(bn) || bn.inputs.length !== 1) continue;
    const folded = actAfter(bn);
    const activation: FoldActivation = folded === null ? 'linear' : folded.kind === 'relu' ? 'relu' : 'relu6';
    folds.push({ conv: conv.layer, bn: bn.layer, act: folded?.layer ?? null, activation });
  }
  return folds;
}

/** The BN → activation pairs computed as one training-mode BN, in the order of the graph's nodes. */
export function planBnActs(graph: FoldGraph): BnAct[] {
  const { once, actAfter } = graphRules(graph);
  const pairs: BnAct[] = [];
  for (const bn of graph.nodes) {
    if (bn.kind !== 'batchnorm' || !once(bn) || bn.inputs.length !== 1) continue;
    const act = actAfter(bn);
    if (act === null || act.kind === 'relu6-minimum') continue;
    pairs.push({ bn: bn.layer, act: act.layer, activation: act.kind === 'relu' ? 'relu' : 'relu6' });
  }
  return pairs;
}

/** A ZeroPadding2D taken into the convolution reading it (planPads). */
export interface PadFold {
  pad: string;
  conv: string;
}

/** The padding folds of one model's graph, in the order of its nodes. */
export function planPads(graph: FoldGraph): PadFold[] {
  const { onlyConsumer, once } = graphRules(graph);
  const folds: PadFold[] = [];
  for (const pad of graph.nodes) {
    if (pad.kind !== 'zeropad' || !once(pad) || pad.inputs.length !== 1) continue;
    const conv = onlyConsumer(pad.outputs[0]!);
    if (conv === null || (conv.kind !== 'conv2d' && conv.kind !== 'depthwise') || !once(conv) || conv.inputs.length !== 1) continue;
    if (conv.validPadding === true) folds.push({ pad: pad.layer, conv: conv.layer });
  }
  return folds;
}

// ------------------------------------------------------------------------------------ reading a LayersModel
interface LayerInternals {
  inboundNodes: { inputTensors: { id: number }[]; outputTensors: { id: number }[] }[];
  activation?: { getClassName(): string } | null;
  maxValue?: number | null;
  dataFormat?: string;
  rank?: number;
  axis?: number | number[];
  depthMultiplier?: number;
  padding?: string | number[][];
  dilationRate?: number | number[];
}

/** What the runtime can fold this layer as (kind 'other': not at all). */
export function foldKind(layer: tf.layers.Layer): FoldKind {
  const l = layer as unknown as LayerInternals;
  const linear = l.activation == null || l.activation.getClassName() === 'linear';
  switch (layer.getClassName()) {
    case 'Conv2D':
      return linear && l.rank === 2 && l.dataFormat === 'channelsLast' ? 'conv2d' : 'other';
    case 'DepthwiseConv2D':
      return linear && l.dataFormat === 'channelsLast' ? 'depthwise' : 'other';
    case 'BatchNormalization': {
      const axis = Array.isArray(l.axis) ? (l.axis.length === 1 ? l.axis[0] : undefined) : l.axis;
      // the last axis of a rank-4 NHWC activation
      return axis === -1 || axis === 3 ? 'batchnorm' : 'other';
    }
    case 'ZeroPadding2D':
      return l.dataFormat === 'channelsLast' ? 'zeropad' : 'other';
    case 'ReLU':
      return l.maxValue == null ? 'relu' : l.maxValue === 6 ? 'relu6' : 'other';
    case 'Activation': {
      const a = l.activation?.getClassName();
      return a === 'relu' ? 'relu' : a === 'relu6' ? 'relu6-minimum' : 'other';
    }
    default:
      return 'other';
  }
}

/** A conv layer with 'valid' padding and dilation 1. */
function validUndilated(layer: tf.layers.Layer): boolean {
  const l = layer as unknown as LayerInternals;
  const d = l.dilationRate ?? 1;
  return l.padding === 'valid' && (Array.isArray(d) ? d.every((v) => v === 1) : d === 1);
}

/** The graph of `model` (its own nodes; a nested model is one node) in the shape planFolds reads. */
export function describeGraph(model: tf.LayersModel): FoldGraph {
  const own = (model as unknown as { containerNodes?: Set<string> }).containerNodes;
  const nodes: GraphNode[] = [];
  for (const layer of model.layers) {
    const kind = foldKind(layer);
    const conv = kind === 'conv2d' || kind === 'depthwise';
    (layer as unknown as LayerInternals).inboundNodes.forEach((node, i) => {
      if (own !== undefined && !own.has(`${layer.name}_ib-${i}`)) return;
      const n: GraphNode = { layer: layer.name, kind, inputs: node.inputTensors.map((t) => t.id), outputs: node.outputTensors.map((t) => t.id) };
      if (conv) n.validPadding = validUndilated(layer);
      nodes.push(n);
    });
  }
  return { nodes, outputs: model.outputs.map((t) => (t as unknown as { id: number }).id) };
}

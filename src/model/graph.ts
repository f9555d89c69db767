/**
 * The layer graph of any tfjs LayersModel — Sequential, functional (Add, Concatenate, Multiply, several paths),
 * nested (a model whose layers are models) — read and rebuilt:
 *
 *   - `leafLayers`: the layers that compute, nested models expanded, in topological order;
 *   - `rebuildGraph`: a new flat functional model with fresh layers of the same configs and copies of their weights,
 *     up to a given layer's output (the cut) or the model's outputs. Only the layers the output depends on are
 *     rebuilt (demand-driven, as Keras' clone_model), so a cut drops whatever does not feed it.
 *
 * The rebuilt model owns its variables: the source model can be disposed afterwards without touching it.
 */
import * as tf from '@tensorflow/tfjs';
import { FastlrError } from '../errors.js';

type Layer = tf.layers.Layer;
type Sym = tf.SymbolicTensor;

/** tfjs-internal fields of a SymbolicTensor and of a Node the walk reads (stable across tfjs-layers 2–4). */
interface SymInternals {
  id: number;
  sourceLayer: Layer;
  nodeIndex: number;
  tensorIndex: number;
}
interface NodeInternals {
  inputTensors: Sym[];
  outputTensors: Sym[];
  callArgs?: Record<string, unknown>;
}

const sym = (t: Sym): SymInternals => t as unknown as SymInternals;

export function isContainer(layer: Layer): layer is tf.LayersModel {
  return layer instanceof tf.LayersModel;
}

const isInput = (layer: Layer): boolean => layer.getClassName() === 'InputLayer';

/** The computing layers of `model` (no InputLayer), nested models expanded in place, in topological order. */
export function leafLayers(model: tf.LayersModel): Layer[] {
  const out: Layer[] = [];
  const walk = (m: tf.LayersModel): void => {
    for (const l of m.layers) {
      if (isContainer(l)) walk(l);
      else if (!isInput(l)) out.push(l);
    }
  };
  walk(model);
  return out;
}

/** The nested models leading to the layer `name` (a leaf or a nested model) (outermost first, the layer last), or undefined. */
export function layerPath(model: tf.LayersModel, name: string): Layer[] | undefined {
  for (const l of model.layers) {
    if (l.name === name && !isInput(l)) return [l];
    if (isContainer(l)) {
      const inner = layerPath(l, name);
      if (inner) return [l, ...inner];
    }
  }
  return undefined;
}

export interface RebuildOptions {
  /** stop at this leaf layer's output (the body of a cut); default: the model's outputs */
  upTo?: Layer[];
  /** the new config of a layer (default: its own); `trainable` is always set true on the rebuilt layers */
  config?: (layer: Layer, config: tf.serialization.ConfigDict) => tf.serialization.ConfigDict;
  /** copy the source weights (default true); false keeps the fresh layers' own initial weights */
  copyWeights?: boolean;
}

export interface Rebuilt {
  inputs: Sym[];
  outputs: Sym[];
  /** the fresh layers, in the order they were built (a topological order) */
  layers: Layer[];
}

/** A fresh, unconnected layer of `layer`'s class and configuration (same name). */
function freshLayer(layer: Layer, opts: RebuildOptions): Layer {
  const className = layer.getClassName();
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new FastlrError(`model.from: layer ${layer.name} has class ${className}, which tfjs-layers cannot build`);
  let config = { ...layer.getConfig() } as tf.serialization.ConfigDict;
  delete config.batchInputShape;
  delete config.inputShape;
  delete config.batchSize;
  if (opts.config) config = opts.config(layer, config);
  config.trainable = true;
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config) as unknown as Layer;
}

interface Scope {
  /** ids of the container's input tensors → the new tensors standing for them */
  inputs: Map<number, Sym>;
  /** `<layer id>/<node index>` → the new output tensors of that node */
  memo: Map<string, Sym[]>;
}

/**
 * Rebuild `model` as a flat functional graph of fresh layers (see the file comment). New tf.input()s replace the
 * model's inputs; a nested model's application is replayed through its own graph, so the result has no nested models.
 */
export function rebuildGraph(model: tf.LayersModel, opts: RebuildOptions = {}): Rebuilt {
  const built: Layer[] = [];
  const copy = opts.copyWeights ?? true;
  const newInputs = model.inputs.map((t) => tf.input({ batchShape: t.shape, dtype: t.dtype, name: t.sourceLayer.name }));
  const top: Scope = { inputs: new Map(model.inputs.map((t, i) => [sym(t).id, newInputs[i]!])), memo: new Map() };

  const resolve = (scope: Scope, t: Sym): Sym => {
    const s = sym(t);
    const mapped = scope.inputs.get(s.id);
    if (mapped) return mapped;
    const layer = s.sourceLayer;
    const key = `${layer.id}/${s.nodeIndex}`;
    let outs = scope.memo.get(key);
    if (!outs) {
      outs = applyNode(scope, layer, s.nodeIndex);
      scope.memo.set(key, outs);
    }
    const out = outs[s.tensorIndex];
    if (!out) throw new FastlrError(`model.from: layer ${layer.name} has no output ${s.tensorIndex}`);
    return out;
  };

  const applyNode = (scope: Scope, layer: Layer, nodeIndex: number): Sym[] => {
    const node = layer.inboundNodes[nodeIndex] as unknown as NodeInternals | undefined;
    if (!node || isInput(layer)) {
      throw new FastlrError(`model.from: layer ${layer.name} is not connected to the model's inputs`);
    }
    const ins = node.inputTensors.map((x) => resolve(scope, x));
    if (isContainer(layer)) return replayContainer(layer, ins);
    const fresh = freshLayer(layer, opts);
    const applied = fresh.apply(ins.length === 1 ? ins[0]! : ins, node.callArgs ?? {});
    built.push(fresh);
    if (copy) {
      const values = layer.getWeights().map((w) => w.clone());
      fresh.setWeights(values);
      tf.dispose(values);
    }
    return (Array.isArray(applied) ? applied : [applied]) as Sym[];
  };

  const replayContainer = (c: tf.LayersModel, ins: Sym[]): Sym[] => {
    const inner: Scope = { inputs: new Map(c.inputs.map((t, i) => [sym(t).id, ins[i]!])), memo: new Map() };
    return c.outputs.map((t) => resolve(inner, t));
  };

  let outputs: Sym[];
  if (opts.upTo && opts.upTo.length > 0) {
    // walk down the nested models to the cut layer: each one is entered through its application in its parent
    let scope = top;
    let parent: tf.LayersModel = model;
    const path = opts.upTo;
    for (let k = 0; k < path.length - 1; k++) {
      const c = path[k] as tf.LayersModel;
      // a model that is the first layer of a Sequential is not applied in it: the Sequential starts from that model's
      // own inputs, so its graph runs through the inner layers directly and the scope stays the same
      if (!sharesInputs(parent, c)) {
        const nodeIndex = applicationNode(parent, c);
        const node = c.inboundNodes[nodeIndex] as unknown as NodeInternals;
        const ins = node.inputTensors.map((x) => resolve(scope, x));
        scope = { inputs: new Map(c.inputs.map((t, i) => [sym(t).id, ins[i]!])), memo: new Map() };
      }
      parent = c;
    }
    const target = path[path.length - 1]!;
    if (isContainer(target) && sharesInputs(parent, target)) {
      outputs = target.outputs.map((t) => resolve(scope, t));
    } else {
      const nodeIndex = applicationNode(parent, target);
      outputs = target.inboundNodes[nodeIndex]!.outputTensors.map((t) => resolve(scope, t as unknown as Sym));
    }
  } else {
    outputs = model.outputs.map((t) => resolve(top, t));
  }
  return { inputs: newInputs, outputs, layers: built };
}

/** True when `inner` (a layer of `parent`) is where `parent`'s graph starts: the same input tensors, never applied in it. */
function sharesInputs(parent: tf.LayersModel, inner: tf.LayersModel): boolean {
  return (
    parent instanceof tf.Sequential &&
    parent.layers[0] === inner &&
    inner.inputs.length === parent.inputs.length &&
    inner.inputs.every((t, i) => sym(t).id === sym(parent.inputs[i]!).id)
  );
}

/** Index of the node through which `layer` takes part in `parent`'s graph. */
function applicationNode(parent: tf.LayersModel, layer: Layer): number {
  const p = parent as unknown as { containerNodes: Set<string>; build(shape: unknown): void };
  // a Sequential makes its inner graph (and so its node set) only when built
  if (p.containerNodes.size === 0 && parent instanceof tf.Sequential && parent.inputs.length > 0) p.build(parent.inputs[0]!.shape);
  const nodes = p.containerNodes;
  const found: number[] = [];
  layer.inboundNodes.forEach((_, i) => {
    if (nodes.has(`${layer.name}_ib-${i}`)) found.push(i);
  });
  if (found.length !== 1) {
    throw new FastlrError(
      `model.cut: layer ${layer.name} is used ${found.length === 0 ? 'nowhere' : `${found.length} times`} in ${parent.name}; cut at a layer used once`,
    );
  }
  return found[0]!;
}

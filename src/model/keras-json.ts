/**
 * model.json topologies as Keras writes them, read without tfjs: the Keras 3 forms rewritten into the Keras 2 forms
 * tfjs-layers 4.22 reads, and the layer list walked (nested models included) for checks that must name a layer.
 *
 * Keras 3 (TF ≥ 2.16) differences handled here:
 *   - `batch_shape` instead of `batch_input_shape` (InputLayer, and any layer's config) — tensorflow/tfjs#8494;
 *   - `dtype` as a DTypePolicy object `{ class_name: 'DTypePolicy', config: { name: 'float32' } }`;
 *   - functional `inbound_nodes` as `{ args, kwargs }` with `__keras_tensor__` objects carrying `keras_history`;
 *   - `input_layers` / `output_layers` as a single `[name, node, tensor]` triple instead of a list of them.
 */

type Json = unknown;
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The keras tensors (`__keras_tensor__`) inside a Keras 3 node's args, in order. */
function kerasTensors(v: Json, out: [string, number, number][]): void {
  if (Array.isArray(v)) {
    for (const x of v) kerasTensors(x, out);
    return;
  }
  if (!isObj(v)) return;
  if (v['class_name'] === '__keras_tensor__' && isObj(v['config'])) {
    const h = v['config']['keras_history'];
    if (Array.isArray(h) && typeof h[0] === 'string') out.push([h[0], Number(h[1] ?? 0), Number(h[2] ?? 0)]);
    return;
  }
  for (const x of Object.values(v)) kerasTensors(x, out);
}

/** A Keras 3 inbound node `{ args, kwargs }` → the Keras 2 form `[[layer, node, tensor, kwargs], …]`. */
function keras2Node(node: Json): Json {
  if (!isObj(node) || !('args' in node)) return node;
  const refs: [string, number, number][] = [];
  kerasTensors(node['args'], refs);
  const kwargs: Obj = {};
  if (isObj(node['kwargs'])) {
    for (const [k, x] of Object.entries(node['kwargs'])) {
      if (typeof x === 'boolean' || typeof x === 'number' || typeof x === 'string') kwargs[k] = x;
    }
  }
  return refs.map(([l, n, t]) => [l, n, t, kwargs]);
}

/** `["input_1", 0, 0]` → `[["input_1", 0, 0]]` (Keras 3 writes a single endpoint unwrapped). */
function endpointList(v: Json): Json {
  return Array.isArray(v) && typeof v[0] === 'string' ? [v] : v;
}

/** Rewrite one (pythonic) topology value in place, recursively. */
function normalize(v: Json): Json {
  if (Array.isArray(v)) return v.map(normalize);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'batch_shape' && !('batch_input_shape' in v)) {
      out['batch_input_shape'] = x;
    } else if (k === 'dtype' && isObj(x) && isObj(x['config']) && typeof x['config']['name'] === 'string') {
      out[k] = x['config']['name'];
    } else if (k === 'inbound_nodes' && Array.isArray(x)) {
      out[k] = x.map(keras2Node);
    } else if ((k === 'input_layers' || k === 'output_layers') && Array.isArray(x)) {
      out[k] = endpointList(x);
    } else {
      out[k] = normalize(x);
    }
  }
  return out;
}

/** The model.json `modelTopology` in the Keras 2 form tfjs reads (a new object; the input is not changed). */
export function normalizeTopology(topology: Json): Json {
  return normalize(topology);
}

export interface TopologyLayer {
  name: string;
  className: string;
  /** names of the enclosing models, outermost first ([] for a top-level layer) */
  parents: string[];
  /** the layer's (pythonic) config */
  config: Obj;
}

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** The model config inside a topology (`model_config` of a Keras h5-style wrapper, or the topology itself). */
function modelConfig(topology: Json): Obj | undefined {
  if (!isObj(topology)) return undefined;
  if (isObj(topology['model_config'])) return topology['model_config'];
  return topology;
}

/**
 * Every layer of a (normalised) topology in the order the file lists them — Keras writes them in topological order —
 * with nested models expanded after their own entry. Undefined when the topology has no layer list.
 */
export function topologyLayers(topology: Json): TopologyLayer[] | undefined {
  const top = modelConfig(topology);
  if (!top) return undefined;
  const out: TopologyLayer[] = [];
  const walk = (model: Obj, parents: string[]): boolean => {
    const cfg = model['config'];
    // a Sequential of old Keras writes its config as the bare layer list
    const layers = Array.isArray(cfg) ? cfg : isObj(cfg) ? cfg['layers'] : undefined;
    if (!Array.isArray(layers)) return false;
    for (const l of layers) {
      if (!isObj(l) || typeof l['class_name'] !== 'string') return false;
      const c = isObj(l['config']) ? l['config'] : {};
      const name = typeof c['name'] === 'string' ? c['name'] : typeof l['name'] === 'string' ? l['name'] : '';
      out.push({ name, className: l['class_name'], parents, config: c });
      if (MODEL_CLASSES.has(l['class_name']) && !walk(l, [...parents, name])) return false;
    }
    return true;
  };
  return walk(top, []) ? out : undefined;
}

/** True for the classes that hold other layers (a nested model). */
export function isModelClass(className: string): boolean {
  return MODEL_CLASSES.has(className);
}

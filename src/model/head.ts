/**
 * A new head on a body's output, applied symbolically (the result is a functional graph, so the body may have any
 * shape: Add, Concatenate, several paths). Head layer names and seeds follow `makeLayer` (index numbered on from the
 * body's layers, seed role 'head-kernel'). `concat_pool` is fastai's AdaptiveConcatPool2d: global max pool and
 * global average pool concatenated on the channel axis, max first (`torch.cat([mp(x), ap(x)], 1)`).
 */
import * as tf from '@tensorflow/tfjs';
import { FastlrError } from '../errors.js';
import { ModelKeyError } from './key-error.js';
import { layerName, makeLayer } from './layers.js';
import type { LayerSpecLike } from './types.js';

/** How many tfjs layers a head spec becomes (concat_pool: max, avg and the concatenation). */
export function headSpecLayers(spec: LayerSpecLike): number {
  return spec.type === 'concat_pool' ? 3 : 1;
}

/** The tfjs layer names a head list produces, in order (the body has `firstIndex` layers). */
export function headLayerNames(specs: readonly LayerSpecLike[], firstIndex: number): string[] {
  return specs.flatMap((spec, j) => {
    const name = layerName(spec, firstIndex + j);
    return spec.type === 'concat_pool' ? [`${name}_max`, `${name}_avg`, name] : [name];
  });
}

/**
 * Apply `specs` to `x`, numbering them from `firstIndex`; `taken` are the body's layer names (a head name may not
 * repeat one). A tfjs shape error names the offending spec. Returns the head's output and its layers.
 */
export function applyHead(
  x: tf.SymbolicTensor,
  specs: readonly LayerSpecLike[],
  firstIndex: number,
  planSeed: number,
  taken: ReadonlySet<string>,
  /** every layer made is pushed here before it is applied (the caller frees them when the build fails) */
  layers: tf.layers.Layer[] = [],
): { output: tf.SymbolicTensor; layers: tf.layers.Layer[] } {
  const used = new Set(taken);
  const claim = (name: string, j: number): void => {
    if (used.has(name)) throw new ModelKeyError(['model', 'head', j], `model.head[${j}]: layer name "${name}" is already used in the model`);
    used.add(name);
  };
  let t = x;
  specs.forEach((spec, j) => {
    const index = firstIndex + j;
    const name = layerName(spec, index);
    try {
      if (spec.type === 'concat_pool') {
        if (t.shape.length !== 4) {
          throw new FastlrError(`needs an input [height, width, channels]; its input is [${t.shape.slice(1).join(', ')}]`);
        }
        for (const n of [`${name}_max`, `${name}_avg`, name]) claim(n, j);
        const max = tf.layers.globalMaxPooling2d({ name: `${name}_max`, dataFormat: 'channelsLast' });
        const avg = tf.layers.globalAveragePooling2d({ name: `${name}_avg`, dataFormat: 'channelsLast' });
        const cat = tf.layers.concatenate({ name, axis: -1 });
        layers.push(max, avg, cat);
        t = cat.apply([max.apply(t) as tf.SymbolicTensor, avg.apply(t) as tf.SymbolicTensor]) as tf.SymbolicTensor;
        return;
      }
      claim(name, j);
      const layer = makeLayer(spec, index, planSeed, { listKey: 'head', seedRole: 'head-kernel' });
      layers.push(layer);
      t = layer.apply(t) as tf.SymbolicTensor;
    } catch (e) {
      if (e instanceof ModelKeyError) throw e;
      if (e instanceof FastlrError && e.message.startsWith('model.head')) throw new ModelKeyError(['model', 'head', j], e.message);
      throw new ModelKeyError(['model', 'head', j], `model.head[${j}] (${spec.type}): ${(e as Error).message}`);
    }
  });
  return { output: t, layers };
}

/** One LayerSpec → one tfjs layer, with a deterministic name and seeded initialisers. */
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { FastlrError } from '../errors.js';
import type { LayerSpecLike } from './types.js';

type ActivationId = 'relu' | 'sigmoid' | 'tanh' | 'softmax' | 'linear' | 'elu' | 'selu' | 'softplus' | 'swish';
const ACTIVATIONS: ReadonlySet<string> = new Set<ActivationId>([
  'relu',
  'sigmoid',
  'tanh',
  'softmax',
  'linear',
  'elu',
  'selu',
  'softplus',
  'swish',
]);

/** Layer name: the spec's `name`, else `l<index>_<type>` (stable across processes, so weight keys are too). */
export function layerName(spec: LayerSpecLike, index: number): string {
  return spec.name ? spec.name : `l${index}_${spec.type}`;
}

/** A uint32 initialiser seed for layer `index`, derived from the plan seed (same seed → same initial weights). */
export function layerSeed(planSeed: number, index: number, role: string): number {
  return seedrandom(`fastlr:init:${planSeed}:${index}:${role}`).int32() >>> 0;
}

function where(index: number, spec: LayerSpecLike, listKey: string): string {
  return `model.${listKey}[${index}] (${spec.type})`;
}

function posInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new FastlrError(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') {
    const n = posInt(v, what);
    return [n, n];
  }
  if (Array.isArray(v) && v.length === 2) return [posInt(v[0], what), posInt(v[1], what)];
  throw new FastlrError(`${what} must be a positive integer or [h, w], got ${JSON.stringify(v)}`);
}

function activation(v: unknown, what: string): ActivationId {
  const a = v ?? 'linear';
  if (typeof a !== 'string' || !ACTIVATIONS.has(a)) {
    throw new FastlrError(`${what} must be one of ${[...ACTIVATIONS].join(', ')}, got ${JSON.stringify(v)}`);
  }
  return a as ActivationId;
}

function padding(v: unknown, what: string): 'valid' | 'same' {
  const p = v ?? 'valid';
  if (p !== 'valid' && p !== 'same') throw new FastlrError(`${what} must be valid or same, got ${JSON.stringify(v)}`);
  return p;
}

/**
 * Make the tfjs layer for `spec` at position `index` of the model.
 * Dense and conv2d kernels: glorot-uniform (Keras' default) seeded by `layerSeed(planSeed, index, 'kernel')` (the
 * role is `opts.seedRole` when given: finetune heads use 'head-kernel', so a new head never starts as a copy of the
 * initial weights of the layer it replaces in a model that was built with the same seed);
 * biases zero; batchnorm gamma 1, beta 0. `inputShape` is given for the model's first layer only.
 */
export function makeLayer(
  spec: LayerSpecLike,
  index: number,
  planSeed: number,
  opts: { inputShape?: readonly number[]; listKey?: string; seedRole?: string } = {},
): tf.layers.Layer {
  const at = where(index, spec, opts.listKey ?? 'layers');
  const name = layerName(spec, index);
  const first = opts.inputShape ? { inputShape: [...opts.inputShape] } : {};
  const kernelInitializer = () => tf.initializers.glorotUniform({ seed: layerSeed(planSeed, index, opts.seedRole ?? 'kernel') });
  switch (spec.type) {
    case 'dense':
      return tf.layers.dense({
        ...first,
        name,
        units: posInt(spec.units, `${at} units`),
        activation: activation(spec.activation, `${at} activation`),
        useBias: spec.use_bias ?? true,
        kernelInitializer: kernelInitializer(),
        biasInitializer: 'zeros',
      });
    case 'conv2d':
      return tf.layers.conv2d({
        ...first,
        name,
        filters: posInt(spec.filters, `${at} filters`),
        kernelSize: pair(spec.kernel, `${at} kernel`),
        strides: pair(spec.strides ?? 1, `${at} strides`),
        padding: padding(spec.padding, `${at} padding`),
        activation: activation(spec.activation, `${at} activation`),
        useBias: spec.use_bias ?? true,
        dataFormat: 'channelsLast',
        kernelInitializer: kernelInitializer(),
        biasInitializer: 'zeros',
      });
    case 'maxpool':
    case 'avgpool': {
      const poolSize = pair(spec.pool ?? 2, `${at} pool`);
      const args = {
        ...first,
        name,
        poolSize,
        strides: spec.strides == null ? poolSize : pair(spec.strides, `${at} strides`),
        padding: padding(spec.padding, `${at} padding`),
        dataFormat: 'channelsLast' as const,
      };
      return spec.type === 'maxpool' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
    }
    case 'flatten':
      return tf.layers.flatten({ ...first, name });
    case 'dropout': {
      const rate = spec.rate;
      if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
        throw new FastlrError(`${at} rate must be in [0, 1), got ${JSON.stringify(rate)}`);
      }
      // no seed: a seeded tfjs Dropout draws the same mask at every step
      return tf.layers.dropout({ ...first, name, rate });
    }
    case 'batchnorm':
      return tf.layers.batchNormalization({
        ...first,
        name,
        axis: -1,
        momentum: spec.momentum ?? 0.9,
        epsilon: spec.epsilon ?? 1e-5,
      });
    case 'activation':
      if (spec.activation === undefined) throw new FastlrError(`${at} needs an activation`);
      return tf.layers.activation({ ...first, name, activation: activation(spec.activation, `${at} activation`) });
    case 'global_avgpool':
      return tf.layers.globalAveragePooling2d({ ...first, name, dataFormat: 'channelsLast' });
    case 'global_maxpool':
      return tf.layers.globalMaxPooling2d({ ...first, name, dataFormat: 'channelsLast' });
    case 'concat_pool':
      throw new FastlrError(`${at}: concat_pool has two branches, so it can only be a model.head layer (after a model.from body)`);
    default:
      throw new FastlrError(
        `${at}: unknown layer type; use dense, conv2d, maxpool, avgpool, flatten, dropout, batchnorm, activation, global_avgpool, global_maxpool or concat_pool`,
      );
  }
}

/**
 * Shape inference for the layer stack, without tfjs: each layer's output shape (per sample, channels last) and
 * its trainable parameter count, as tfjs computes them. Used by `fastlr check` to describe the groups and to catch
 * a model that cannot be built before any training starts.
 */
import type { RawIssue } from './issues.js';
import type { LayerSpec } from './schema.js';

export interface LayerShape {
  name: string;
  type: LayerSpec['type'];
  /** output shape of one sample */
  output: number[];
  /** trainable parameters */
  params: number;
  /** where the spec is in the config */
  path: (string | number)[];
}

const pair = (v: number | [number, number] | readonly number[]): [number, number] =>
  typeof v === 'number' ? [v, v] : [v[0]!, v[1]!];

/** tfjs conv/pool output length of one spatial axis. */
function outLen(len: number, k: number, s: number, padding: 'valid' | 'same'): number {
  return padding === 'same' ? Math.ceil(len / s) : Math.ceil((len - k + 1) / s);
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export interface LayerRef {
  spec: LayerSpec;
  name: string;
  path: (string | number)[];
}

/** Output shapes and parameter counts of `layers` on `input`; stops at the first layer that cannot apply. */
export function inferShapes(layers: readonly LayerRef[], input: readonly number[]): { shapes: LayerShape[]; issue?: RawIssue } {
  const shapes: LayerShape[] = [];
  let shape = [...input];
  for (const { spec, name, path } of layers) {
    const fail = (message: string): { shapes: LayerShape[]; issue: RawIssue } => ({ shapes, issue: { path, message } });
    let params = 0;
    switch (spec.type) {
      case 'dense': {
        const last = shape[shape.length - 1]!;
        params = last * spec.units + (spec.use_bias ? spec.units : 0);
        shape = [...shape.slice(0, -1), spec.units];
        break;
      }
      case 'conv2d':
      case 'maxpool':
      case 'avgpool': {
        if (shape.length !== 3) {
          return fail(`${spec.type} needs an input [height, width, channels]; its input is ${fmt(shape)}`);
        }
        const [h, w, c] = shape as [number, number, number];
        const [kh, kw] = pair(spec.type === 'conv2d' ? spec.kernel : spec.pool);
        const [sh, sw] = pair(spec.strides ?? (spec.type === 'conv2d' ? 1 : spec.pool));
        const oh = outLen(h, kh, sh, spec.padding);
        const ow = outLen(w, kw, sw, spec.padding);
        if (oh < 1 || ow < 1) return fail(`a ${kh}×${kw} window does not fit its ${h}×${w} input (padding ${spec.padding})`);
        if (spec.type === 'conv2d') {
          params = kh * kw * c * spec.filters + (spec.use_bias ? spec.filters : 0);
          shape = [oh, ow, spec.filters];
        } else {
          shape = [oh, ow, c];
        }
        break;
      }
      case 'flatten':
        if (shape.length < 2) return fail(`flatten needs an input of rank 2 or more; its input is ${fmt(shape)}`);
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'batchnorm':
        params = 2 * shape[shape.length - 1]!;
        break;
      case 'dropout':
      case 'activation':
        break;
      case 'global_avgpool':
      case 'global_maxpool':
      case 'concat_pool':
        if (shape.length !== 3) return fail(`${spec.type} needs an input [height, width, channels]; its input is ${fmt(shape)}`);
        shape = [spec.type === 'concat_pool' ? 2 * shape[2]! : shape[2]!];
        break;
    }
    shapes.push({ name, type: spec.type, output: shape, params, path });
  }
  return { shapes };
}

/**
 * The output the loss needs (as the model builder checks it): a rank-1 output of one of `units`, and logits — no
 * softmax/sigmoid on the last layer for the cross-entropies.
 */
export function checkOutput(
  last: LayerShape,
  spec: LayerSpec,
  loss: string,
  units: readonly number[],
  what: string,
): RawIssue | undefined {
  if (last.output.length !== 1) {
    return {
      path: last.path,
      message: `the model outputs ${fmt(last.output)} per sample; loss ${loss} on ${what} needs [${units.join(' or ')}]${
        last.output.length > 1 ? ' (add a flatten layer before the dense layers?)' : ''
      }`,
    };
  }
  if (!units.includes(last.output[0]!)) {
    return {
      path: last.path,
      message: `the last layer outputs ${last.output[0]} values, but loss ${loss} on ${what} needs ${units.join(' or ')}`,
    };
  }
  const applied = loss === 'cross_entropy' ? 'softmax' : loss === 'binary_cross_entropy' ? 'sigmoid' : null;
  if (applied && 'activation' in spec && spec.activation === applied) {
    return {
      path: [...last.path, 'activation'],
      message: `the model must output logits: loss ${loss} applies ${applied} itself; remove this activation`,
    };
  }
  return undefined;
}

/**
 * What a kernel call asks for, read from its inputs and attrs once for every backend's override: the conv and pool
 * geometry, and the two special cases our fast paths take (a bias Add, a Sum over the leading axes). Each returns
 * null when the call is not that case, and the override then hands it to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, pair } from './kernel-context.js';

type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** Conv geometry: strides, dilations (default 1), pad, rounding; `depthwise` for a [kh, kw, c, multiplier] filter. */
function convGeometry(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
  dataFormat: 'channelsLast' | 'channelsFirst',
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    pair(attrs['strides'] as number | [number, number]),
    pair((attrs['dilations'] as number | [number, number] | undefined) ?? 1),
    attrs['pad'] as PadAttr,
    attrs['dimRoundingMode'] as Rounding,
    depthwise,
    dataFormat,
  );
}

/** Conv2D geometry of a call (forward or either gradient). */
export function convInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: tf.NamedAttrMap,
  dataFormat: 'channelsLast' | 'channelsFirst' = 'channelsLast',
): tf.backend_util.Conv2DInfo {
  return convGeometry(xShape, filterShape, attrs, false, dataFormat);
}

/** Pool2D geometry of a MaxPool / MaxPoolGrad call. */
export function poolInfo(xShape: readonly number[], attrs: tf.NamedAttrMap): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    pair(attrs['filterSize'] as number | [number, number]),
    pair(attrs['strides'] as number | [number, number]),
    1,
    attrs['pad'] as PadAttr,
    attrs['dimRoundingMode'] as Rounding,
  );
}

/** A 2×2 stride-2 pool whose windows all lie inside x (no padding used: valid, or same on even sizes), dilation 1. */
export function isPool2(info: tf.backend_util.Conv2DInfo): boolean {
  return info.filterHeight === 2 && info.filterWidth === 2 && info.strideHeight === 2 && info.strideWidth === 2 &&
    info.dilationHeight === 1 && info.dilationWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0 &&
    2 * info.outHeight <= info.inHeight && 2 * info.outWidth <= info.inWidth;
}

function axesOf(axis: unknown, rank: number): number[] | null {
  if (axis == null) return Array.from({ length: rank }, (_, i) => i);
  const list = Array.isArray(axis) ? axis : [axis];
  const out: number[] = [];
  for (const a of list) {
    if (typeof a !== 'number' || !Number.isInteger(a)) return null;
    out.push(a < 0 ? a + rank : a);
  }
  return [...new Set(out)].sort((p, q) => p - q);
}

/** A float32 Sum over every axis but the last (a bias gradient): `rows` × `c` in, `outShape` out. */
export function leadingSumCase(args: KernelArgs): { x: tf.TensorInfo; rows: number; c: number; outShape: number[] } | null {
  const x = args.inputs['x'];
  if (x == null || x.dtype !== 'float32' || x.shape.length < 2) return null;
  const rank = x.shape.length;
  const axes = axesOf(args.attrs?.['axis'], rank);
  if (axes === null || axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return null;
  const c = x.shape[rank - 1] ?? 0;
  const rows = x.shape.slice(0, -1).reduce((p, s) => p * s, 1);
  if (c === 0 || rows === 0) return null;
  const outShape = args.attrs?.['keepDims'] === true ? [...Array<number>(rank - 1).fill(1), c] : [c];
  return { x, rows, c, outShape };
}

/** A float32 Add x[..., C] + b[C], in either order: `rows` × `c` values of x, one bias per channel. */
export function biasAddCase(args: KernelArgs): { x: tf.TensorInfo; bias: tf.TensorInfo; rows: number; c: number } | null {
  const a = args.inputs['a'];
  const b = args.inputs['b'];
  if (a == null || b == null || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const [x, bias] = a.shape.length === 1 && b.shape.length >= 2 ? [b, a] : [a, b];
  const c = x.shape[x.shape.length - 1];
  if (bias.shape.length !== 1 || x.shape.length < 2 || c === undefined || bias.shape[0] !== c || c === 0) return null;
  return { x, bias, rows: x.shape.reduce((p, s) => p * s, 1) / c, c };
}

/** DepthwiseConv2dNative geometry (forward or either gradient; filter [kh, kw, c, multiplier]). */
export function depthwiseInfo(xShape: readonly number[], filterShape: readonly number[], attrs: tf.NamedAttrMap): tf.backend_util.Conv2DInfo {
  return convGeometry(xShape, filterShape, attrs, true, 'channelsLast');
}

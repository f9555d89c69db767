/**
 * What an image's pixel bytes become in the model's input (`data.images.scale`, `data.images.normalize`). Pure.
 *
 * For a byte p in 0..255 of channel c:
 *
 *     v = p / 255                                  (fastai's IntToFloatTensor; augmentation works on v)
 *     s = lo + (hi − lo) · v                       (data.images.scale [lo, hi]; default [0, 1]: s = v)
 *     x = (s − mean[c]) / std[c]                   (data.images.normalize; absent: mean 0, std 1)
 *
 * so `normalize: imagenet` with the default scale is fastai's `Normalize.from_stats(*imagenet_stats)` after ÷255,
 * and `scale: [-1, 1]` alone is Keras MobileNet's `x / 127.5 − 1`. Both given: normalize applies to the scaled value.
 * The composition is one multiply-add per channel: x = v · mul[c] + add[c].
 */
import { FastlrError } from '../errors.js';

/** fastai's `imagenet_stats` (fastai/vision/core.py). */
export const IMAGENET_STATS = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;

export type NormalizeOption = 'imagenet' | { mean: readonly number[]; std: readonly number[] } | null | undefined;

/** The resolved preprocessing, as plan.json and a saved model's `userDefinedMetadata.fastlr.preprocessing` hold it. */
export interface Preprocessing {
  scale: [number, number];
  /** null: none; otherwise per-channel statistics (`name: imagenet` when they are fastai's imagenet_stats) */
  normalize: null | { name?: 'imagenet'; mean: number[]; std: number[] };
  /** how images were brought to `size` (absent in records written before it was kept) */
  resize?: 'squash' | 'crop';
  /** [height, width] the images were resized to */
  size?: [number, number];
  channels?: number;
}

/** The input geometry recorded next to scale/normalize (data.images.resize, size, channels). */
export interface InputGeometry {
  resize: 'squash' | 'crop';
  size: readonly [number, number];
  channels: number;
}

export function resolvePreprocessing(
  o: { scale?: readonly number[] | null; normalize?: NormalizeOption },
  channels: number,
  geometry?: InputGeometry,
): Preprocessing {
  const geo = geometry ? { resize: geometry.resize, size: [geometry.size[0], geometry.size[1]] as [number, number], channels: geometry.channels } : {};
  const scale = o.scale ?? [0, 1];
  if (scale.length !== 2 || !scale.every(Number.isFinite) || !(scale[0]! < scale[1]!)) {
    throw new FastlrError(`data.images.scale must be [lo, hi] with lo < hi, got [${scale.join(', ')}]`);
  }
  const n = o.normalize ?? null;
  if (n === null) return { scale: [scale[0]!, scale[1]!], normalize: null, ...geo };
  const stats = n === 'imagenet' ? IMAGENET_STATS : n;
  const fit = (v: readonly number[], what: string): number[] => {
    if (v.length === channels) return [...v];
    if (v.length === 1) return Array.from({ length: channels }, () => v[0]!);
    const hint = n === 'imagenet' ? ' (imagenet statistics are per RGB channel: use channels: 3)' : '';
    throw new FastlrError(`data.images.normalize.${what} has ${v.length} values for ${channels} channel${channels === 1 ? '' : 's'}${hint}`);
  };
  const mean = fit(stats.mean, 'mean');
  const std = fit(stats.std, 'std');
  if (!std.every((s) => s > 0)) throw new FastlrError('data.images.normalize.std values must be positive');
  return { scale: [scale[0]!, scale[1]!], normalize: n === 'imagenet' ? { name: 'imagenet', mean, std } : { mean, std }, ...geo };
}

/** Per-channel x = v · mul[c] + add[c] for v in [0, 1] (see the header). */
export function channelAffine(p: Preprocessing, channels: number): { mul: Float32Array; add: Float32Array } {
  const [lo, hi] = p.scale;
  const mul = new Float32Array(channels);
  const add = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const mean = p.normalize ? p.normalize.mean[c]! : 0;
    const std = p.normalize ? p.normalize.std[c]! : 1;
    mul[c] = (hi - lo) / std;
    add[c] = (lo - mean) / std;
  }
  return { mul, add };
}

/** One line for humans: `scale [0, 1]`, `scale [0, 1], normalize imagenet`, `scale [-1, 1], normalize mean [..] std [..]` (the values; geometry is not part of it). */
export function describePreprocessing(p: Preprocessing): string {
  const s = `scale [${p.scale.join(', ')}]`;
  if (!p.normalize) return s;
  return p.normalize.name ? `${s}, normalize ${p.normalize.name}` : `${s}, normalize mean [${p.normalize.mean.join(', ')}] std [${p.normalize.std.join(', ')}]`;
}

function close(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= 1e-9 * Math.max(1, Math.abs(v)));
}

/** Read a checkpoint's recorded preprocessing (`userDefinedMetadata.fastlr.preprocessing`); undefined when absent or malformed. */
export function recordedPreprocessing(meta: unknown): Preprocessing | undefined {
  const p = (meta as { fastlr?: { preprocessing?: unknown } } | null | undefined)?.fastlr?.preprocessing as
    | { scale?: unknown; normalize?: unknown; resize?: unknown; size?: unknown; channels?: unknown }
    | undefined;
  if (!p || !Array.isArray(p.scale) || p.scale.length !== 2 || !p.scale.every((v) => typeof v === 'number')) return undefined;
  const geo: Pick<Preprocessing, 'resize' | 'size' | 'channels'> = {};
  if (p.resize === 'squash' || p.resize === 'crop') geo.resize = p.resize;
  if (Array.isArray(p.size) && p.size.length === 2 && p.size.every((v) => Number.isInteger(v) && v > 0)) geo.size = [p.size[0], p.size[1]];
  if (p.channels === 1 || p.channels === 3) geo.channels = p.channels;
  const n = p.normalize as { mean?: unknown; std?: unknown; name?: unknown } | null | undefined;
  if (n == null) return { scale: [p.scale[0], p.scale[1]], normalize: null, ...geo };
  if (!Array.isArray(n.mean) || !Array.isArray(n.std)) return undefined;
  const normalize: NonNullable<Preprocessing['normalize']> = { mean: n.mean.map(Number), std: n.std.map(Number) };
  if (n.name === 'imagenet') normalize.name = 'imagenet';
  return { scale: [p.scale[0], p.scale[1]], normalize, ...geo };
}

/** Same values in (scale, normalize); the geometry is checked by the model's input shape instead. */
export function samePreprocessing(a: Preprocessing, b: Preprocessing): boolean {
  if (!close(a.scale, b.scale)) return false;
  if (!a.normalize || !b.normalize) return !a.normalize && !b.normalize;
  return close(a.normalize.mean, b.normalize.mean) && close(a.normalize.std, b.normalize.std);
}

/**
 * The warning for fine-tuning a checkpoint whose recorded preprocessing differs from the data's, or null when they
 * agree or the checkpoint records none.
 */
export function preprocessingMismatch(modelDir: string, meta: unknown, data: Preprocessing | undefined): string | null {
  if (!data) return null;
  const rec = recordedPreprocessing(meta);
  if (!rec || samePreprocessing(rec, data)) return null;
  return (
    `preprocessing differs from the checkpoint's: ${modelDir} was trained on ${describePreprocessing(rec)}, ` +
    `the data gives it ${describePreprocessing(data)}; set data.images.scale / data.images.normalize to match ` +
    `(a pretrained network sees other numbers than it learned from otherwise)`
  );
}

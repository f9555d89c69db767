/**
 * Seeded image augmentation, fastai's `aug_transforms` subset (`data.images.augment`), and the crop position of
 * `resize: crop` (fastai's `Resize`). Pure functions of (seed, epoch, item index): a resumed epoch redraws the same
 * transforms without any saved state, and the same seed gives the same batches on every machine.
 *
 * Per training item (fastai/vision/augment.py, defaults of aug_transforms()):
 * - flip: horizontal, p 0.5                                   (Flip)
 * - rotate: angle ~ U(−max, max) degrees, p 0.75               (Rotate, max_rotate 10)
 * - zoom: s = 1/U(1, max), centre ~ U(0, 1)², p 0.75           (Zoom, max_zoom 1.1; min_zoom 1)
 * - lighting: brightness b ~ U(0.5(1−m), 0.5(1+m)), contrast k = exp(U(log(1−m), −log(1−m))), each p 0.75,
 *   v ← sigmoid(k · (logit(v) + logit(b)))                   (Brightness, Contrast, max_lighting 0.2)
 * The affine part is one matrix M = Flip · Rotate · Zoom mapping output coordinates in [−1, 1]² (x = column, y = row)
 * to input coordinates, sampled bilinearly with reflection padding and align_corners (fastai's grid_sample call).
 * fastai's Warp (perspective) is not part of the subset.
 */
import { seededRng } from './rng.js';

export interface AugmentSpec {
  flip: boolean;
  /** max degrees; 0 = off */
  rotate: number;
  /** max zoom (≥ 1); 1 = off */
  zoom: number;
  /** max_lighting in [0, 1); 0 = off */
  lighting: number;
}

/** fastai's aug_transforms() defaults: the meaning of `true`. */
export const AUGMENT_DEFAULTS = { flip: true, rotate: 10, zoom: 1.1, lighting: 0.2 } as const;
export const P_AFFINE = 0.75;
export const P_LIGHTING = 0.75;

export type AugmentOption =
  | boolean
  | { flip?: boolean; rotate?: boolean | number; zoom?: boolean | number; lighting?: boolean | number }
  | null
  | undefined;

/** The config value → a spec, or null when nothing is augmented. */
export function resolveAugment(o: AugmentOption): AugmentSpec | null {
  if (!o) return null;
  const d = AUGMENT_DEFAULTS;
  const src = o === true ? { flip: true, rotate: true, zoom: true, lighting: true } : o;
  const num = (v: boolean | number | undefined, def: number, off: number): number =>
    v === true ? def : v === false || v === undefined ? off : v;
  const spec: AugmentSpec = {
    flip: src.flip === true,
    rotate: num(src.rotate, d.rotate, 0),
    zoom: num(src.zoom, d.zoom, 1),
    lighting: num(src.lighting, d.lighting, 0),
  };
  return spec.flip || spec.rotate > 0 || spec.zoom > 1 || spec.lighting > 0 ? spec : null;
}

/** The random choices for one item in one epoch. */
export interface ItemDraw {
  /** crop position in [0, 1) (fastai's pcts) */
  cropX: number;
  cropY: number;
  /** 2×3 affine matrix, row-major [a, b, c, d, e, f]: x_in = a·x + b·y + c, y_in = d·x + e·y + f */
  matrix: number[];
  identity: boolean;
  /** logit(brightness) added, contrast multiplied (0 and 1 when lighting is off for the item) */
  brightness: number;
  contrast: number;
  lighting: boolean;
}

const logit = (x: number): number => {
  const v = Math.min(Math.max(x, 1e-7), 1 - 1e-7);
  return -Math.log(1 / v - 1);
};

/**
 * The draws of item `row` in `epoch`, from an RNG keyed by (seed, epoch, row). Always 13 numbers in a fixed order
 * (crop x, crop y, flip, rotate p, angle, zoom p, zoom, zoom centre x, y, brightness p, b, contrast p, k), so which
 * transforms are on never shifts the others' draws.
 */
export function drawItem(seed: number, epoch: number, row: number, spec: AugmentSpec | null): ItemDraw {
  const rng = seededRng(seed, `augment:${epoch}:${row}`);
  const u = Array.from({ length: 13 }, () => rng());
  const s = spec ?? { flip: false, rotate: 0, zoom: 1, lighting: 0 };
  const flip = s.flip && u[2]! < 0.5 ? -1 : 1;
  const deg = s.rotate > 0 && u[3]! < P_AFFINE ? -s.rotate + 2 * s.rotate * u[4]! : 0;
  const zoomOn = s.zoom > 1 && u[5]! < P_AFFINE;
  const z = zoomOn ? 1 / (1 + (s.zoom - 1) * u[6]!) : 1;
  const colC = zoomOn ? (1 - z) * (2 * u[7]! - 1) : 0;
  const rowC = zoomOn ? (1 - z) * (2 * u[8]! - 1) : 0;
  const t = (deg * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  // Flip [[f,0,0],[0,1,0]] · Rotate [[cos,sin,0],[−sin,cos,0]] · Zoom [[z,0,cx],[0,z,cy]]
  const r = [cos * z, sin * z, cos * colC + sin * rowC, -sin * z, cos * z, -sin * colC + cos * rowC];
  const matrix = [flip * r[0]!, flip * r[1]!, flip * r[2]!, r[3]!, r[4]!, r[5]!];
  const identity = flip === 1 && deg === 0 && !zoomOn;
  const m = s.lighting;
  const bOn = m > 0 && u[9]! < P_LIGHTING;
  const cOn = m > 0 && u[11]! < P_LIGHTING;
  const brightness = bOn ? logit(0.5 * (1 - m) + m * u[10]!) : 0;
  const contrast = cOn ? Math.exp(Math.log(1 - m) + -2 * Math.log(1 - m) * u[12]!) : 1;
  return { cropX: u[0]!, cropY: u[1]!, matrix, identity, brightness, contrast, lighting: bOn || cOn };
}

/**
 * The h × w window cut from a stored sh × sw image (`resize: crop`): top-left = floor((stored − window) · pct), as
 * fastai's Resize/RandomCrop (`pcts` random on the training split, 0.5 = the centre on valid and when `draw` is null).
 * Pure; `resize: squash` stores the image at the window's size, so the box is the whole image.
 */
export function cropBox(
  sh: number,
  sw: number,
  h: number,
  w: number,
  draw: Pick<ItemDraw, 'cropX' | 'cropY'> | null,
): { top: number; left: number; height: number; width: number } {
  if (sh < h || sw < w) throw new RangeError(`a ${h}×${w} window does not fit in a stored ${sh}×${sw} image`);
  const px = draw ? draw.cropX : 0.5;
  const py = draw ? draw.cropY : 0.5;
  return { top: Math.floor(py * (sh - h)), left: Math.floor(px * (sw - w)), height: h, width: w };
}

/** PyTorch's reflect_coordinates for align_corners (reflect about pixel 0 and size − 1), then clipped. */
function reflect(p: number, size: number): number {
  if (size <= 1) return 0;
  const span = size - 1;
  const a = Math.abs(p);
  const flips = Math.floor(a / span);
  const extra = a - flips * span;
  const r = flips % 2 === 0 ? extra : span - extra;
  return Math.min(Math.max(r, 0), span);
}

/**
 * The h×w window at (oy, ox) of a stored uint8 HWC image (sh × sw × c) → values v in [0, 1] written to `out` at
 * `offset`, through `matrix` (identity: a plain copy).
 */
export function sampleWindow(
  src: Uint8Array,
  sw: number,
  c: number,
  oy: number,
  ox: number,
  h: number,
  w: number,
  d: Pick<ItemDraw, 'matrix' | 'identity'>,
  out: Float32Array,
  offset: number,
): void {
  if (d.identity) {
    for (let y = 0; y < h; y++) {
      const s = ((oy + y) * sw + ox) * c;
      const o = offset + y * w * c;
      for (let k = 0; k < w * c; k++) out[o + k] = src[s + k]! / 255;
    }
    return;
  }
  const [a, b, cc, dd, e, f] = d.matrix as [number, number, number, number, number, number];
  for (let y = 0; y < h; y++) {
    const gy = h > 1 ? -1 + (2 * y) / (h - 1) : 0;
    for (let x = 0; x < w; x++) {
      const gx = w > 1 ? -1 + (2 * x) / (w - 1) : 0;
      const px = reflect(((a * gx + b * gy + cc + 1) / 2) * (w - 1), w);
      const py = reflect(((dd * gx + e * gy + f + 1) / 2) * (h - 1), h);
      const x0 = Math.floor(px);
      const y0 = Math.floor(py);
      const x1 = Math.min(x0 + 1, w - 1);
      const y1 = Math.min(y0 + 1, h - 1);
      const wx = px - x0;
      const wy = py - y0;
      const p00 = ((oy + y0) * sw + ox + x0) * c;
      const p01 = ((oy + y0) * sw + ox + x1) * c;
      const p10 = ((oy + y1) * sw + ox + x0) * c;
      const p11 = ((oy + y1) * sw + ox + x1) * c;
      const o = offset + (y * w + x) * c;
      for (let k = 0; k < c; k++) {
        const top = src[p00 + k]! + (src[p01 + k]! - src[p00 + k]!) * wx;
        const bottom = src[p10 + k]! + (src[p11 + k]! - src[p10 + k]!) * wx;
        out[o + k] = (top + (bottom - top) * wy) / 255;
      }
    }
  }
}

/** fastai's lighting on values in [0, 1]: v ← sigmoid(contrast · (logit(v) + brightness)). */
export function applyLighting(out: Float32Array, offset: number, n: number, d: Pick<ItemDraw, 'brightness' | 'contrast'>): void {
  for (let i = offset; i < offset + n; i++) {
    const l = d.contrast * (logit(out[i]!) + d.brightness);
    out[i] = 1 / (1 + Math.exp(-l));
  }
}

/**
 * Image folders (fastai `ImageDataLoaders.from_folder`):
 * - `path/<class>/*.png|jpg|jpeg` → split by valid_pct with fastai's RandomSplitter, or
 * - `path/train/<class>/…` and `path/valid/<class>/…` → those splits (fastai's GrandparentSplitter names).
 * Classes = sub-folders holding at least one image file, sorted by name (fastai's CategoryMap); files are sorted by
 * name inside a class, so the order is the same on every machine. Hidden entries (".x") are ignored. A file with an
 * image extension that cannot be decoded, or whose header claims more than `max_pixels` pixels, is skipped and
 * reported in `Dataset.skipped`, never a crash.
 *
 * Memory: each image is decoded once, resized to its stored size and kept as uint8 (1 byte per value, not a float32
 * copy of the dataset), up to `cache_mb`; images beyond the budget are decoded again from their file when a batch
 * needs them. Rows become float32 per batch: crop window, augmentation (training split only), then
 * scale/normalize (src/data/preprocess.ts, src/data/augment.ts).
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { FastlrError } from '../errors.js';
import { applyLighting, cropBox, drawItem, resolveAugment, sampleWindow, type AugmentSpec } from './augment.js';
import { decodeImage, imageHeaderSize, toBytes } from './decode.js';
import { channelAffine, resolvePreprocessing } from './preprocess.js';
import { randomSplit } from './split.js';
import type { Dataset, ImagesOptions, SkippedItem, Split } from './types.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

interface Item {
  file: string;
  label: number;
}

async function listDir(dir: string): Promise<{ dirs: string[]; files: string[] }> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FastlrError(
      code === 'ENOENT' ? `image folder not found: ${dir}` : `cannot read image folder ${dir}: ${(e as Error).message}`,
    );
  }
  const dirs: string[] = [];
  const files: string[] = [];
  const isImage = (name: string): boolean => IMAGE_EXT.has(path.extname(name).toLowerCase());
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) dirs.push(e.name);
    else if (e.isFile() && isImage(e.name)) files.push(e.name);
    else if (e.isSymbolicLink()) {
      // follow links (datasets are often assembled from them); a dangling image link is kept so that it is
      // named and skipped like any unreadable image
      const target = await stat(path.join(dir, e.name)).catch(() => null);
      if (target?.isDirectory()) dirs.push(e.name);
      else if (isImage(e.name)) files.push(e.name);
    }
  }
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return { dirs: dirs.sort(byName), files: files.sort(byName) };
}

/** Class folder name → sorted image files, for classes that hold at least one image file. */
async function scanClasses(root: string): Promise<Map<string, string[]>> {
  const { dirs } = await listDir(root);
  const classes = new Map<string, string[]>();
  for (const d of dirs) {
    const { files } = await listDir(path.join(root, d));
    if (files.length > 0) classes.set(d, files.map((f) => path.join(root, d, f)));
  }
  return classes;
}

function itemsOf(classes: Map<string, string[]>, ids: Map<string, number>, where: string): Item[] {
  const items: Item[] = [];
  for (const [name, files] of classes) {
    const label = ids.get(name);
    if (label === undefined) {
      throw new FastlrError(`${path.join(where, name)}: class "${name}" has no images in the training folder`);
    }
    for (const file of files) items.push({ file, label });
  }
  return items;
}

/** A decoded image kept as uint8 at its stored size (squash: the target size; crop: covering it, aspect kept). */
interface Decoded {
  file: string;
  label: number;
  sh: number;
  sw: number;
  /** null when over the cache budget: decoded again from `file` per batch */
  pixels: Uint8Array | null;
}

export const DEFAULT_MAX_PIXELS = 40_000_000;
export const DEFAULT_CACHE_MB = 1024;

/** Stored size of an image of h × w for the target size and resize method. */
export function storedSize(h: number, w: number, target: readonly [number, number], resize: 'squash' | 'crop'): [number, number] {
  const [th, tw] = target;
  if (resize === 'squash') return [th, tw];
  // fastai's Resize crop: the largest box of the target's aspect inside the image, resized to the target; here the
  // image is resized so that box becomes th × tw, and the th × tw window is cut from it at batch time
  const s = Math.max(th / h, tw / w);
  return [Math.max(th, Math.round(h * s)), Math.max(tw, Math.round(w * s))];
}

interface DecodeContext {
  size: readonly [number, number];
  channels: 1 | 3;
  resize: 'squash' | 'crop';
  maxPixels: number;
  /** bytes still allowed in the cache */
  budget: { left: number };
  skipped: SkippedItem[];
  progress: { done: number; total: number; on?: (done: number, total: number) => void };
}

function tooLarge(dims: { width: number; height: number }, maxPixels: number): string | null {
  const px = dims.width * dims.height;
  if (px <= maxPixels) return null;
  const f = (v: number): string => v.toLocaleString('en-US');
  return `the header claims ${f(dims.width)}×${f(dims.height)} = ${f(px)} pixels, more than data.images.max_pixels (${f(maxPixels)}); not decoded`;
}

function decodeTo(bytes: Uint8Array, c: Pick<DecodeContext, 'size' | 'channels' | 'resize' | 'maxPixels'>): { sh: number; sw: number; pixels: Uint8Array } {
  const dims = imageHeaderSize(bytes);
  if (dims) {
    const why = tooLarge(dims, c.maxPixels);
    if (why) throw new Error(why);
  }
  const img = decodeImage(bytes);
  // the header of a JPEG can be hidden behind odd markers: check the decoded size too
  const why = tooLarge(img, c.maxPixels);
  if (why) throw new Error(why);
  const [sh, sw] = storedSize(img.height, img.width, c.size, c.resize);
  return { sh, sw, pixels: toBytes(img, sh, sw, c.channels) };
}

/** Decode `items`; undecodable files go to `skipped`. */
async function readItems(items: Item[], c: DecodeContext): Promise<Decoded[]> {
  const out: Decoded[] = [];
  for (const it of items) {
    try {
      const d = decodeTo(await readFile(it.file), c);
      const keep = d.pixels.byteLength <= c.budget.left;
      if (keep) c.budget.left -= d.pixels.byteLength;
      out.push({ file: it.file, label: it.label, sh: d.sh, sw: d.sw, pixels: keep ? d.pixels : null });
    } catch (e) {
      c.skipped.push({ path: it.file, reason: (e as Error).message || String(e) });
    }
    c.progress.done++;
    c.progress.on?.(c.progress.done, c.progress.total);
  }
  return out;
}

interface SplitContext {
  size: readonly [number, number];
  channels: 1 | 3;
  resize: 'squash' | 'crop';
  maxPixels: number;
  seed: number;
  mul: Float32Array;
  add: Float32Array;
}

const IDENTITY = { matrix: [1, 0, 0, 0, 1, 0], identity: true };

/**
 * A split of decoded images: rows are made per batch from the uint8 pixels. `augment` (training split only) and
 * crop positions are drawn per (seed, epoch, row); the validation split is always the same (centre crop, no
 * augmentation).
 */
function imageSplit(items: Decoded[], c: SplitContext, train: boolean, spec: AugmentSpec | null): Split {
  const [h, w] = c.size;
  const ch = c.channels;
  const rowSize = h * w * ch;
  const y = Float32Array.from(items, (it) => it.label);
  const pixelsOf = (it: Decoded): Uint8Array => {
    if (it.pixels) return it.pixels;
    let d;
    try {
      d = decodeTo(readFileSync(it.file), c);
    } catch (e) {
      throw new FastlrError(`${it.file}: cannot read the image again (changed since loading?): ${(e as Error).message}`);
    }
    if (d.sh !== it.sh || d.sw !== it.sw) throw new FastlrError(`${it.file}: the image changed size since loading`);
    return d.pixels;
  };
  const fillRow = (row: number, out: Float32Array, offset: number, epoch: number, random: boolean): void => {
    const it = items[row];
    if (!it) throw new RangeError(`row ${row} is out of range (${items.length} images)`);
    const px = pixelsOf(it);
    const draw = random && (spec || c.resize === 'crop') ? drawItem(c.seed, epoch, row, spec) : null;
    const box = cropBox(it.sh, it.sw, h, w, draw);
    const aug = draw && spec ? draw : null;
    sampleWindow(px, it.sw, ch, box.top, box.left, h, w, aug ?? IDENTITY, out, offset);
    if (aug?.lighting) applyLighting(out, offset, rowSize, aug);
    const { mul, add } = c;
    for (let i = 0; i < rowSize; i += ch) {
      for (let k = 0; k < ch; k++) out[offset + i + k] = out[offset + i + k]! * mul[k]! + add[k]!;
    }
  };
  let x: Float32Array | undefined;
  return {
    y,
    n: items.length,
    get x(): Float32Array {
      if (!x) {
        x = new Float32Array(items.length * rowSize);
        for (let r = 0; r < items.length; r++) fillRow(r, x, r * rowSize, 0, false);
      }
      return x;
    },
    rows: { fill: (row, out, offset, epoch) => fillRow(row, out, offset, epoch, train) },
  };
}

export interface ImagesLoadOptions {
  images: ImagesOptions;
  validPct: number;
  seed: number;
  cwd: string;
  /** called after each file is decoded (a progress display) */
  onProgress?: (done: number, total: number) => void;
}

export async function loadImages(o: ImagesLoadOptions): Promise<Dataset> {
  const root = path.resolve(o.cwd, o.images.path);
  const size = o.images.size;
  if (size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new FastlrError(`data.images.size must be [height, width] of positive integers, got [${size.join(', ')}]`);
  }
  const hw: [number, number] = [size[0]!, size[1]!];
  const channels = o.images.channels;
  if (channels !== 1 && channels !== 3) {
    throw new FastlrError(`data.images.channels must be 1 or 3, got ${channels}`);
  }
  const resize = o.images.resize ?? 'squash';
  if (resize !== 'squash' && resize !== 'crop') throw new FastlrError(`data.images.resize must be squash or crop, got ${String(resize)}`);
  const maxPixels = o.images.max_pixels ?? DEFAULT_MAX_PIXELS;
  const cacheMb = o.images.cache_mb ?? DEFAULT_CACHE_MB;
  const preprocessing = resolvePreprocessing(o.images, channels, { resize, size: hw, channels });
  const spec = resolveAugment(o.images.augment);
  try {
    if (!(await stat(root)).isDirectory()) throw new FastlrError(`data.images.path is not a folder: ${root}`);
  } catch (e) {
    if (e instanceof FastlrError) throw e;
    throw new FastlrError(`image folder not found: ${root}`);
  }
  const { dirs } = await listDir(root);
  const layout = dirs.includes('train') && dirs.includes('valid') ? 'train-valid' : 'classes';
  const skipped: SkippedItem[] = [];
  const ctx: DecodeContext = {
    size: hw,
    channels,
    resize,
    maxPixels,
    budget: { left: cacheMb * 1024 * 1024 },
    skipped,
    progress: { done: 0, total: 0, ...(o.onProgress ? { on: o.onProgress } : {}) },
  };
  const { mul, add } = channelAffine(preprocessing, channels);
  const sctx: SplitContext = { size: hw, channels, resize, maxPixels, seed: o.seed, mul, add };
  let classNames: string[];
  let train: Split;
  let valid: Split;

  if (layout === 'train-valid') {
    const trainClasses = await scanClasses(path.join(root, 'train'));
    const validClasses = await scanClasses(path.join(root, 'valid'));
    classNames = [...trainClasses.keys()];
    if (classNames.length === 0) {
      throw new FastlrError(`no images found under ${path.join(root, 'train')} (expected train/<class>/*.png|jpg)`);
    }
    const ids = new Map(classNames.map((c, i) => [c, i] as const));
    const trainItems = itemsOf(trainClasses, ids, path.join(root, 'train'));
    const validItems = itemsOf(validClasses, ids, path.join(root, 'valid'));
    ctx.progress.total = trainItems.length + validItems.length;
    train = imageSplit(await readItems(trainItems, ctx), sctx, true, spec);
    valid = imageSplit(await readItems(validItems, ctx), sctx, false, null);
  } else {
    const classes = await scanClasses(root);
    classNames = [...classes.keys()];
    if (classNames.length === 0) {
      throw new FastlrError(`no images found under ${root} (expected one sub-folder per class holding .png/.jpg files)`);
    }
    const ids = new Map(classNames.map((c, i) => [c, i] as const));
    const items = itemsOf(classes, ids, root);
    ctx.progress.total = items.length;
    const all = await readItems(items, ctx);
    const idx = randomSplit(all.length, o.validPct, o.seed);
    train = imageSplit(Array.from(idx.train, (r) => all[r]!), sctx, true, spec);
    valid = imageSplit(Array.from(idx.valid, (r) => all[r]!), sctx, false, null);
  }
  if (train.n === 0) {
    const reasons = skipped.slice(0, 3).map((s) => `${s.path}: ${s.reason}`).join('; ');
    throw new FastlrError(`no readable training images under ${root}${reasons ? ` (${reasons})` : ''}`);
  }
  return {
    train,
    valid,
    inputShape: [hw[0], hw[1], channels],
    task: 'classification',
    nClasses: classNames.length,
    targetDim: 1,
    classNames,
    source: `images:${root}`,
    skipped,
    preprocessing,
  };
}

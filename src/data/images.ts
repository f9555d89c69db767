/**
 * Image folders (fastai `ImageDataLoaders.from_folder`):
 * - `path/<class>/*.png|jpg|jpeg` → split by valid_pct with fastai's RandomSplitter, or
 * - `path/train/<class>/…` and `path/valid/<class>/…` → those splits (fastai's GrandparentSplitter names).
 * Classes = sub-folders holding at least one image file, sorted by name (fastai's CategoryMap); files are sorted by
 * name inside a class, so the order is the same on every machine. Hidden entries (".x") are ignored. A file with an
 * image extension that cannot be decoded is skipped and reported in `Dataset.skipped`, never a crash.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { FastlrError } from '../errors.js';
import { decodeImage, toPixels } from './decode.js';
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

/** Decode `items` into one Split; undecodable files go to `skipped`. */
async function readItems(
  items: Item[],
  size: readonly [number, number],
  channels: 1 | 3,
  skipped: SkippedItem[],
): Promise<Split> {
  const rowSize = size[0] * size[1] * channels;
  const x = new Float32Array(items.length * rowSize);
  const y = new Float32Array(items.length);
  let n = 0;
  for (const it of items) {
    try {
      const img = decodeImage(await readFile(it.file));
      toPixels(img, size, channels, x, n * rowSize);
      y[n] = it.label;
      n++;
    } catch (e) {
      skipped.push({ path: it.file, reason: (e as Error).message || String(e) });
    }
  }
  return { x: n === items.length ? x : x.slice(0, n * rowSize), y: n === items.length ? y : y.slice(0, n), n };
}

export interface ImagesLoadOptions {
  images: ImagesOptions;
  validPct: number;
  seed: number;
  cwd: string;
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
  try {
    if (!(await stat(root)).isDirectory()) throw new FastlrError(`data.images.path is not a folder: ${root}`);
  } catch (e) {
    if (e instanceof FastlrError) throw e;
    throw new FastlrError(`image folder not found: ${root}`);
  }
  const { dirs } = await listDir(root);
  const layout = dirs.includes('train') && dirs.includes('valid') ? 'train-valid' : 'classes';
  const skipped: SkippedItem[] = [];
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
    train = await readItems(itemsOf(trainClasses, ids, path.join(root, 'train')), hw, channels, skipped);
    valid = await readItems(itemsOf(validClasses, ids, path.join(root, 'valid')), hw, channels, skipped);
  } else {
    const classes = await scanClasses(root);
    classNames = [...classes.keys()];
    if (classNames.length === 0) {
      throw new FastlrError(`no images found under ${root} (expected one sub-folder per class holding .png/.jpg files)`);
    }
    const ids = new Map(classNames.map((c, i) => [c, i] as const));
    const all = await readItems(itemsOf(classes, ids, root), hw, channels, skipped);
    const rowSize = hw[0] * hw[1] * channels;
    const idx = randomSplit(all.n, o.validPct, o.seed);
    const pick = (rows: Int32Array): Split => {
      const x = new Float32Array(rows.length * rowSize);
      const y = new Float32Array(rows.length);
      rows.forEach((r, i) => {
        x.set(all.x.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize);
        y[i] = all.y[r]!;
      });
      return { x, y, n: rows.length };
    };
    train = pick(idx.train);
    valid = pick(idx.valid);
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
  };
}

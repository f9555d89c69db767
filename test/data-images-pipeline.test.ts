/**
 * Images for pretrained networks: scale/normalize, resize crop, seeded augmentation on the training split only
 * (same seed → same batches, resume exact), uint8 storage with a cache budget, the max_pixels header check.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import pngjs from 'pngjs';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Batcher, loadDataset, type DataPlan, type Dataset } from '../src/data/index.js';
import { cropBox, drawItem, resolveAugment, sampleWindow } from '../src/data/augment.js';
import { imageHeaderSize } from '../src/data/decode.js';
import { IMAGENET_STATS, preprocessingMismatch, recordedPreprocessing, resolvePreprocessing } from '../src/data/preprocess.js';
import { resolvePlan } from '../src/plan/index.js';
import { openSession, type Session } from '../src/phases/session.js';
import { fitOneCycle } from '../src/phases/fit.js';
import { StopSignal } from '../src/engine/events.js';

const { PNG } = pngjs;

function pngBytes(w: number, h: number, px: (x: number, y: number) => [number, number, number]): Buffer {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      const [r, g, b] = px(x, y);
      png.data[o] = r;
      png.data[o + 1] = g;
      png.data[o + 2] = b;
      png.data[o + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

function write(file: string, bytes: Uint8Array): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'fastlr-imgp-'));
}

/** A real PNG of exactly 69 bytes whose IHDR claims 30000 × 30000 grey pixels (its IDAT holds a few zero bytes). */
function hostilePng(): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer): number => {
    let c = 0xffffffff;
    for (const v of b) c = crcTable[(c ^ v) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30000, 0);
  ihdr.writeUInt32BE(30000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(100), { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

type Images = NonNullable<DataPlan['data']['images']>;
const plan = (images: Images, validPct = 0.25, seed = 42): DataPlan => ({
  seed,
  loss: 'cross_entropy',
  data: { source: 'images', valid_pct: validPct, images },
});

/** A train/valid folder of 8×8 RGB gradients (not symmetric, so flips and rotations show). */
function gradientFolder(n = 6): string {
  const root = tmp();
  for (const split of ['train', 'valid']) {
    for (const cls of ['a', 'b']) {
      for (let i = 0; i < n; i++) {
        const k = cls === 'a' ? 1 : 2;
        write(path.join(root, split, cls, `${i}.png`), pngBytes(8, 8, (x, y) => [(x * 30 + i * 7) % 256, (y * 25 * k) % 256, (x * y * 3 + 40) % 256]));
      }
    }
  }
  return root;
}

function batchValues(ds: Dataset, split: 'train' | 'valid', epoch: number): Float32Array {
  const s = ds[split];
  const b = new Batcher(s, ds, s.n);
  const order = Int32Array.from({ length: s.n }, (_, i) => i);
  const { x, y } = b.batch(order, 0, epoch);
  const v = Float32Array.from(x.dataSync() as Float32Array);
  x.dispose();
  y.dispose();
  return v;
}

const same = (a: Float32Array, b: Float32Array): boolean => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('data.images.scale and normalize', () => {
  it('bytes map through v = p/255, s = lo + (hi − lo)·v, x = (s − mean)/std', async () => {
    const root = tmp();
    const px = (x: number): [number, number, number] => (x === 0 ? [0, 128, 255] : [255, 64, 0]);
    for (const c of ['a', 'b']) write(path.join(root, c, '1.png'), pngBytes(2, 1, px));
    const load = (extra: Partial<Images>) => loadDataset(plan({ path: root, size: [1, 2], channels: 3, ...extra }, 0.5));
    const plain = await load({});
    expect(Array.from(plain.train.x)).toEqual([0, 128, 255, 255, 64, 0].map((p) => Math.fround(p / 255)));
    const keras = await load({ scale: [-1, 1] });
    expect(Array.from(keras.train.x.subarray(0, 3))).toEqual([-1, Math.fround(-1 + (2 * 128) / 255), 1].map((v) => expect.closeTo(v, 6)));
    const inet = await load({ normalize: 'imagenet' });
    const { mean, std } = IMAGENET_STATS;
    [0, 128, 255, 255, 64, 0].forEach((p, i) => expect(inet.train.x[i]).toBeCloseTo((p / 255 - mean[i % 3]!) / std[i % 3]!, 5));
    expect(inet.preprocessing).toEqual({ scale: [0, 1], normalize: { name: 'imagenet', mean: [...mean], std: [...std] }, resize: 'squash', size: [1, 2], channels: 3 });
    const both = await load({ scale: [-1, 1], normalize: { mean: [0.5], std: [2] } });
    [0, 128, 255].forEach((p, i) => expect(both.train.x[i]).toBeCloseTo((-1 + (2 * p) / 255 - 0.5) / 2, 5));
    await expect(load({ normalize: { mean: [0.1, 0.2], std: [1, 1] } })).rejects.toThrow(/normalize\.mean has 2 values for 3 channels/);
    await expect(loadDataset(plan({ path: root, size: [1, 2], channels: 1, normalize: 'imagenet' }, 0.5))).rejects.toThrow(/use channels: 3/);
  });

  it('a checkpoint recorded with another preprocessing gets a warning naming both; the same one none', () => {
    const data = resolvePreprocessing({ scale: [0, 1] }, 3);
    const meta = { fastlr: { preprocessing: { scale: [-1, 1], normalize: null } } };
    expect(preprocessingMismatch('models/mnv1', meta, data)).toMatch(/models\/mnv1 was trained on scale \[-1, 1\], the data gives it scale \[0, 1\]/);
    expect(preprocessingMismatch('m', { fastlr: { preprocessing: { scale: [0, 1], normalize: null } } }, data)).toBeNull();
    expect(preprocessingMismatch('m', undefined, data)).toBeNull();
    const inet = resolvePreprocessing({ normalize: 'imagenet' }, 3);
    expect(preprocessingMismatch('m', { fastlr: { preprocessing: data } }, inet)).toMatch(/normalize imagenet/);
    // the geometry is recorded and read back; only scale/normalize decide a mismatch
    const rec = resolvePreprocessing({ scale: [-1, 1] }, 3, { resize: 'crop', size: [224, 224], channels: 3 });
    expect(rec).toEqual({ scale: [-1, 1], normalize: null, resize: 'crop', size: [224, 224], channels: 3 });
    expect(recordedPreprocessing(JSON.parse(JSON.stringify({ fastlr: { preprocessing: rec } })))).toEqual(rec);
    expect(recordedPreprocessing({ fastlr: { preprocessing: { ...rec, resize: 'stretch', size: [0, 2], channels: 2 } } })).toEqual({ scale: [-1, 1], normalize: null });
    expect(preprocessingMismatch('m', { fastlr: { preprocessing: { ...rec, size: [28, 28] } } }, rec)).toBeNull();
  });
});

describe('data.images.resize and augment', () => {
  it('crop: a centre window on valid, a seeded random window on train; squash resizes the whole image', async () => {
    const root = tmp();
    // 8 wide × 4 high; column x has value 30x: the window position is visible in the first value of a row
    const wide = pngBytes(8, 4, (x) => [x * 30, x * 30, x * 30]);
    for (const s of ['train', 'valid']) for (const c of ['a', 'b']) for (let i = 0; i < 8; i++) write(path.join(root, s, c, `${i}.png`), wide);
    const ds = await loadDataset(plan({ path: root, size: [4, 4], channels: 1, resize: 'crop' }));
    const valid = batchValues(ds, 'valid', 0);
    for (let r = 0; r < ds.valid.n; r++) expect(Array.from(valid.subarray(r * 16, r * 16 + 4)).map((v) => Math.round(v * 255))).toEqual([60, 90, 120, 150]);
    const t0 = batchValues(ds, 'train', 0);
    const starts = new Set<number>();
    for (let r = 0; r < ds.train.n; r++) {
      const first = Math.round(t0[r * 16]! * 255) / 30;
      starts.add(first);
      expect(Array.from(t0.subarray(r * 16, r * 16 + 4)).map((v) => Math.round(v * 255))).toEqual([0, 1, 2, 3].map((k) => (first + k) * 30));
      expect(first).toBe(Math.floor(drawItem(42, 0, r, null).cropX * 4));
    }
    expect(starts.size).toBeGreaterThan(1);
    expect(same(t0, batchValues(ds, 'train', 0))).toBe(true);
    const squash = await loadDataset(plan({ path: root, size: [4, 4], channels: 1 }));
    expect(Array.from(squash.valid.x.subarray(0, 4)).map((v) => Math.round(v * 255))).toEqual([15, 75, 135, 195]);
  });

  it("cropBox: fastai's floor((stored − window) · pct), centre without a draw, pure in (seed, epoch, row)", () => {
    expect(cropBox(4, 8, 4, 4, null)).toEqual({ top: 0, left: 2, height: 4, width: 4 });
    expect(cropBox(300, 224, 224, 224, null)).toEqual({ top: 38, left: 0, height: 224, width: 224 });
    expect(cropBox(300, 400, 224, 224, { cropX: 0.999, cropY: 0 })).toEqual({ top: 0, left: 175, height: 224, width: 224 });
    expect(cropBox(224, 224, 224, 224, { cropX: 0.7, cropY: 0.3 })).toEqual({ top: 0, left: 0, height: 224, width: 224 });
    expect(() => cropBox(100, 300, 224, 224, null)).toThrow(RangeError);
    // every box lies inside the image, the same draw gives the same box, other rows/epochs spread over the range
    const lefts = new Set<number>();
    for (let r = 0; r < 100; r++) {
      const d = drawItem(7, 2, r, null);
      const b = cropBox(256, 341, 224, 224, d);
      expect(b).toEqual(cropBox(256, 341, 224, 224, drawItem(7, 2, r, null)));
      expect(b.top >= 0 && b.top <= 32 && b.left >= 0 && b.left <= 117).toBe(true);
      lefts.add(b.left);
    }
    expect(lefts.size).toBeGreaterThan(50);
    expect(drawItem(7, 3, 0, null).cropX).not.toBe(drawItem(7, 2, 0, null).cropX);
  });

  it('augment: same seed → identical batches, another epoch or seed differs, the valid split is untouched', async () => {
    const root = gradientFolder();
    const images: Images = { path: root, size: [8, 8], channels: 3, augment: true };
    const a = await loadDataset(plan(images));
    const b = await loadDataset(plan(images));
    const plain = await loadDataset(plan({ ...images, augment: false }));
    const other = await loadDataset(plan(images, 0.25, 43));
    const a0 = batchValues(a, 'train', 0);
    expect(same(a0, batchValues(b, 'train', 0))).toBe(true);
    expect(same(a0, batchValues(a, 'train', 1))).toBe(false);
    expect(same(a0, batchValues(other, 'train', 0))).toBe(false);
    expect(same(a0, batchValues(plain, 'train', 0))).toBe(false);
    // augmentation changed some items and not all (each transform has p < 1), within [0, 1]
    const p0 = batchValues(plain, 'train', 0);
    const row = 8 * 8 * 3;
    let changed = 0;
    for (let r = 0; r < a.train.n; r++) if (!same(a0.subarray(r * row, (r + 1) * row), p0.subarray(r * row, (r + 1) * row))) changed++;
    expect(changed).toBeGreaterThan(0);
    expect(a0.every((v) => v >= 0 && v <= 1)).toBe(true);
    // valid: the same at every epoch and the same as without augmentation
    expect(same(batchValues(a, 'valid', 0), batchValues(plain, 'valid', 0))).toBe(true);
    expect(same(batchValues(a, 'valid', 3), batchValues(plain, 'valid', 0))).toBe(true);
  });

  it("flip is an exact mirror; true means fastai's aug_transforms defaults", () => {
    // a 3×4 single-channel image, values 10·y + x
    const h = 3;
    const w = 4;
    const src = Uint8Array.from({ length: h * w }, (_, i) => 10 * Math.floor(i / w) + (i % w));
    const out = new Float32Array(h * w);
    sampleWindow(src, w, 1, 0, 0, h, w, { matrix: [-1, 0, 0, 0, 1, 0], identity: false }, out, 0);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) expect(out[y * w + x]! * 255).toBeCloseTo(10 * y + (w - 1 - x), 4);
    // only flip on: every draw either mirrors or leaves the item as it is
    const spec = resolveAugment({ flip: true })!;
    expect(spec).toEqual({ flip: true, rotate: 0, zoom: 1, lighting: 0 });
    const flips = Array.from({ length: 200 }, (_, r) => drawItem(1, 0, r, spec).matrix[0]);
    expect(new Set(flips)).toEqual(new Set([1, -1]));
    expect(flips.filter((f) => f === -1).length).toBeGreaterThan(70);
    expect(resolveAugment(true)).toEqual({ flip: true, rotate: 10, zoom: 1.1, lighting: 0.2 });
    expect(resolveAugment({ rotate: 5, zoom: true })).toEqual({ flip: false, rotate: 5, zoom: 1.1, lighting: 0 });
    expect(resolveAugment(false)).toBeNull();
  });

  it('cache_mb: 0 (decode again per batch) gives the same batches as pixels kept in memory', async () => {
    const root = gradientFolder(3);
    const images: Images = { path: root, size: [6, 6], channels: 3, augment: true, resize: 'crop' };
    const kept = await loadDataset(plan(images));
    const again = await loadDataset(plan({ ...images, cache_mb: 0 }));
    for (const e of [0, 2]) expect(same(batchValues(kept, 'train', e), batchValues(again, 'train', e))).toBe(true);
    expect(same(batchValues(kept, 'valid', 0), batchValues(again, 'valid', 0))).toBe(true);
  });
});

describe('hostile images', () => {
  it('a real 69-byte PNG claiming 30000×30000 is named and skipped before decoding; max_pixels is configurable', async () => {
    const bomb = hostilePng();
    expect(bomb.length).toBe(69);
    expect(imageHeaderSize(bomb)).toEqual({ width: 30000, height: 30000 });
    const root = tmp();
    const ok = pngBytes(4, 4, () => [10, 20, 30]);
    write(path.join(root, 'a', 'ok.png'), ok);
    write(path.join(root, 'a', 'bomb.png'), bomb);
    write(path.join(root, 'b', 'ok.png'), ok);
    write(path.join(root, 'b', 'ok2.png'), ok);
    const before = process.memoryUsage().rss;
    const ds = await loadDataset(plan({ path: root, size: [4, 4], channels: 3 }, 0.3));
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    expect(ds.train.n + ds.valid.n).toBe(3);
    expect(ds.skipped!.map((s) => path.basename(s.path))).toEqual(['bomb.png']);
    expect(ds.skipped![0]!.reason).toMatch(/30,000×30,000 = 900,000,000 pixels, more than data\.images\.max_pixels \(40,000,000\)/);
    // a JPEG's size comes from its SOF header
    const jpegSof = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x75, 0x30, 0x75, 0x30, 0x03]);
    expect(imageHeaderSize(jpegSof)).toEqual({ width: 30000, height: 30000 });
    // a limit below 4×4: every image is named and skipped, so nothing is left to train on (exit 2, with the reasons)
    await expect(loadDataset(plan({ path: root, size: [4, 4], channels: 3, max_pixels: 15 }, 0.3))).rejects.toThrow(
      /no readable training images .*4×4 = 16 pixels, more than data\.images\.max_pixels \(15\)/,
    );
    const loose = await loadDataset(plan({ path: root, size: [4, 4], channels: 3, max_pixels: 16 }, 0.3));
    expect(loose.skipped!.length).toBe(1);
  });
});

describe('engine: augmentation across --resume', () => {
  const open: Session[] = [];
  afterAll(() => open.forEach((s) => s.dispose()));
  let root = '';
  const yaml = (): string => `
seed: 5
backend: cpu
data:
  source: images
  batch_size: 4
  images: { path: ${JSON.stringify(root)}, size: [6, 6], channels: 3, resize: crop, augment: true, scale: [-1, 1] }
model:
  layers: [flatten, { dense: 2 }]
`;
  const session = async (): Promise<Session> => {
    const { plan: p } = resolvePlan(yaml(), 'aug-resume.yaml', { env: {} });
    const s = await openSession(p);
    open.push(s);
    return s;
  };
  const weights = (s: Session): Float32Array[] => s.learner.model.weights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));
  const c = { epochs: 3, lrMax: [1e-2], div: 25, divFinal: 1e5, pctStart: 0.25, moms: [0.95, 0.85, 0.95] as [number, number, number] };

  it('a fit stopped mid-epoch and resumed ends with bit-identical weights; the saved model records the preprocessing', async () => {
    root = gradientFolder(6);
    const whole = await session();
    expect(whole.learner.model.getUserDefinedMetadata()).toEqual({
      fastlr: { preprocessing: { scale: [-1, 1], normalize: null, resize: 'crop', size: [6, 6], channels: 3 } },
    });
    await fitOneCycle(whole.learner, c, {});
    for (const k of [4, 7]) {
      const cut = await session();
      const signal = new StopSignal();
      let n = 0;
      const first = await fitOneCycle(cut.learner, c, { signal, onEvent: (e) => e.type === 'batch' && ++n === k && signal.request() });
      expect(first.stop.reason).toBe('interrupted');
      const snap = cut.learner.snapshot();
      const again = await session();
      again.learner.restore({ ...snap, rng: first.position.epochRng });
      await fitOneCycle(again.learner, c, { resume: first.position });
      const a = weights(again);
      const w = weights(whole);
      expect(a.every((v, i) => same(v, w[i]!))).toBe(true);
    }
    // and augmentation is in the training at all: without it the weights differ
    const { plan: p } = resolvePlan(yaml().replace('augment: true', 'augment: false'), 'aug-resume.yaml', { env: {} });
    const plain = await openSession(p);
    open.push(plain);
    await fitOneCycle(plain.learner, c, {});
    expect(weights(plain).every((v, i) => same(v, weights(whole)[i]!))).toBe(false);
  });
});

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { describe, expect, it } from 'vitest';
import { FastlrError } from '../src/errors.js';
import { loadDataset, type DataPlan } from '../src/data/index.js';
import { resizeBilinear } from '../src/data/resize.js';

const { PNG } = pngjs;

type Pixel = (x: number, y: number) => [number, number, number];

function pngBytes(w: number, h: number, px: Pixel): Buffer {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = px(x, y);
      const o = (y * w + x) * 4;
      png.data[o] = r;
      png.data[o + 1] = g;
      png.data[o + 2] = b;
      png.data[o + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

function solid(r: number, g: number, b: number): Pixel {
  return () => [r, g, b];
}

function write(file: string, bytes: Uint8Array | string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

function plan(images: NonNullable<DataPlan['data']['images']>, validPct = 0.25): DataPlan {
  return { seed: 42, loss: 'cross_entropy', data: { source: 'images', valid_pct: validPct, images } };
}

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'fastlr-img-'));
}

describe('images', () => {
  it('class folders: sorted classes, valid_pct split, corrupt file skipped and counted, others ignored', async () => {
    const root = tmp();
    for (let i = 0; i < 5; i++) write(path.join(root, 'dog', `d${i}.png`), pngBytes(6, 4, solid(0, 0, 255)));
    for (let i = 0; i < 4; i++) write(path.join(root, 'cat', `c${i}.PNG`), pngBytes(3, 5, solid(255, 0, 51)));
    write(path.join(root, 'cat', 'broken.png'), Buffer.from('this is not a png at all'));
    write(path.join(root, 'cat', 'notes.txt'), 'ignored');
    write(path.join(root, 'cat', '.hidden.png'), 'ignored');
    mkdirSync(path.join(root, 'empty-class'));
    write(path.join(root, 'loose.png'), pngBytes(2, 2, solid(0, 0, 0)));

    const ds = await loadDataset(plan({ path: root, size: [4, 4], channels: 3 }));
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect(ds.nClasses).toBe(2);
    expect(ds.inputShape).toEqual([4, 4, 3]);
    expect(ds.train.n + ds.valid.n).toBe(9);
    expect(ds.valid.n).toBe(2); // floor(0.25 · 9)
    expect(ds.skipped).toHaveLength(1);
    expect(ds.skipped![0]!.path).toBe(path.join(root, 'cat', 'broken.png'));
    expect(ds.skipped![0]!.reason).toMatch(/not a PNG or JPEG/);
    const counts = [0, 0];
    for (const s of [ds.train, ds.valid]) {
      for (let i = 0; i < s.n; i++) {
        const label = s.y[i]!;
        counts[label]!++;
        const px = Array.from(s.x.subarray(i * 48, (i + 1) * 48));
        const want = label === 0 ? [1, 0, 0.2] : [0, 0, 1];
        for (let p = 0; p < 16; p++) expect(px.slice(p * 3, p * 3 + 3)).toEqual(want.map(Math.fround));
      }
    }
    expect(counts).toEqual([4, 5]);
    // the same split again, another with another seed
    const again = await loadDataset(plan({ path: root, size: [4, 4], channels: 3 }));
    expect([...again.valid.y]).toEqual([...ds.valid.y]);
  });

  it('a truncated PNG and a corrupt JPEG are skipped, not a crash', async () => {
    const root = tmp();
    const good = pngBytes(4, 4, solid(10, 20, 30));
    write(path.join(root, 'a', 'ok.png'), good);
    write(path.join(root, 'a', 'cut.png'), good.subarray(0, 40));
    write(path.join(root, 'b', 'ok.png'), good);
    const jp = jpeg.encode({ width: 4, height: 4, data: Buffer.alloc(64, 200) }, 90).data;
    write(path.join(root, 'b', 'bad.jpg'), Buffer.concat([jp.subarray(0, 30), Buffer.alloc(50, 7)]));
    const ds = await loadDataset(plan({ path: root, size: [2, 2], channels: 1 }, 0));
    expect(ds.train.n).toBe(2);
    expect(ds.skipped!.map((s) => path.basename(s.path)).sort()).toEqual(['bad.jpg', 'cut.png']);
    for (const s of ds.skipped!) expect(s.reason.length).toBeGreaterThan(0);
  });

  it('train/ and valid/ folders give the splits; channels 1 is luma; JPEG decodes', async () => {
    const root = tmp();
    write(path.join(root, 'train', 'x', '1.png'), pngBytes(8, 8, solid(255, 255, 255)));
    write(path.join(root, 'train', 'x', '2.png'), pngBytes(8, 8, solid(100, 150, 200)));
    const jp = jpeg.encode({ width: 8, height: 8, data: Buffer.alloc(8 * 8 * 4, 128) }, 100).data;
    write(path.join(root, 'train', 'y', '1.jpg'), jp);
    write(path.join(root, 'valid', 'y', 'v.png'), pngBytes(8, 8, solid(0, 0, 0)));
    const ds = await loadDataset(plan({ path: root, size: [2, 3], channels: 1 }, 0.5));
    expect(ds.classNames).toEqual(['x', 'y']);
    expect(ds.inputShape).toEqual([2, 3, 1]);
    expect(ds.train.n).toBe(3);
    expect(ds.valid.n).toBe(1);
    expect([...ds.train.y]).toEqual([0, 0, 1]);
    expect([...ds.valid.y]).toEqual([1]);
    expect(ds.train.x[0]).toBeCloseTo(1, 6);
    // decoded pixels are kept as bytes (as PIL's convert('L') / resize give fastai): the luma 140.75 rounds to 141
    expect(ds.train.x[6]).toBeCloseTo(Math.round(0.299 * 100 + 0.587 * 150 + 0.114 * 200) / 255, 6);
    expect(Math.abs(ds.train.x[12]! - 128 / 255)).toBeLessThan(3 / 255);
    expect([...ds.valid.x]).toEqual([0, 0, 0, 0, 0, 0]);

    write(path.join(root, 'valid', 'z', 'v.png'), pngBytes(8, 8, solid(0, 0, 0)));
    await expect(loadDataset(plan({ path: root, size: [2, 3], channels: 1 }))).rejects.toThrow(
      /class "z" has no images in the training folder/,
    );
  });

  it('resize is bilinear with half-pixel centres', async () => {
    // 4 → 2 samples at 0.5 and 2.5: the mean of each pair
    const src = new Float32Array([0, 10, 20, 30]);
    expect([...resizeBilinear(src, 1, 4, 1, 1, 2)]).toEqual([5, 25]);
    // 2 → 4 samples at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    expect([...resizeBilinear(new Float32Array([0, 100]), 1, 2, 1, 1, 4)]).toEqual([0, 25, 75, 100]);
    // 2-D, 3 channels: rows and columns both interpolated
    const img = new Float32Array([0, 0, 0, 40, 40, 40, 80, 80, 80, 120, 120, 120]); // 2×2×3
    const up = resizeBilinear(img, 2, 2, 3, 4, 4);
    expect(up[(1 * 4 + 1) * 3]).toBeCloseTo(0 + 0.25 * 40 + 0.25 * 80, 5);
    // through the loader: a horizontal gradient 0, 85, 170, 255 → 2 columns
    const root = tmp();
    const grad: Pixel = (x) => [x * 85, x * 85, x * 85];
    write(path.join(root, 'a', '1.png'), pngBytes(4, 2, grad));
    write(path.join(root, 'b', '1.png'), pngBytes(4, 2, grad));
    const ds = await loadDataset(plan({ path: root, size: [1, 2], channels: 3 }, 0));
    // resized values are stored as bytes (as PIL resizes for fastai), rounded half up: 42.5 → 43, 212.5 → 213
    expect(ds.train.x[0]).toBeCloseTo(43 / 255, 6);
    expect(ds.train.x[3]).toBeCloseTo(213 / 255, 6);
  });

  it('empty or missing folder → FastlrError', async () => {
    const root = tmp();
    await expect(loadDataset(plan({ path: root, size: [4, 4], channels: 3 }))).rejects.toThrow(/no images found/);
    mkdirSync(path.join(root, 'a'));
    write(path.join(root, 'a', 'x.txt'), 'x');
    await expect(loadDataset(plan({ path: root, size: [4, 4], channels: 3 }))).rejects.toBeInstanceOf(FastlrError);
    const missing = path.join(root, 'nope');
    await expect(loadDataset(plan({ path: missing, size: [4, 4], channels: 3 }))).rejects.toThrow(missing);
    // every image unreadable
    write(path.join(root, 'a', 'bad.png'), 'garbage');
    write(path.join(root, 'b', 'bad.png'), 'garbage');
    await expect(loadDataset(plan({ path: root, size: [4, 4], channels: 3 }))).rejects.toThrow(
      /no readable training images/,
    );
    await expect(loadDataset(plan({ path: root, size: [4, 4], channels: 2 }))).rejects.toThrow(/channels must be 1 or 3/);
  });
});

describe('images: more bad inputs, never a crash', () => {
  it('empty files, a header claiming a huge PNG, a cut JPEG, a folder named like an image, dangling and good links', async () => {
    const { symlinkSync } = await import('node:fs');
    const root = tmp();
    const good = pngBytes(4, 4, solid(10, 20, 30));
    write(path.join(root, 'a', 'ok.png'), good);
    write(path.join(root, 'a', 'empty.png'), Buffer.alloc(0));
    // a valid signature + IHDR chunk for 60000 × 60000 pixels, and nothing after it
    const huge = Buffer.from(good);
    huge.writeUInt32BE(60000, 16);
    huge.writeUInt32BE(60000, 20);
    write(path.join(root, 'a', 'huge.png'), huge.subarray(0, 33));
    write(path.join(root, 'b', 'ok.png'), good);
    write(path.join(root, 'b', 'cut.jpeg'), Buffer.from([0xff, 0xd8, 0xff]));
    mkdirSync(path.join(root, 'b', 'folder.png'));
    symlinkSync(path.join(root, 'b', 'ok.png'), path.join(root, 'b', 'link.png'));
    symlinkSync(path.join(root, 'nowhere.png'), path.join(root, 'b', 'dangling.png'));
    const ds = await loadDataset(plan({ path: root, size: [2, 2], channels: 3 }, 0));
    expect(ds.classNames).toEqual(['a', 'b']);
    expect(ds.train.n).toBe(3); // a/ok, b/link (followed), b/ok
    const skipped = ds.skipped!.map((s) => path.relative(root, s.path)).sort();
    expect(skipped).toEqual(['a/empty.png', 'a/huge.png', 'b/cut.jpeg', 'b/dangling.png']);
    for (const s of ds.skipped!) expect(s.reason.length).toBeGreaterThan(0);
  });
});

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FastlrError } from '../src/errors.js';
import { loadDataset, type DataPlan } from '../src/data/index.js';
import { loadMnistAll } from '../src/data/mnist.js';
import { DEFAULT_VALID_PER_CLASS, EXPORT_MANIFEST, runExportDigits, selectDigits } from '../src/commands/export-digits.js';

const PIX = 28 * 28;

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'fastlr-export-'));
}

function imagesPlan(dir: string): DataPlan {
  return { seed: 42, loss: 'cross_entropy', data: { source: 'images', valid_pct: 0.2, images: { path: dir, size: [28, 28], channels: 1 } } };
}

function key(x: Float32Array, row: number): string {
  const bytes = new Uint8Array(PIX);
  for (let p = 0; p < PIX; p++) bytes[p] = Math.round(x[row * PIX + p]! * 255);
  return Buffer.from(bytes).toString('base64');
}

const quiet = { force: false, quiet: true };

beforeEach(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('selectDigits', () => {
  it('valid first then train, disjoint, right labels, deterministic by seed, nested in perClass, per-digit independent', async () => {
    const { labels } = await loadMnistAll();
    const a = selectDigits(labels, { digits: [7, 3, 3], perClass: 20, validPerClass: 10, seed: 5 });
    expect(a.digits).toEqual([3, 7]);
    for (const d of a.digits) {
      const tr = [...a.train.get(d)!];
      const va = [...a.valid.get(d)!];
      expect(tr).toHaveLength(20);
      expect(va).toHaveLength(10);
      expect(new Set([...tr, ...va]).size).toBe(30);
      for (const k of [...tr, ...va]) expect(labels[k]).toBe(d);
    }
    const again = selectDigits(labels, { digits: [3, 7], perClass: 20, validPerClass: 10, seed: 5 });
    expect([...again.train.get(3)!]).toEqual([...a.train.get(3)!]);
    expect([...again.valid.get(7)!]).toEqual([...a.valid.get(7)!]);
    const other = selectDigits(labels, { digits: [3, 7], perClass: 20, validPerClass: 10, seed: 6 });
    expect([...other.train.get(3)!]).not.toEqual([...a.train.get(3)!]);
    const bigger = selectDigits(labels, { digits: [3], perClass: 50, validPerClass: 10, seed: 5 });
    expect([...bigger.valid.get(3)!]).toEqual([...a.valid.get(3)!]);
    expect([...bigger.train.get(3)!].slice(0, 20)).toEqual([...a.train.get(3)!]);
  });

  it('defaults: all ten digits, 100 valid per digit, every other image to train', async () => {
    const { labels } = await loadMnistAll();
    const s = selectDigits(labels, { seed: 1 });
    expect(s.digits).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let n = 0;
    for (const d of s.digits) {
      const count = labels.filter((l) => l === d).length;
      expect(s.valid.get(d)!.length).toBe(DEFAULT_VALID_PER_CLASS);
      expect(s.train.get(d)!.length).toBe(count - DEFAULT_VALID_PER_CLASS);
      n += s.train.get(d)!.length + s.valid.get(d)!.length;
    }
    expect(n).toBe(labels.length);
  });

  it('rejects bad options with exit code 2', async () => {
    const { labels } = await loadMnistAll();
    const bad = [
      { digits: [], seed: 1 },
      { digits: [10], seed: 1 },
      { digits: [1.5], seed: 1 },
      { perClass: 0, seed: 1 },
      { validPerClass: 0, seed: 1 },
      { perClass: 2.5, seed: 1 },
      { seed: 0.5 },
      { digits: [4], perClass: 5000, seed: 1 },
      { digits: [4], validPerClass: 5000, seed: 1 },
    ];
    for (const o of bad) {
      let err: unknown;
      try {
        selectDigits(labels, o);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(o)).toBeInstanceOf(FastlrError);
      expect((err as FastlrError).exitCode).toBe(2);
    }
    expect(() => selectDigits(labels, { digits: [4], perClass: 5000, seed: 1 })).toThrow(/digit 4 has \d+ images/);
  });
});

describe('runExportDigits', () => {
  it('writes train/valid/<digit>/<index>.png that the images loader reads back as the same digits', async () => {
    const root = tmp();
    const dir = path.join(root, 'digits');
    const code = await runExportDigits(dir, { digits: [7, 3], perClass: 6, validPerClass: 4, seed: 11, ...quiet });
    expect(code).toBe(0);
    expect(readdirSync(root)).toEqual(['digits']); // no tmp folder left behind
    expect(readdirSync(path.join(dir, 'train'))).toEqual(['3', '7']);
    expect(readdirSync(path.join(dir, 'valid'))).toEqual(['3', '7']);
    expect(readdirSync(path.join(dir, 'train', '3'))).toEqual(['0000.png', '0001.png', '0002.png', '0003.png', '0004.png', '0005.png']);
    expect(readdirSync(path.join(dir, 'valid', '7'))).toEqual(['0000.png', '0001.png', '0002.png', '0003.png']);

    // 8-bit grayscale PNG (IHDR: bit depth byte 24, colour type byte 25)
    const png = readFileSync(path.join(dir, 'train', '7', '0000.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(28);
    expect(png.readUInt32BE(20)).toBe(28);
    expect(png[24]).toBe(8);
    expect(png[25]).toBe(0);

    const manifest = JSON.parse(readFileSync(path.join(dir, EXPORT_MANIFEST), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ seed: 11, digits: [3, 7], train: { '3': 6, '7': 6 }, valid: { '3': 4, '7': 4 } });

    const ds = await loadDataset(imagesPlan(dir));
    expect(ds.classNames).toEqual(['3', '7']);
    expect(ds.inputShape).toEqual([28, 28, 1]);
    expect(ds.train.n).toBe(12);
    expect(ds.valid.n).toBe(8);
    expect([...ds.train.y]).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect([...ds.valid.y]).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(ds.skipped ?? []).toEqual([]);

    // every image is the bundled digit the selection names, in draw order, pixel for pixel
    const all = await loadMnistAll();
    const sel = selectDigits(all.labels, { digits: [3, 7], perClass: 6, validPerClass: 4, seed: 11 });
    const check = (split: { x: Float32Array; n: number }, items: Map<number, Int32Array>): void => {
      const expected = [...items.get(3)!, ...items.get(7)!];
      expect(split.n).toBe(expected.length);
      let maxDiff = 0;
      expected.forEach((k, row) => {
        for (let p = 0; p < PIX; p++) {
          const got = split.x[row * PIX + p]!;
          const want = all.x[k * PIX + p]!;
          maxDiff = Math.max(maxDiff, Math.abs(got - want));
        }
        expect(key(split.x, row)).toBe(key(all.x, k));
      });
      expect(maxDiff).toBeLessThan(0.5 / 255);
    };
    check(ds.train, sel.train);
    check(ds.valid, sel.valid);
    // and the images are real digits, not blanks: some ink in each
    for (let row = 0; row < ds.train.n; row++) {
      let ink = 0;
      for (let p = 0; p < PIX; p++) ink += ds.train.x[row * PIX + p]!;
      expect(ink).toBeGreaterThan(10);
    }
    // train and valid share no image
    const trainKeys = new Set(Array.from({ length: ds.train.n }, (_, r) => key(ds.train.x, r)));
    for (let r = 0; r < ds.valid.n; r++) expect(trainKeys.has(key(ds.valid.x, r))).toBe(false);
  });

  it('default train size: every image of the digit not in valid', async () => {
    const root = tmp();
    const dir = path.join(root, 'one');
    await runExportDigits(dir, { digits: [1], validPerClass: 50, seed: 3, ...quiet });
    const { labels } = await loadMnistAll();
    const count = labels.filter((l) => l === 1).length;
    expect(readdirSync(path.join(dir, 'train', '1'))).toHaveLength(count - 50);
    expect(readdirSync(path.join(dir, 'valid', '1'))).toHaveLength(50);
  });

  it('refuses a non-empty folder (exit 2) and leaves it alone; --force replaces it; an empty folder is fine', async () => {
    const root = tmp();
    const dir = path.join(root, 'data');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'keep.txt'), 'mine');
    const err = await runExportDigits(dir, { digits: [0, 1], perClass: 2, validPerClass: 1, seed: 1, ...quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FastlrError);
    expect((err as FastlrError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(/not empty.*--force/);
    expect(readdirSync(dir)).toEqual(['keep.txt']);
    expect(readdirSync(root)).toEqual(['data']);

    await runExportDigits(dir, { digits: [0, 1], perClass: 2, validPerClass: 1, seed: 1, force: true, quiet: true });
    expect(existsSync(path.join(dir, 'keep.txt'))).toBe(false);
    expect(readdirSync(path.join(dir, 'train', '0'))).toHaveLength(2);
    expect(readdirSync(root)).toEqual(['data']);

    const empty = path.join(root, 'empty');
    mkdirSync(empty);
    await runExportDigits(empty, { digits: [0, 1], perClass: 2, validPerClass: 1, seed: 1, ...quiet });
    expect(readdirSync(path.join(empty, 'valid', '1'))).toHaveLength(1);
  });

  it('a file in the way is an error; bad options fail before anything is written', async () => {
    const root = tmp();
    const file = path.join(root, 'file');
    writeFileSync(file, 'x');
    await expect(runExportDigits(file, { seed: 1, force: true, quiet: true })).rejects.toThrow(/not a folder/);
    const dir = path.join(root, 'never');
    await expect(runExportDigits(dir, { digits: [2], perClass: 100000, seed: 1, ...quiet })).rejects.toThrow(FastlrError);
    expect(readdirSync(root)).toEqual(['file']);
  });

  it('prints where it wrote and the config snippet unless quiet', async () => {
    const root = tmp();
    const write = vi.mocked(process.stdout.write);
    write.mockClear();
    await runExportDigits(path.join(root, 'q'), { digits: [0, 1], perClass: 1, validPerClass: 1, seed: 1, force: false, quiet: true });
    expect(write).not.toHaveBeenCalled();
    await runExportDigits(path.join(root, 'v'), { digits: [0, 1], perClass: 1, validPerClass: 1, seed: 1, force: false, quiet: false });
    const text = write.mock.calls.map((c) => String(c[0])).join('');
    expect(text).toContain(`to ${path.join(root, 'v')}`);
    expect(text).toContain('train: 2 images (0: 1, 1: 1)');
    expect(text).toContain('source: images');
    expect(text).toContain('size: [28, 28], channels: 1');
  });

  it('--size 224 --channels 3: RGB squares (R = G = B) that read back with size [224, 224], channels 3 and shrink back to the digits', async () => {
    const dir = path.join(tmp(), 'rgb');
    await runExportDigits(dir, { digits: [5, 6], perClass: 2, validPerClass: 1, seed: 4, size: 224, channels: 3, ...quiet });
    const manifest = JSON.parse(readFileSync(path.join(dir, EXPORT_MANIFEST), 'utf8'));
    expect(manifest.size).toEqual([224, 224]);
    expect(manifest.channels).toBe(3);
    const big = await loadDataset({ seed: 42, loss: 'cross_entropy', data: { source: 'images', valid_pct: 0.2, images: { path: dir, size: [224, 224], channels: 3 } } });
    expect(big.inputShape).toEqual([224, 224, 3]);
    expect(big.train.n).toBe(4);
    const x = big.train.x;
    for (let i = 0; i < 224 * 224 * 3; i += 3) expect(x[i] === x[i + 1] && x[i] === x[i + 2]).toBe(true);
    // read back at 28×28 grey: close to the bundled digits of the same picks
    const small = await loadDataset(imagesPlan(dir));
    const all = await loadMnistAll();
    const sel = selectDigits(all.labels, { digits: [5, 6], perClass: 2, validPerClass: 1, seed: 4 });
    const k = sel.train.get(5)![0]!;
    let err = 0;
    for (let p = 0; p < PIX; p++) err += Math.abs(small.train.x[p]! - all.x[k * PIX + p]!);
    expect(err / PIX).toBeLessThan(0.03);
    await expect(runExportDigits(path.join(tmp(), 'bad'), { digits: [5], seed: 1, size: 0, ...quiet })).rejects.toThrow(/--size/);
  });
});

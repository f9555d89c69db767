import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { Batcher, batchCount, epochOrder, type Dataset, type Split } from '../src/data/index.js';
import { onBackend } from './helpers/backend.js';

function split(n: number, f: number, y: (i: number) => number): Split {
  const x = new Float32Array(n * f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) x[i * f + j] = i * 10 + j;
  return { x, y: Float32Array.from({ length: n }, (_, i) => y(i)), n };
}

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
// importing the wasm backend makes it the default: the tests below run on cpu unless they say otherwise
beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true);
});

const cls: Pick<Dataset, 'inputShape' | 'task' | 'targetDim'> = { inputShape: [2, 1], task: 'classification', targetDim: 1 };

describe('epochOrder', () => {
  it('is the identity without shuffle and Fisher–Yates (from the end) with it', () => {
    expect([...epochOrder(5, false, () => 0.99)]).toEqual([0, 1, 2, 3, 4]);
    // rng() = 0 → j = 0 at every step: swap(3,0), swap(2,0), swap(1,0)
    expect([...epochOrder(4, true, () => 0)]).toEqual([1, 2, 3, 0]);
    // rng() → 0.999 → j = i: no swaps
    expect([...epochOrder(4, true, () => 0.999)]).toEqual([0, 1, 2, 3]);
    const a = epochOrder(100, true, seedrandom('s'));
    const b = epochOrder(100, true, seedrandom('s'));
    expect([...a]).toEqual([...b]);
    expect([...a].sort((p, q) => p - q)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...a]).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    // consumes exactly n-1 draws
    let calls = 0;
    epochOrder(10, true, () => (calls++, 0.5));
    expect(calls).toBe(9);
  });
});

describe('batchCount', () => {
  it('drops the last partial batch only with drop_last', () => {
    expect(batchCount(10, 3, true)).toBe(3);
    expect(batchCount(10, 3, false)).toBe(4);
    expect(batchCount(9, 3, true)).toBe(3);
    expect(batchCount(9, 3, false)).toBe(3);
    expect(batchCount(2, 3, true)).toBe(0);
    expect(batchCount(2, 3, false)).toBe(1);
    expect(batchCount(0, 3, false)).toBe(0);
    expect(() => batchCount(5, 0, true)).toThrow(/batch size/);
  });
});

describe('Batcher', () => {
  it('classification: rows in the given order, x float32 [b, ...inputShape], y int32 [b]; last partial batch', () => {
    const s = split(5, 2, (i) => i % 3);
    const b = new Batcher(s, cls, 2);
    const order = Int32Array.from([3, 1, 0, 2, 4]);
    const first = b.batch(order, 0);
    expect(first.x.shape).toEqual([2, 2, 1]);
    expect(first.x.dtype).toBe('float32');
    expect(first.y.shape).toEqual([2]);
    expect(first.y.dtype).toBe('int32');
    const second = b.batch(order, 1);
    const last = b.batch(order, 2);
    // earlier batches are not overwritten by later ones
    expect([...first.x.dataSync()]).toEqual([30, 31, 10, 11]);
    expect([...first.y.dataSync()]).toEqual([0, 1]);
    expect([...second.x.dataSync()]).toEqual([0, 1, 20, 21]);
    expect(last.x.shape).toEqual([1, 2, 1]);
    expect([...last.x.dataSync()]).toEqual([40, 41]);
    expect([...last.y.dataSync()]).toEqual([1]);
    expect(() => b.batch(order, 3)).toThrow(RangeError);
    tf.dispose([first, second, last].flatMap((t) => [t.x, t.y]));
  });

  it('validation pass: identity order, no drop_last, covers every row once', () => {
    const s = split(7, 2, (i) => i % 2);
    const b = new Batcher(s, cls, 3);
    const order = epochOrder(7, false, () => 0);
    const seen: number[] = [];
    for (let k = 0; k < batchCount(7, 3, false); k++) {
      const { x, y } = b.batch(order, k);
      seen.push(...Array.from(x.dataSync()).filter((_, i) => i % 2 === 0).map((v) => v / 10));
      tf.dispose([x, y]);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('regression: y float32 [b, targetDim]; xShape override with the same size', () => {
    const s = split(4, 2, (i) => i + 0.5);
    const b = new Batcher(s, { inputShape: [2], task: 'regression', targetDim: 1 }, 4, [1, 2]);
    const { x, y } = b.batch(Int32Array.from([2, 0, 1, 3]), 0);
    expect(x.shape).toEqual([4, 1, 2]);
    expect(y.shape).toEqual([4, 1]);
    expect(y.dtype).toBe('float32');
    expect([...y.dataSync()]).toEqual([2.5, 0.5, 1.5, 3.5]);
    tf.dispose([x, y]);
    expect(() => new Batcher(s, cls, 2, [3])).toThrow(/3 values per sample/);
  });

  it('leaks no tensors beyond the pair it returns', () => {
    const s = split(6, 2, () => 0);
    const b = new Batcher(s, cls, 4);
    const before = tf.memory().numTensors;
    const { x, y } = b.batch(epochOrder(6, false, () => 0), 1);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

// wasm copies tf.tensor's values into its heap, so the Batcher refills one buffer there; elsewhere a fresh one per batch
describe.each(['cpu', 'wasm'])('Batcher on %s', (backend) => {
  onBackend(backend);

  it('every batch keeps its own values while later ones (smaller, then full again) are made', () => {
    const s = split(7, 3, (i) => i % 4);
    const b = new Batcher(s, { inputShape: [3], task: 'classification', targetDim: 1 }, 3);
    const r = new Batcher(s, { inputShape: [3], task: 'regression', targetDim: 1 }, 3);
    const order = Int32Array.from([6, 2, 4, 0, 5, 1, 3]);
    const before = tf.memory().numTensors;
    const made = [0, 1, 2, 0, 2, 1].map((k) => ({ k, c: b.batch(order, k), g: r.batch(order, k) }));
    for (const { k, c, g } of made) {
      const rows = Array.from(order.subarray(3 * k, Math.min(3 * k + 3, 7)));
      expect(c.x.shape).toEqual([rows.length, 3]);
      expect([...c.x.dataSync()]).toEqual(rows.flatMap((i) => [10 * i, 10 * i + 1, 10 * i + 2]));
      expect([...c.y.dataSync()]).toEqual(rows.map((i) => i % 4));
      expect([...g.x.dataSync()]).toEqual(rows.flatMap((i) => [10 * i, 10 * i + 1, 10 * i + 2]));
      expect([...g.y.dataSync()]).toEqual(rows.map((i) => i % 4));
    }
    tf.dispose(made.flatMap(({ c, g }) => [c.x, c.y, g.x, g.y]));
    expect(tf.memory().numTensors).toBe(before);
  });
});

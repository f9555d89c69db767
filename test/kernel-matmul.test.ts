/**
 * Our wasm BatchMatMul (explicit transposes + the SIMD gemm for output widths that are a multiple of 8) against the
 * stock wasm kernel and against the stock cpu kernel: transpose flags, batched operands, row counts that are not a
 * multiple of 4, widths that fall back to the stock kernel.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { relErr, values } from './helpers/kernels.js';

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

interface Case {
  a: number[];
  b: number[];
  ta: boolean;
  tb: boolean;
}

const CASES: Case[] = [
  { a: [64, 784], b: [784, 256], ta: false, tb: false }, // the MNIST MLP's forward
  { a: [64, 784], b: [64, 256], ta: true, tb: false }, // its dW = xᵀ·dy
  { a: [64, 10], b: [256, 10], ta: false, tb: true }, // dx = dy·Wᵀ
  { a: [7, 13], b: [13, 24], ta: false, tb: false }, // rows % 4 = 3
  { a: [1, 5], b: [5, 8], ta: false, tb: false }, // one row
  { a: [3, 6, 9], b: [3, 9, 16], ta: false, tb: false }, // batched
  { a: [2, 9, 6], b: [2, 16, 9], ta: true, tb: true }, // batched, both flags
  { a: [5, 12], b: [12, 10], ta: false, tb: false }, // width 10: stock kernel
  { a: [4, 3], b: [1, 3, 16], ta: false, tb: false }, // ranks differ
];


function product(c: Case, seed: number): { shape: number[]; data: Float32Array } {
  return tf.tidy(() => {
    const size = (s: number[]): number => s.reduce((x, y) => x * y, 1);
    const a = tf.tensor(values(size(c.a), seed), c.a);
    const b = tf.tensor(values(size(c.b), seed + 1), c.b);
    const out = tf.matMul(a, b, c.ta, c.tb);
    return { shape: out.shape, data: out.dataSync().slice() as Float32Array };
  });
}


const onCpu = new Map<number, { shape: number[]; data: Float32Array }>();
const stockWasm = new Map<number, { shape: number[]; data: Float32Array }>();

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true);
  CASES.forEach((c, i) => onCpu.set(i, product(c, 7 * i + 3)));
  expect(await tf.setBackend('wasm')).toBe(true);
  restoreStockKernels('wasm');
  CASES.forEach((c, i) => {
    // the stock wasm kernel with a transpose flag is the slow but correct scalar loop
    stockWasm.set(i, product(c, 7 * i + 3));
  });
  registerKernelOverrides('wasm');
});

afterAll(() => {
  registerKernelOverrides('wasm');
});

describe('BatchMatMul on wasm (ours) vs the stock kernels', () => {
  it.each(CASES.map((c, i) => [`a ${c.a.join('×')}${c.ta ? 'ᵀ' : ''} · b ${c.b.join('×')}${c.tb ? 'ᵀ' : ''}`, i] as const))(
    '%s',
    (_name, i) => {
      const before = tf.memory().numTensors;
      const got = product(CASES[i]!, 7 * i + 3);
      expect(tf.memory().numTensors).toBe(before);
      const cpu = onCpu.get(i)!;
      const stock = stockWasm.get(i)!;
      expect(got.shape).toEqual(cpu.shape);
      expect(relErr(got.data, stock.data)).toBeLessThan(1e-6);
      expect(relErr(got.data, cpu.data)).toBeLessThan(1e-6);
    },
  );
});

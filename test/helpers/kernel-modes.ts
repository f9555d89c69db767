/**
 * describe blocks on cpu and wasm, each with fastlr's kernels and with the stock ones (what tfjs-node users get:
 * FASTLR_KERNELS=stock, simulated by taking our kernels out for the block). Under `npm run test:stock` fastlr's
 * kernels are never registered, so only the stock blocks run.
 */
import { afterEach, beforeEach, describe } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../../src/kernels/index.js';

export interface KernelMode {
  backend: 'cpu' | 'wasm';
  stock: boolean;
}

const onlyStock = (process.env['FASTLR_KERNELS'] ?? '').trim() === 'stock';

export function eachKernelMode(title: string, body: (mode: KernelMode) => void): void {
  for (const stock of [false, true]) {
    for (const backend of ['cpu', 'wasm'] as const) {
      (onlyStock && !stock ? describe.skip : describe)(`${title} on ${backend}${stock ? ' with the stock kernels' : ''}`, () => {
        beforeEach(async () => {
          await initBackend(backend);
          await tf.setBackend(backend);
          if (stock) restoreStockKernels(backend);
        });
        afterEach(() => {
          if (stock) registerKernelOverrides(backend);
        });
        body({ backend, stock });
      });
    }
  }
}

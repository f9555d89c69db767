/**
 * FastlrActBiasGrad (src/kernels/act-bias-grad.ts): an activation's gradient read from its output and the bias
 * gradient before it in one pass. dz must be the activation mask kernels' dz bit for bit (FastlrClipGrad on the
 * output: relu6 0 < y < 6, relu 0 < y), db the blocked float32 sum of dz (32 rows in order, then the block sums in
 * order) bit for bit — the SIMD programs (c % 4 == 0) and the plain loops alike — and tf.sum's value to rounding.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { ACT_BIAS_GRAD_KERNEL, OUTPUT_MASK } from '../src/kernels/act-bias-grad.js';
import { CLIP_GRAD_KERNEL } from '../src/kernels/clip-grad.js';
import { relErr, values } from './helpers/kernels.js';

/** the blocked float32 sum over the rows of [rows, c], in the kernel's order */
function blockedSum(x: Float32Array, rows: number, c: number): Float32Array {
  const out = new Float32Array(c);
  const part = new Float32Array(c);
  for (let r0 = 0; r0 < rows; r0 += 32) {
    part.fill(0);
    for (let r = r0; r < Math.min(rows, r0 + 32); r++) for (let ch = 0; ch < c; ch++) part[ch] = Math.fround(part[ch]! + x[r * c + ch]!);
    for (let ch = 0; ch < c; ch++) out[ch] = Math.fround(out[ch]! + part[ch]!);
  }
  return out;
}

const bytes = (a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// channels: SIMD with a group of four vectors and a rest (20 = 16 + 4), plain loop (6, 3); rows not a multiple of 32
const SHAPES: number[][] = [[3, 7, 9, 20], [2, 5, 11, 6], [1, 13, 3, 3], [2, 6, 6, 64]];

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`${ACT_BIAS_GRAD_KERNEL} on ${backend}`, () => {
    for (const shape of SHAPES) {
      for (const activation of ['relu6', 'relu', 'linear'] as const) {
        it(`${activation} ${shape.join('×')}: dz is the mask kernel's bit for bit, db the blocked sum bit for bit and tf.sum to rounding`, async () => {
          await initBackend(backend);
          const n = shape.reduce((a, b) => a * b, 1);
          const c = shape[3]!;
          // y over (-2, 8) with exact 0 and 6 and a NaN: every side of both masks
          const yv = values(n, 3).map((v) => 5 * v + 3);
          yv[0] = 0;
          yv[1] = 6;
          yv[2] = NaN;
          yv[3] = Math.fround(6 - 2 ** -21);
          const before = tf.memory().numTensors;
          tf.tidy(() => {
            const y = tf.tensor(yv, shape);
            const dy = tf.tensor(values(n, 4), shape);
            const e = tf.engine();
            if (activation === 'linear') {
              const out = e.runKernel(ACT_BIAS_GRAD_KERNEL, { dy }, { activation }) as tf.Tensor[];
              expect(out.length).toBe(1);
              const db = out[0]!.dataSync() as Float32Array;
              expect(bytes(db).equals(bytes(blockedSum(dy.dataSync() as Float32Array, n / c, c)))).toBe(true);
              expect(relErr(db, tf.sum(dy, [0, 1, 2]).dataSync())).toBeLessThan(1e-5);
              return;
            }
            const [lo, hi] = OUTPUT_MASK[activation];
            const [dz, db] = e.runKernel(ACT_BIAS_GRAD_KERNEL, { y, dy }, { activation }) as tf.Tensor[];
            const ref = e.runKernel(CLIP_GRAD_KERNEL, { x: y, dy }, { clipValueMin: lo, clipValueMax: hi }) as tf.Tensor;
            const dzv = dz!.dataSync() as Float32Array;
            expect(bytes(dzv).equals(bytes(ref.dataSync() as Float32Array))).toBe(true);
            // the mask really masks: zeros where y is 0, NaN (and 6 for relu6), dy elsewhere
            expect(dzv[0]).toBe(0);
            expect(dzv[2]).toBe(0);
            expect(dzv[1] === 0).toBe(activation === 'relu6');
            expect(dzv[3]).not.toBe(0);
            const dbv = db!.dataSync() as Float32Array;
            expect(db!.shape).toEqual([c]);
            expect(bytes(dbv).equals(bytes(blockedSum(dzv, n / c, c)))).toBe(true);
            expect(relErr(dbv, tf.sum(ref, [0, 1, 2]).dataSync())).toBeLessThan(1e-5);
          });
          expect(tf.memory().numTensors).toBe(before);
        });
      }
    }
  });
}

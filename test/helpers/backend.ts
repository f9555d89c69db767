/**
 * Run a describe block on one backend: switch to it before the block's tests and back to the previous backend after
 * (`after` first: e.g. put fastlr's kernels back where a test took them out).
 */
import { afterAll, beforeAll, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';

export function onBackend(backend: string, after?: () => void): void {
  let previous = '';
  beforeAll(async () => {
    previous = tf.getBackend();
    expect(await tf.setBackend(backend)).toBe(true);
  });
  afterAll(async () => {
    after?.();
    if (previous) await tf.setBackend(previous);
  });
}

/** Shared by the fold tests: a function run with fastlr's folds off (the model as written), and the kernels a call runs. */
import * as tf from '@tensorflow/tfjs';
import { setConvBnFold } from '../../src/kernels/conv-bn-fold.js';

/** f with the folds off: the model as written (every conv, BN, activation and pad its own op). */
export function unfused<T>(f: () => T): T {
  const was = setConvBnFold(false);
  try {
    return f();
  } finally {
    setConvBnFold(was);
  }
}

/** Kernel names run by f (tf.profile). */
export async function kernelsOf(f: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => f());
  tf.dispose(info.result as tf.Tensor);
  return info.kernels.map((k) => k.name);
}

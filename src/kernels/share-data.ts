/**
 * Identity and same-dtype Cast that share the input's data instead of copying it (wasm).
 *
 * tfjs-backend-wasm copies the whole buffer for both; the cpu backend already shares (incRef), and the engine's
 * reference counting is built for it. A training step of the MNIST CNN runs ~26 Identity and ~8 Cast kernels,
 * several on [64,26,26,16] activations (~0.25 ms each copy).
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';

function share(backend: tf.KernelBackend, x: tf.TensorInfo): tf.TensorInfo {
  (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

export function sharingIdentity(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs['x'];
    if (x == null || x.dtype === 'string') return stock(args);
    return share(args.backend, x);
  };
}

export function sharingCast(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs['x'];
    const dtype = args.attrs?.['dtype'];
    if (x == null || x.dtype === 'string' || dtype !== x.dtype) return stock(args);
    return share(args.backend, x);
  };
}

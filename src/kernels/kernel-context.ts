/**
 * Helpers for kernels built from other kernels of the same backend (the pattern tfjs's own backends use:
 * call the kernel functions directly on TensorInfos, free every intermediate with backend.disposeData).
 * Nothing here goes through the engine, so nothing is recorded on the gradient tape or counted as a tensor.
 */
import * as tf from '@tensorflow/tfjs';

/** The argument every tfjs kernel function receives. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
}

/** A kernel function as our overrides see it (backend typed instead of `{}`). */
export type Kernel = (args: KernelArgs) => tf.TensorInfo;

/** A kernel with several outputs. */
export type MultiKernel = (args: KernelArgs) => tf.TensorInfo[];

/** The kernel function currently registered for `kernelName` on `backendName`; throws when there is none. */
export function kernelFunc(kernelName: string, backendName: string): Kernel {
  const config = tf.getKernel(kernelName, backendName);
  if (config == null) throw new Error(`kernel ${kernelName} is not registered for backend ${backendName}`);
  const f = config.kernelFunc;
  return (args: KernelArgs): tf.TensorInfo => {
    const out = f(args);
    if (Array.isArray(out)) throw new Error(`kernel ${kernelName} returned several outputs`);
    return out;
  };
}

/** Small typed wrappers over the basic kernels of one backend, resolved once. */
export class KernelContext {
  private readonly transposeK: Kernel;
  private readonly reshapeK: Kernel;
  private readonly sliceK: Kernel;

  constructor(readonly backendName: string) {
    this.transposeK = kernelFunc('Transpose', backendName);
    this.reshapeK = kernelFunc('Reshape', backendName);
    this.sliceK = kernelFunc('Slice', backendName);
  }

  transpose(backend: tf.KernelBackend, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    return this.transposeK({ inputs: { x }, backend, attrs: { perm } });
  }

  reshape(backend: tf.KernelBackend, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.reshapeK({ inputs: { x }, backend, attrs: { shape } });
  }

  slice(backend: tf.KernelBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
    return this.sliceK({ inputs: { x }, backend, attrs: { begin, size } });
  }
}

/** Free intermediates made inside a kernel (decrements the data's reference count; frees at zero). */
export function release(backend: tf.KernelBackend, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** `[a, b]` from a number or a pair, as tfjs attributes give strides and dilations. */
export function pair(v: number | [number, number] | number[]): [number, number] {
  if (typeof v === 'number') return [v, v];
  return [v[0] ?? 1, v[1] ?? v[0] ?? 1];
}

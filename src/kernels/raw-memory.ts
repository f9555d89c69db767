/**
 * Direct float32 access to tensor data inside a kernel, for kernels written as plain JS loops.
 *   wasm: views into the wasm heap (no copy). Allocate every output BEFORE taking input views: an allocation
 *         may grow the heap, which detaches views taken earlier.
 *   cpu:  the backend's own value arrays; outputs are handed over with makeTensorInfo.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

interface CpuBackendLike {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

export interface RawOutput {
  /** fill `data`, then call `finish()` to get the TensorInfo to return */
  data: Float32Array;
  finish(): tf.TensorInfo;
}

function isWasm(backend: tf.KernelBackend): backend is tf.KernelBackend & WasmBackendLike {
  return typeof (backend as Partial<WasmBackendLike>).typedArrayFromHeap === 'function';
}

/** Backends whose raw memory we know how to reach. */
export function supportsRawMemory(backendName: string): boolean {
  return backendName === 'wasm' || backendName === 'cpu';
}

/** A zero-filled float32 output of `shape`. */
export function rawOutput(backend: tf.KernelBackend, shape: number[]): RawOutput {
  const size = shape.reduce((a, b) => a * b, 1);
  if (isWasm(backend)) {
    const info = backend.makeOutput(shape, 'float32');
    const data = backend.typedArrayFromHeap(info) as Float32Array;
    data.fill(0);
    return { data, finish: () => info };
  }
  const data = new Float32Array(size);
  const cpu = backend as unknown as CpuBackendLike;
  return { data, finish: () => cpu.makeTensorInfo(shape, 'float32', data) };
}

/**
 * `count` zero-filled float32 outputs of `shape`, all allocated before any view is taken (on wasm an allocation may
 * grow the heap and detach the views of earlier outputs, so several rawOutput calls in a row are unsafe).
 */
export function rawOutputs(backend: tf.KernelBackend, shape: number[], count: number): RawOutput[] {
  if (!isWasm(backend)) return Array.from({ length: count }, () => rawOutput(backend, shape));
  const infos = Array.from({ length: count }, () => backend.makeOutput(shape, 'float32'));
  return infos.map((info) => {
    const data = backend.typedArrayFromHeap(info) as Float32Array;
    data.fill(0);
    return { data, finish: () => info };
  });
}

/** The float32 values of `info`, read-only by convention (a view: do not keep it past the kernel call). */
export function rawInput(backend: tf.KernelBackend, info: tf.TensorInfo): Float32Array {
  if (info.dtype !== 'float32') throw new Error(`raw kernel input must be float32, got ${info.dtype}`);
  if (isWasm(backend)) return backend.typedArrayFromHeap(info) as Float32Array;
  return backend.readSync(info.dataId) as Float32Array;
}

/**
 * One loader per backend: make it available to OUR tfjs-core instance and select it, or throw with a reason.
 * Native packages are optionalDependencies, loaded by guarded dynamic import.
 */
import * as tf from '@tensorflow/tfjs';
import { withoutRegistrationWarnings, withStdoutToStderr } from './quiet.js';
import { prepareNativeEnv } from './native-env.js';
import { wasmBinaryDir } from './wasm-paths.js';
import { preferSharedHeap } from './wasm-shared-heap.js';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** A load failure with a one-line reason for the user. */
export class BackendUnavailable extends Error {}

/** `import(spec)` of a package that may be absent; missing -> BackendUnavailable('not installed (...)'). */
async function importOptional(spec: string): Promise<unknown> {
  try {
    return await withStdoutToStderr(() => import(spec) as Promise<unknown>);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      if (String((e as Error).message).includes(spec)) throw new BackendUnavailable(`${spec} is not installed`);
    }
    throw new BackendUnavailable(`${spec} failed to load: ${firstLine(e)}`);
  }
}

export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

async function select(name: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new BackendUnavailable(`initialisation failed: ${firstLine(e)}`);
  }
  if (!ok) throw new BackendUnavailable('initialisation failed');
  await tf.ready();
}

/** What a loader found beyond "it loaded": the device the backend computes on, and anything the user must know. */
export interface LoadResult {
  /** 'gpu' only when tfjs-node-gpu reports a GPU device in use; 'unknown' when the binding does not say */
  device: 'gpu' | 'cpu' | 'unknown';
  warnings: string[];
}

export interface LoadOptions {
  /** config `precision`: fp32 sets NVIDIA_TF32_OVERRIDE=0 before a native package loads */
  precision: 'fp32' | 'tf32';
}

export const NO_GPU_WARNING = 'tensorflow-gpu loaded but found no GPU (CUDA 11.2 / cuDNN 8.1 needed): running on CPU';

const ON_CPU: LoadResult = { device: 'cpu', warnings: [] };

/**
 * Drop whatever a native package registered for 'tensorflow' before failing: otherwise the next package tried
 * (tfjs-node after tfjs-node-gpu) re-registers every kernel and tfjs prints one "already registered" warning each.
 */
function forgetNative(): void {
  for (const k of tf.getKernelsForBackend('tensorflow')) tf.unregisterKernel(k.kernelName, 'tensorflow');
  if (tf.findBackendFactory('tensorflow') != null) tf.removeBackend('tensorflow');
}

/** tfjs-node(-gpu) registers the 'tensorflow' backend; it must land in our tfjs-core instance. */
async function loadNative(spec: string, opts: LoadOptions): Promise<LoadResult> {
  prepareNativeEnv(opts.precision);
  try {
    await withoutRegistrationWarnings(() => importOptional(spec));
    if (tf.findBackendFactory('tensorflow') == null) {
      throw new BackendUnavailable(`${spec} loaded but registered no backend with this copy of @tensorflow/tfjs`);
    }
    await select('tensorflow');
  } catch (e) {
    if (tf.getBackend() === 'tensorflow') await tf.setBackend('cpu');
    forgetNative();
    throw e;
  }
  if (spec !== '@tensorflow/tfjs-node-gpu') return ON_CPU;
  // tfjs-node-gpu without a usable CUDA/cuDNN silently runs its CPU kernels: say so (NodeJSKernelBackend field)
  const onGpu = (tf.backend() as unknown as { isUsingGpuDevice?: unknown }).isUsingGpuDevice;
  if (onGpu === true) return { device: 'gpu', warnings: [] };
  if (onGpu === false) return { device: 'cpu', warnings: [NO_GPU_WARNING] };
  return { device: 'unknown', warnings: ['tensorflow-gpu loaded but does not say whether it uses a GPU device'] };
}

let wasmPathsSet = false;

async function loadWasm(): Promise<LoadResult> {
  const wasm = (await importOptional('@tensorflow/tfjs-backend-wasm')) as {
    setWasmPaths(prefix: string): void;
    setThreadsCount?(n: number): void;
  };
  if (!wasmPathsSet) {
    try {
      wasm.setWasmPaths(wasmBinaryDir());
    } catch (e) {
      throw new BackendUnavailable(`cannot locate the .wasm binaries: ${firstLine(e)}`);
    }
    wasmPathsSet = true;
  }
  if (tf.findBackendFactory('wasm') == null) {
    throw new BackendUnavailable('@tensorflow/tfjs-backend-wasm registered no backend with this copy of @tensorflow/tfjs');
  }
  // the threaded build, for its shared heap (wasm-shared-heap.ts); XNNPACK stays on one thread
  const restore = preferSharedHeap(wasm);
  try {
    await select('wasm');
  } finally {
    restore();
  }
  return ON_CPU;
}

export const LOADERS: Record<BackendName, (opts: LoadOptions) => Promise<LoadResult>> = {
  'tensorflow-gpu': (opts) => loadNative('@tensorflow/tfjs-node-gpu', opts),
  tensorflow: (opts) => loadNative('@tensorflow/tfjs-node', opts),
  wasm: loadWasm,
  cpu: async () => {
    await select('cpu');
    return ON_CPU;
  },
};

/** `auto` tries these in order. */
export const AUTO_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/**
 * Backend selection. `auto` tries tensorflow-gpu (@tensorflow/tfjs-node-gpu), tensorflow (@tensorflow/tfjs-node),
 * wasm (@tensorflow/tfjs-backend-wasm, binaries from node_modules), cpu — first that loads wins, and the reason
 * each earlier one was skipped is kept (one line each) for the CLI to print and record. A forced backend that
 * cannot load is a usage error (exit 2). Our kernel overrides (src/kernels) are registered for the chosen one.
 */
import * as tf from '@tensorflow/tfjs';
import { ExitCode, FastlrError } from '../errors.js';
import { registerKernelOverrides, restoreStockKernels } from '../kernels/index.js';
import { installConvBnFold, setConvBnFold } from '../kernels/conv-bn-fold.js';
import { kernelMode, type KernelMode } from './kernel-mode.js';
import { resolveThreads, setThreads, threadCount } from '../kernels/simd/pool.js';
import { fmaInUse } from '../kernels/simd/fma.js';
import { AUTO_ORDER, BackendUnavailable, type BackendName, firstLine, type LoadOptions, type LoadResult, LOADERS } from './loaders.js';
import { silenceCpuBanner } from './quiet.js';

export type { BackendName } from './loaders.js';
export { kernelMode, optimizerPath, type KernelMode, type OptimizerPath } from './kernel-mode.js';
export const BACKEND_NAMES: readonly BackendName[] = AUTO_ORDER;

export interface SkippedBackend {
  name: BackendName;
  reason: string;
}

export interface BackendInfo {
  /** the backend in use: 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu' */
  name: BackendName;
  /** backends tried before it (auto only), with why each was skipped */
  skipped: SkippedBackend[];
  /** kernels fastlr replaced or added on this backend (src/kernels); empty with FASTLR_KERNELS=stock */
  kernels: string[];
  /** 'stock' when FASTLR_KERNELS=stock left every tfjs kernel as shipped (what tfjs-node users get), else 'fastlr' */
  kernelMode: KernelMode;
  /** threads fastlr's kernels split their work over (config `threads`, auto: the cores available) */
  threads: number;
  /**
   * fastlr's SIMD programs multiply-add with fused f32x4.relaxed_madd (one rounding; relaxed SIMD, FMA hardware);
   * false with FASTLR_FMA=0, without relaxed SIMD or FMA, or when no fastlr kernel runs (stock, tensorflow)
   */
  fma: boolean;
  /** where the backend computes: 'gpu' only when tfjs-node-gpu reports a GPU device in use */
  device: LoadResult['device'];
  /** what the user must know about the backend (e.g. tensorflow-gpu running on CPU); printed and recorded */
  warnings: string[];
}

export interface BackendOptions {
  /** `threads:` of the plan: auto (every available core) or a count; default auto */
  threads?: 'auto' | number;
  /** `precision:` of the plan: fp32 (default) sets NVIDIA_TF32_OVERRIDE=0 before a native package loads */
  precision?: LoadOptions['precision'];
}

const results = new Map<string, Promise<BackendInfo>>();

async function prepare(): Promise<void> {
  // Instantiate the cpu backend once, quietly: tfjs uses it for scratch work and it greets on first use.
  await tf.setBackend('cpu');
  silenceCpuBanner();
}

async function tryLoad(name: BackendName, opts: LoadOptions): Promise<LoadResult | string> {
  try {
    return await LOADERS[name](opts);
  } catch (e) {
    return e instanceof BackendUnavailable ? e.message : firstLine(e);
  }
}

async function init(requested: BackendName | 'auto', opts: LoadOptions): Promise<BackendInfo> {
  const mode = kernelMode();
  await prepare();
  const order = requested === 'auto' ? AUTO_ORDER : [requested];
  const skipped: SkippedBackend[] = [];
  for (const name of order) {
    const loaded = await tryLoad(name, opts);
    if (typeof loaded !== 'string') {
      silenceCpuBanner();
      const tfName = tf.getBackend();
      if (mode === 'stock') restoreStockKernels(tfName);
      const kernels = mode === 'stock' ? [] : registerKernelOverrides(tfName);
      // conv → BN → relu(6) as one convolution where BN runs in inference mode, on any backend (stock ops there);
      // FASTLR_FOLD=off leaves every layer as tfjs-layers runs it (before/after measurements)
      installConvBnFold();
      setConvBnFold((process.env['FASTLR_FOLD'] ?? '').trim() !== 'off');
      // a backend fastlr has no overrides for (tensorflow) runs tfjs's stock kernels: record it as such
      const kernelMode: KernelMode = kernels.length === 0 ? 'stock' : mode;
      const fma = kernels.length > 0 && (tfName === 'wasm' || tfName === 'cpu') && fmaInUse();
      return { name, skipped, kernels, kernelMode, threads: threadCount(), fma, device: loaded.device, warnings: loaded.warnings };
    }
    if (requested !== 'auto') {
      throw new FastlrError(`backend ${name} cannot be used: ${loaded}`, ExitCode.usage);
    }
    skipped.push({ name, reason: loaded });
  }
  // cpu is always last in AUTO_ORDER and only fails if tfjs itself is broken.
  throw new FastlrError(
    `no backend could be loaded: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`,
    ExitCode.unexpected,
  );
}

/**
 * Select the backend (idempotent per request: the same promise is returned again). Throws FastlrError (exit 2)
 * for an unknown name or a forced backend that cannot load.
 */
export function initBackend(requested: BackendName | 'auto', opts: BackendOptions = {}): Promise<BackendInfo> {
  let threads: number;
  try {
    threads = resolveThreads(opts.threads ?? 'auto');
  } catch (e) {
    return Promise.reject(new FastlrError((e as Error).message, ExitCode.usage));
  }
  setThreads(opts.threads === undefined || opts.threads === 'auto' ? 'auto' : threads);
  if (requested !== 'auto' && !AUTO_ORDER.includes(requested)) {
    return Promise.reject(
      new FastlrError(`unknown backend "${String(requested)}" (expected auto, ${AUTO_ORDER.join(', ')})`, ExitCode.usage),
    );
  }
  let p = results.get(requested);
  if (p === undefined) {
    p = init(requested, { precision: opts.precision ?? 'fp32' });
    results.set(requested, p);
    p.catch(() => results.delete(requested));
  }
  return p.then((first) => {
    const info = { ...first, threads };
    // Another request may have switched backends since: make this one current again.
    return tf.getBackend() === tfBackendOf(info.name) ? info : reselect(info);
  });
}

function tfBackendOf(name: BackendName): string {
  return name === 'tensorflow-gpu' ? 'tensorflow' : name;
}

async function reselect(info: BackendInfo): Promise<BackendInfo> {
  await tf.setBackend(tfBackendOf(info.name));
  return info;
}

/** One line for humans: `wasm (skipped tensorflow-gpu: ... ; tensorflow: ...)`. */
export function describeBackend(info: BackendInfo): string {
  if (info.skipped.length === 0) return info.name;
  return `${info.name} (skipped ${info.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})`;
}

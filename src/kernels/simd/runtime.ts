/**
 * Instantiates the SIMD programs against the wasm backend's own memory (once per memory), so they run in place
 * on tensor data. Returns null when that is impossible (no WebAssembly SIMD, a shared-memory threaded build,
 * a backend that is not tfjs-backend-wasm): callers then use their portable path.
 */
import * as tf from '@tensorflow/tfjs';
import { emitModule, SHARED_MAX_PAGES } from './emitter.js';
import { PROGRAMS } from './programs.js';
import { type Call, ThreadPool, threadCount } from './pool.js';
import { gemmCalls, MIN_PARALLEL_MACS } from './tiles.js';
import { withThreads } from './adaptive.js';
import { fmaInUse } from './fma.js';

type Fn = (...args: number[]) => void;

/** The slice of the WebAssembly JS API we use (the project's TS lib has no DOM/WebAssembly typings). */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (mod: object, imports: object) => { exports: Record<string, unknown> };
}
const WA: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export interface SimdPrograms {
  relu_grad: Fn;
  bias_add: Fn;
  col_sum: Fn;
  /** col_sum with the sums in registers, c % 4 == 0 (sum-programs.ts) */
  col_sum_reg: Fn;
  max_pool_grad: Fn;
  im2col_t: Fn;
  conv_bpf_direct: Fn;
  gemm_r4: Fn;
  gemm_r1: Fn;
  conv_bpf_direct2: Fn;
  /** Adam, by [first step][decay] (see programs.ts adam_step) */
  adam_step: [[Fn, Fn], [Fn, Fn]];
  /** depthwise convolution, NHWC, multiplier 1, c % 4 == 0 (depthwise-programs.ts: generic, and 3×3 in registers) */
  dw_fwd: Fn;
  dw_bpi: Fn;
  dw_bpf: Fn;
  dw_fwd3: Fn;
  dw_bpi3s1: Fn;
  dw_bpi3s2: Fn;
  dw_bpf3: Fn;
  /** a row range of the NHWC patch matrix (conv-programs.ts) */
  im2col_rows: Fn;
  /** training-mode batch norm over [rows, c], c % 4 == 0 (see programs.ts bn_*) */
  bn_sum: Fn;
  bn_sqdev: Fn;
  bn_grad_sums: Fn;
  bn_apply: Fn;
  bn_grad_apply: Fn;
  /** the same with the activation after the BN computed in the pass / its gradient's mask applied (programs.ts) */
  bn_apply_relu: Fn;
  bn_apply_clamp: Fn;
  bn_grad_sums_mask: Fn;
  /** an activation's gradient mask on its output and the per-channel sum of the result (programs.ts clip_grad_sum) */
  clip_grad_sum: Fn;
  /** a folded BN's filter and its gradient (programs.ts col_scale, fold_grad) */
  col_scale: Fn;
  fold_grad: Fn;
  /** a sum's block partials added in block order (the row-split sums, programs.ts bn_fold) */
  bn_fold: Fn;
  /** ClipByValue's gradient (see programs.ts clip_grad) */
  clip_grad: Fn;
  /** Conv2DBackpropInput's col2im, gathered per input position (col2im-programs.ts) */
  col2im_nhwc: Fn;
  /** pmax(0, x + bias) in one pass (epilogue-programs.ts) */
  bias_relu: Fn;
  /** pmin(hi, pmax(lo, x + bias)) in one pass (epilogue-programs.ts) */
  bias_clamp: Fn;
  /** MaxPool forward, NHWC, c % 4 == 0 (maxpool-programs.ts) */
  max_pool: Fn;
  /** MaxPool 2×2 stride 2 unpadded and its gradient, unrolled (maxpool-programs.ts) */
  max_pool2: Fn;
  max_pool_grad2: Fn;
  /** Conv2D without a patch matrix, few input channels (direct-conv-programs.ts) */
  conv_direct: Fn;
  /** Relu and ClipByValue forward (unary-programs.ts) */
  relu: Fn;
  clip: Fn;
}

interface WasmBackendShape {
  /** the plain build exports its memory; the threaded build imports it (wasmMemory) */
  wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown };
  getMemoryOffset(dataId: object): number;
}

interface Bound {
  progs: SimdPrograms;
  exports: Record<string, unknown>;
}
const cache = new WeakMap<WasmMemory, Bound | null>();
const modules: { plain?: { bytes: Uint8Array; mod: object | null }; shared?: { bytes: Uint8Array; mod: object | null } } = {};

/** The programs compiled for a plain or a shared memory (null: no SIMD in this engine). */
function compiled(shared: boolean): { bytes: Uint8Array; mod: object | null } {
  const key = shared ? 'shared' : 'plain';
  const have = modules[key];
  if (have) return have;
  // FMA or not is decided before the first compile (it may set a V8 flag) and is the same for both modules
  const bytes = emitModule(PROGRAMS, { shared, fma: fmaInUse() });
  let mod: object | null = null;
  if (WA !== undefined) {
    try {
      mod = new WA.Module(bytes);
    } catch {
      mod = null; // no SIMD (or no threads) support in this engine
    }
  }
  return (modules[key] = { bytes, mod });
}

function compile(): object | null {
  return compiled(false).mod;
}

const isShared = (m: WasmMemory): boolean => typeof SharedArrayBuffer !== 'undefined' && m.buffer instanceof SharedArrayBuffer;

/** The wasm heap of a tfjs-backend-wasm instance (plain, or shared: its threaded build, wasm-shared-heap.ts). */
function heapOf(backend: tf.KernelBackend): WasmMemory | null {
  const w = (backend as unknown as WasmBackendShape).wasm;
  const mem = w?.asm?.memory ?? w?.wasmMemory;
  if (WA === undefined || !(mem instanceof WA.Memory)) return null;
  return mem;
}

export function simdPrograms(backend: tf.KernelBackend): SimdPrograms | null {
  const memory = heapOf(backend);
  if (memory === null) return null;
  return programsFor(memory)?.progs ?? null;
}

function bind(e: Record<string, Fn | undefined>): SimdPrograms {
  return {
    relu_grad: e['relu_grad'] as Fn,
    bias_add: e['bias_add'] as Fn,
    col_sum: e['col_sum'] as Fn,
    col_sum_reg: e['col_sum_reg'] as Fn,
    max_pool_grad: e['max_pool_grad'] as Fn,
    im2col_t: e['im2col_t'] as Fn,
    conv_bpf_direct: e['conv_bpf_direct'] as Fn,
    gemm_r4: e['gemm_r4'] as Fn,
    gemm_r1: e['gemm_r1'] as Fn,
    conv_bpf_direct2: e['conv_bpf_direct2'] as Fn,
    adam_step: [
      [e['adam_step'] as Fn, e['adam_step_decay'] as Fn],
      [e['adam_step_first'] as Fn, e['adam_step_first_decay'] as Fn],
    ],
    dw_fwd: e['dw_fwd'] as Fn,
    dw_bpi: e['dw_bpi'] as Fn,
    dw_bpf: e['dw_bpf'] as Fn,
    dw_fwd3: e['dw_fwd3'] as Fn,
    dw_bpi3s1: e['dw_bpi3s1'] as Fn,
    dw_bpi3s2: e['dw_bpi3s2'] as Fn,
    dw_bpf3: e['dw_bpf3'] as Fn,
    im2col_rows: e['im2col_rows'] as Fn,
    bn_sum: e['bn_sum'] as Fn,
    bn_sqdev: e['bn_sqdev'] as Fn,
    bn_grad_sums: e['bn_grad_sums'] as Fn,
    bn_apply: e['bn_apply'] as Fn,
    bn_grad_apply: e['bn_grad_apply'] as Fn,
    bn_apply_relu: e['bn_apply_relu'] as Fn,
    bn_apply_clamp: e['bn_apply_clamp'] as Fn,
    bn_grad_sums_mask: e['bn_grad_sums_mask'] as Fn,
    clip_grad_sum: e['clip_grad_sum'] as Fn,
    col_scale: e['col_scale'] as Fn,
    fold_grad: e['fold_grad'] as Fn,
    bn_fold: e['bn_fold'] as Fn,
    clip_grad: e['clip_grad'] as Fn,
    col2im_nhwc: e['col2im_nhwc'] as Fn,
    bias_relu: e['bias_relu'] as Fn,
    bias_clamp: e['bias_clamp'] as Fn,
    max_pool: e['max_pool'] as Fn,
    max_pool2: e['max_pool2'] as Fn,
    max_pool_grad2: e['max_pool_grad2'] as Fn,
    conv_direct: e['conv_direct'] as Fn,
    relu: e['relu'] as Fn,
    clip: e['clip'] as Fn,
  };
}

function programsFor(memory: WasmMemory): Bound | null {
  if (cache.has(memory)) return cache.get(memory) ?? null;
  const mod = compiled(isShared(memory)).mod;
  let bound: Bound | null = null;
  if (mod !== null && WA !== undefined) {
    const inst = new WA.Instance(mod, { env: { memory } });
    const exports = inst.exports as Record<string, Fn | undefined>;
    bound = { progs: bind(exports), exports };
  }
  cache.set(memory, bound);
  return bound;
}

/** What runs several program calls at once over one memory (heapGemm and the kernels' tile splits). */
export interface Runner {
  /** threads `parallel` can use now (1: no shared memory) */
  threads(): number;
  /**
   * runs the calls (they must write disjoint memory) over up to `threads` threads (default: one per call, at most
   * threads()), each call on whichever thread claims it first (simd/pool.ts)
   */
  parallel(calls: readonly Call[], threads?: number): void;
}

class MemoryRunner implements Runner {
  private pool: ThreadPool | null = null;

  constructor(
    private readonly memory: WasmMemory,
    private readonly exports: Record<string, unknown>,
    private readonly sharedBytes: Uint8Array | null,
  ) {}

  threads(): number {
    return this.sharedBytes === null ? 1 : threadCount();
  }

  parallel(calls: readonly Call[], threads?: number): void {
    const t = Math.min(threads ?? calls.length, calls.length, this.threads());
    if (t < 2 || this.sharedBytes === null) {
      for (const c of calls) (this.exports[c.fn] as Fn)(...c.args);
      return;
    }
    this.pool ??= new ThreadPool(this.memory, this.sharedBytes, this.exports, PROGRAMS.map((p) => p.name));
    this.pool.run(calls, t);
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    if (p) await p.close();
  }
}

const runners = new WeakMap<WasmMemory, MemoryRunner | null>();

/**
 * Worker threads running the programs IN PLACE on a wasm backend's own heap: null unless that heap is shared
 * (tfjs-backend-wasm's threaded build, src/backend/wasm-shared-heap.ts) and SIMD programs exist for it.
 */
export function backendRunner(backend: tf.KernelBackend): Runner | null {
  const memory = heapOf(backend);
  if (memory === null || !isShared(memory)) return null;
  if (runners.has(memory)) return runners.get(memory) ?? null;
  const bound = programsFor(memory);
  const shared = compiled(true);
  const r = bound === null || shared.mod === null ? null : new MemoryRunner(memory, bound.exports, shared.bytes);
  runners.set(memory, r);
  return r;
}

/**
 * The programs on a wasm backend's own heap (shared or not), run one call after another on the calling thread: for
 * kernels that must take fastlr's programs at one thread too (wasm-conv2d.ts with FMA). null without SIMD programs.
 */
export function heapRunner(backend: tf.KernelBackend): Runner | null {
  const memory = heapOf(backend);
  const bound = memory === null ? null : programsFor(memory);
  if (bound === null) return null;
  return {
    threads: () => 1,
    parallel: (calls) => {
      for (const c of calls) (bound.exports[c.fn] as Fn)(...c.args);
    },
  };
}

/** Byte offset of a tensor's data in the wasm heap. */
export function heapPtr(backend: tf.KernelBackend, info: tf.TensorInfo): number {
  return (backend as unknown as WasmBackendShape).getMemoryOffset(info.dataId);
}

/** A new float32 output on the wasm heap (uninitialised). */
export function heapOutput(backend: tf.KernelBackend, shape: number[]): tf.TensorInfo {
  return (backend as unknown as { makeOutput(s: number[], d: tf.DataType): tf.TensorInfo }).makeOutput(shape, 'float32');
}

const PAGE = 65536;

/**
 * The SIMD programs instantiated against a memory of their own, for backends whose tensors live in JS arrays (cpu)
 * and for the wasm backend's threaded path: callers copy inputs in, run programs, copy results out. Offsets are
 * bytes from 0; `reserve` grows the memory, which detaches earlier views (take `f32()` after it).
 *
 * Where SharedArrayBuffer and worker threads exist the memory is shared and `parallel(calls)` runs several program
 * calls at once, one per thread (simd/pool.ts); otherwise `parallel` runs them one after another.
 */
export class PrivateHeap implements Runner {
  /** the thread pool over this memory (the same runner tfjs-wasm's shared heap uses) */
  private readonly runner: MemoryRunner;

  private constructor(
    private readonly memory: WasmMemory,
    readonly progs: SimdPrograms,
    exports: Record<string, unknown>,
    /** the module bytes the workers instantiate; null: not shared, no workers */
    sharedBytes: Uint8Array | null,
  ) {
    this.runner = new MemoryRunner(memory, exports, sharedBytes);
  }

  /** null when WebAssembly SIMD is unavailable */
  static create(): PrivateHeap | null {
    if (WA === undefined || compile() === null) return null;
    const shared = typeof SharedArrayBuffer !== 'undefined' ? compiled(true) : null;
    if (shared !== null && shared.mod !== null) {
      try {
        const memory = new WA.Memory({ initial: 16, maximum: SHARED_MAX_PAGES, shared: true });
        const inst = new WA.Instance(shared.mod, { env: { memory } });
        const e = inst.exports as Record<string, Fn | undefined>;
        return new PrivateHeap(memory, bind(e), e, shared.bytes);
      } catch {
        // fall through: a plain memory, one thread
      }
    }
    const memory = new WA.Memory({ initial: 16 });
    const bound = programsFor(memory);
    if (bound === null) return null;
    return new PrivateHeap(memory, bound.progs, bound.exports, null);
  }

  /** Makes at least `bytes` addressable. */
  reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
  }

  /** A float32 view of the whole memory (valid until the next reserve). */
  f32(): Float32Array {
    return new Float32Array(this.memory.buffer);
  }

  /** Threads `parallel` can use now: the configured count (simd/pool.ts setThreads), 1 without shared memory. */
  threads(): number {
    return this.runner.threads();
  }

  /** Runs the calls over up to `threads` threads (they must write disjoint memory; Runner.parallel). */
  parallel(calls: readonly Call[], threads?: number): void {
    this.runner.parallel(calls, threads);
  }

  /** Ends this heap's worker threads (tests). */
  closeThreads(): Promise<void> {
    return this.runner.close();
  }
}

let heapCache: PrivateHeap | null | undefined;

/** The process's one private heap (cpu kernels, the wasm backend's threaded path); null: no WebAssembly SIMD. */
export function privateHeap(): PrivateHeap | null {
  if (heapCache === undefined) heapCache = PrivateHeap.create();
  return heapCache;
}

/**
 * C[m, n8] = A[m, k]·B[k, n8] on `heap` (byte offsets; n8 % 8 == 0), its rows split over the heap's threads
 * (simd/tiles.ts gemmCalls): the same bits at any thread count. `threads`: at most this many (default: the heap's, where `threads: auto` has measured that splitting pays off,
 * simd/adaptive.ts).
 */
export function heapGemm(heap: Runner, pa: number, pb: number, pc: number, m: number, k: number, n8: number, threads?: number): void {
  const run = (t: number): void => {
    const tn = Math.min(t, heap.threads());
    const { blocks, tail } = gemmCalls(pa, pb, pc, m, k, n8, tn);
    heap.parallel(tail === null ? blocks : [...blocks, tail], tn);
  };
  if (threads !== undefined) run(threads);
  else if (heap.threads() > 1 && m * k * n8 >= MIN_PARALLEL_MACS) withThreads(`gemm ${m}x${k}x${n8}`, run);
  else run(1);
}

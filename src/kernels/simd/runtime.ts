/**
 * Instantiates the SIMD programs against the wasm backend's own memory (once per memory), so they run in place
 * on tensor data. Returns null when that is impossible (no WebAssembly SIMD, a shared-memory threaded build,
 * a backend that is not tfjs-backend-wasm): callers then use their portable path.
 */
import * as tf from '@tensorflow/tfjs';
import { emitModule } from './emitter.js';
import { PROGRAMS } from './programs.js';

type Fn = (...args: number[]) => void;

/** The slice of the WebAssembly JS API we use (the project's TS lib has no DOM/WebAssembly typings). */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (mod: object, imports: object) => { exports: Record<string, unknown> };
}
const WA: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export interface SimdPrograms {
  relu_grad: Fn;
  bias_add: Fn;
  col_sum: Fn;
  max_pool_grad: Fn;
  im2col_t: Fn;
  conv_bpf_direct: Fn;
  gemm_r4: Fn;
  gemm_r1: Fn;
  conv_bpf_direct2: Fn;
  /** Adam, by [first step][decay] (see programs.ts adam_step) */
  adam_step: [[Fn, Fn], [Fn, Fn]];
  /** depthwise convolution, NHWC, multiplier 1, c % 4 == 0 (see programs.ts dw_*) */
  dw_fwd: Fn;
  dw_bpi: Fn;
  dw_bpf: Fn;
  /** training-mode batch norm over [rows, c], c % 4 == 0 (see programs.ts bn_*) */
  bn_sum: Fn;
  bn_sqdev: Fn;
  bn_grad_sums: Fn;
  bn_apply: Fn;
  bn_grad_apply: Fn;
  /** ClipByValue's gradient (see programs.ts clip_grad) */
  clip_grad: Fn;
}

interface WasmBackendShape {
  wasm?: { asm?: { memory?: unknown } };
  getMemoryOffset(dataId: object): number;
}

const cache = new WeakMap<WasmMemory, SimdPrograms | null>();
let moduleBytes: Uint8Array | null = null;
let compiled: object | null | undefined;

function compile(): object | null {
  if (compiled !== undefined) return compiled;
  if (WA === undefined) return (compiled = null);
  try {
    moduleBytes ??= emitModule(PROGRAMS);
    compiled = new WA.Module(moduleBytes);
  } catch {
    compiled = null; // no SIMD support in this engine
  }
  return compiled;
}

/** The wasm heap of a tfjs-backend-wasm instance, if `backend` is one with a plain (non-shared) memory. */
function heapOf(backend: tf.KernelBackend): WasmMemory | null {
  const mem = (backend as unknown as WasmBackendShape).wasm?.asm?.memory;
  if (WA === undefined || !(mem instanceof WA.Memory)) return null;
  if (typeof SharedArrayBuffer !== 'undefined' && mem.buffer instanceof SharedArrayBuffer) return null;
  return mem;
}

export function simdPrograms(backend: tf.KernelBackend): SimdPrograms | null {
  const memory = heapOf(backend);
  if (memory === null) return null;
  return programsFor(memory);
}

function programsFor(memory: WasmMemory): SimdPrograms | null {
  if (cache.has(memory)) return cache.get(memory) ?? null;
  const mod = compile();
  let progs: SimdPrograms | null = null;
  if (mod !== null && WA !== undefined) {
    const inst = new WA.Instance(mod, { env: { memory } });
    const e = inst.exports as Record<string, Fn | undefined>;
    progs = {
      relu_grad: e['relu_grad'] as Fn,
      bias_add: e['bias_add'] as Fn,
      col_sum: e['col_sum'] as Fn,
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
      bn_sum: e['bn_sum'] as Fn,
      bn_sqdev: e['bn_sqdev'] as Fn,
      bn_grad_sums: e['bn_grad_sums'] as Fn,
      bn_apply: e['bn_apply'] as Fn,
      bn_grad_apply: e['bn_grad_apply'] as Fn,
      clip_grad: e['clip_grad'] as Fn,
    };
  }
  cache.set(memory, progs);
  return progs;
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
 * The SIMD programs instantiated against a memory of their own, for backends whose tensors live in JS arrays (cpu):
 * callers copy inputs in, run a program, copy results out. Offsets are bytes from 0; `reserve` grows the memory,
 * which detaches earlier views (take `f32()` after it).
 */
export class PrivateHeap {
  private constructor(
    private readonly memory: WasmMemory,
    readonly progs: SimdPrograms,
  ) {}

  /** null when WebAssembly SIMD is unavailable */
  static create(): PrivateHeap | null {
    if (WA === undefined || compile() === null) return null;
    const memory = new WA.Memory({ initial: 16 });
    const progs = programsFor(memory);
    return progs === null ? null : new PrivateHeap(memory, progs);
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
}

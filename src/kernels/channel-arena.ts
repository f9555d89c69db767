/**
 * Per-channel programs over [rows, c] arrays (channels innermost: an NHWC activation as rows = n·h·w), shared by the
 * kernels that need per-channel sums and element-wise passes (batch-norm.ts, act-bias-grad.ts):
 *   - where their arrays live (`arena`: the wasm heap in place, or the cpu backend's arrays / a private SIMD heap);
 *   - the blocked float32 sum (BLOCK rows in order, then the block sums in order from +0: programs.ts BN_BLOCK), as
 *     the plain loop `blockedSum` and as a SIMD program's block partials folded by bn_fold — the same order, so the
 *     two agree bit for bit;
 *   - the split of a program over the threads: element-wise by rows (`byRows`), sums by rows at BLOCK multiples
 *     (`byRowBlocks`); each element and each block is computed by one thread the same way, so no split changes a bit.
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, release } from './kernel-context.js';
import { rawInput } from './raw-memory.js';
import { backendRunner, heapPtr, type Runner, simdPrograms, type SimdPrograms } from './simd/runtime.js';
import { MIN_PARALLEL_MACS, rowBlocks, tileCount } from './simd/tiles.js';
import { withThreads } from './simd/adaptive.js';
import { cpuHeap } from './cpu-simd.js';

/** rows per block of the blocked sums (programs.ts BN_BLOCK) */
export const BLOCK = 32;
const fr = Math.fround;

/** out[ch] = blocked Σ_r term(r·c + ch, ch) in float32 */
export function blockedSum(rows: number, c: number, out: Float32Array, term: (i: number, ch: number) => number): void {
  out.fill(0, 0, c);
  const part = new Float32Array(c);
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    part.fill(0);
    const rEnd = Math.min(rows, r0 + BLOCK);
    for (let r = r0; r < rEnd; r++) {
      const o = r * c;
      for (let ch = 0; ch < c; ch++) part[ch] = fr(part[ch]! + term(o + ch, ch));
    }
    for (let ch = 0; ch < c; ch++) out[ch] = fr(out[ch]! + part[ch]!);
  }
}

interface WasmLike {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}
interface CpuLike {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

export function channelsOf(x: tf.TensorInfo): { rows: number; c: number } {
  const c = x.shape[x.shape.length - 1] ?? 0;
  const n = x.shape.reduce((p, s) => p * s, 1);
  return { rows: c === 0 ? 0 : n / c, c };
}

export function inputsOf(kernel: string, args: KernelArgs, names: string[]): tf.TensorInfo[] {
  return names.map((n) => {
    const t = args.inputs[n];
    if (t == null) throw new Error(`${kernel}: missing input ${n}`);
    if (t.dtype !== 'float32') throw new Error(`${kernel}: input ${n} must be float32`);
    return t;
  });
}

const align4 = (floats: number): number => Math.ceil(floats / 4) * 4;

/**
 * Where a kernel's arrays live. wasm: tensors on the heap, used in place (outputs allocated first; views taken
 * after every allocation). cpu: copies in the private wasm memory when the SIMD programs run, else the backend's
 * own arrays. Either way `view` gives float32 access and `ptr` the program's byte offset.
 */
export interface Arena {
  simd: SimdPrograms | null;
  /** what splits a program over threads on this memory (wasm: only with a shared heap) */
  runner: Runner | null;
  ptr(i: number): number;
  view(i: number): Float32Array;
  /** the TensorInfos of the outputs (indices `outs`), with their shapes */
  finish(): tf.TensorInfo[];
  dispose(): void;
}

export function arena(kernel: string, backendName: string, backend: tf.KernelBackend, ins: tf.TensorInfo[], outShapes: number[][], temps: number[], c: number): Arena {
  const sizes = [...ins.map((t) => t.shape.reduce((p, s) => p * s, 1)), ...outShapes.map((s) => s.reduce((p, q) => p * q, 1)), ...temps];
  const nIn = ins.length;
  const nOut = outShapes.length;
  if (backendName === 'wasm') {
    const w = backend as unknown as WasmLike;
    const infos = [...ins, ...outShapes.map((s) => w.makeOutput(s, 'float32')), ...temps.map((n) => w.makeOutput([n], 'float32'))];
    const progs = c % 4 === 0 ? simdPrograms(backend) : null;
    return {
      simd: progs,
      runner: progs === null ? null : backendRunner(backend),
      ptr: (i) => heapPtr(backend, infos[i]!),
      view: (i) => w.typedArrayFromHeap(infos[i]!),
      finish: () => infos.slice(nIn, nIn + nOut),
      dispose: () => release(backend, ...infos.slice(nIn + nOut)),
    };
  }
  if (backendName !== 'cpu') throw new Error(`${kernel}: no implementation for backend ${backendName}`);
  const cpu = backend as unknown as CpuLike;
  const heap = c % 4 === 0 ? cpuHeap() : null;
  if (heap === null) {
    const arrays = [...ins.map((t) => rawInput(backend, t)), ...sizes.slice(nIn).map((n) => new Float32Array(n))];
    return {
      simd: null,
      runner: null,
      ptr: () => {
        throw new Error(`${kernel}: no SIMD memory`);
      },
      view: (i) => arrays[i]!,
      finish: () => outShapes.map((s, k) => cpu.makeTensorInfo(s, 'float32', arrays[nIn + k])),
      dispose: () => {},
    };
  }
  const at: number[] = [];
  let o = 0;
  for (const n of sizes) {
    at.push(o);
    o += align4(n);
  }
  heap.reserve(4 * o);
  const f = heap.f32();
  ins.forEach((t, i) => f.set(rawInput(backend, t), at[i]!));
  return {
    simd: heap.progs,
    runner: heap,
    ptr: (i) => 4 * at[i]!,
    view: (i) => heap.f32().subarray(at[i]!, at[i]! + sizes[i]!),
    finish: () => outShapes.map((s, k) => cpu.makeTensorInfo(s, 'float32', heap.f32().slice(at[nIn + k]!, at[nIn + k]! + sizes[nIn + k]!))),
    dispose: () => {},
  };
}

/**
 * An element-wise program over [rows, c] (bn_apply, bn_grad_apply: args then rows, c) split into row blocks over the
 * threads (`rowed`: the indices of the [rows, c] arrays among args); each element is computed the same way by one
 * thread, so the split never changes a bit. With `threads: auto`, only where it is measured to pay (adaptive.ts).
 */
export type RowProgram = 'bn_apply' | 'bn_apply_relu' | 'bn_apply_clamp' | 'bn_grad_apply' | 'col_scale';
export function byRows(m: Arena, fn: RowProgram, args: number[], rowed: number[], rows: number, c: number, tail: number[] = []): void {
  const runner = m.runner;
  const one = (): void => m.simd![fn](...args, rows, c, ...tail);
  if (runner === null || runner.threads() < 2 || rows * c * 4 < MIN_PARALLEL_MACS) return one();
  withThreads(`${fn} ${rows}x${c}`, (t) => {
    if (t < 2) return one();
    runner.parallel(
      rowBlocks(rows, tileCount(t, rows), 1).map(([r0, r1]) => ({
        fn,
        args: [...args.map((a, i) => (rowed.includes(i) ? a + 4 * r0 * c : a)), r1 - r0, c, ...tail],
      })),
      t,
    );
  });
}

/** Floats of the [⌈rows / BLOCK⌉, c] scratch of a sum's block partials (SIMD programs only: c % 4 == 0). */
export const partialsSize = (rows: number, c: number): number => (c % 4 === 0 ? Math.ceil(rows / BLOCK) * c : 0);

/** the SIMD programs summing per channel by 32-row blocks (programs.ts) */
export type SumProgram = 'bn_sum' | 'bn_sqdev' | 'bn_grad_sums' | 'bn_grad_sums_mask' | 'clip_grad_sum' | 'fold_grad';

/**
 * A per-channel sum program over [rows, c] (bn_sum, bn_sqdev, bn_grad_sums[_mask]: args then rows, c, tail): it
 * stores the sums of each 32-row block in a [⌈rows / BLOCK⌉, c] scratch per output (`outs`: the indices of the
 * outputs among args, `parts` their scratch pointers), and bn_fold adds them in block order from +0 into the outputs.
 * Over the threads, split by rows at multiples of BLOCK (each call with the [rows, c] arrays `rowed` from its first
 * row, its blocks' rows of the scratch): each block is summed by one thread the same way and the fold is the same,
 * so the split never changes a bit, and each thread reads its own rows. With `threads: auto`, only where it is
 * measured to pay (adaptive.ts).
 */
export function byRowBlocks(m: Arena, fn: SumProgram, args: number[], rowed: number[], outs: number[], parts: number[], rows: number, c: number, tail: number[] = []): void {
  const runner = m.runner;
  const nBlocks = Math.ceil(rows / BLOCK);
  const call = (r0: number, r1: number): { fn: string; args: number[] } => ({
    fn,
    args: [
      ...args.map((a, i) => {
        if (rowed.includes(i)) return a + 4 * r0 * c;
        const k = outs.indexOf(i);
        return k < 0 ? a : parts[k]! + 4 * (r0 / BLOCK) * c;
      }),
      r1 - r0, c, ...tail,
    ],
  });
  const one = (): void => m.simd![fn](...call(0, rows).args);
  if (runner === null || runner.threads() < 2 || nBlocks < 2 || rows * c * 4 < MIN_PARALLEL_MACS) one();
  else {
    withThreads(`${fn} ${rows}x${c}`, (t) => {
      const blocks = t < 2 ? [] : rowBlocks(rows, tileCount(t, nBlocks), BLOCK);
      if (blocks.length < 2) return one();
      runner.parallel(blocks.map(([r0, r1]) => call(r0, r1)), t);
    });
  }
  outs.forEach((o, k) => m.simd!.bn_fold(parts[k]!, args[o]!, nBlocks, c));
}

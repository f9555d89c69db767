/**
 * `FastlrAdamStep`: one fastai Adam step of one parameter as a single kernel (three outputs: new p, m, v).
 *
 * FastOptimizer's op-by-op Adam runs ~12 kernels per parameter (and on wasm a scalar, unvectorised Sqrt): on the
 * MNIST MLP's 784×256 weight that is a dozen passes over 200k floats plus the dispatch of each op, every step.
 * This kernel reads p, g, m, v once and writes the three results once, performing exactly the same float32
 * operations in the same order (see programs.ts adam_step), so it is bit-identical to the op path computed with
 * exactly rounded float32 arithmetic (the cpu backend, torch). Registered for wasm (SIMD program; a plain loop
 * when the engine has no SIMD) and cpu (the same program in a private memory; the plain loop without SIMD); on any other backend FastOptimizer keeps its op path.
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, type MultiKernel } from './kernel-context.js';
import { ADAM_COEFS } from './simd/programs.js';
import { cpuHeap } from './cpu-simd.js';
import { backendRunner, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';

export const ADAM_STEP_KERNEL = 'FastlrAdamStep';

/** The float64 coefficients of one step (rounded to float32 by the kernel, as tf.scalar would). */
export interface AdamCoefs {
  /** 1 − lr·wd; used only when `decay` */
  decay: number;
  mom: number;
  beta2: number;
  /** 1 − β2^t */
  debias2: number;
  /** −lr / (1 − mom^t) */
  stepSize: number;
  eps: number;
}

/** Kernel attributes: the coefficients plus the two variant flags. */
export type AdamAttrs = AdamCoefs & { first: boolean; decayOn: boolean };

/** The float32 coefficients of `a` in ADAM_COEFS order (what the SIMD program reads at `coef`). */
export function coefArray(a: AdamAttrs): Float32Array {
  const v: Record<(typeof ADAM_COEFS)[number], number> = {
    decay: a.decay,
    mom: a.mom,
    oneMinusMom: 1 - a.mom,
    beta2: a.beta2,
    oneMinusBeta2: 1 - a.beta2,
    debias2: a.debias2,
    stepSize: a.stepSize,
    eps: a.eps,
  };
  return Float32Array.from(ADAM_COEFS.map((k) => v[k]));
}

function readAttrs(attrs: tf.NamedAttrMap | undefined): AdamAttrs {
  const a = attrs ?? {};
  const num = (k: string): number => {
    const x = a[k];
    if (typeof x !== 'number') throw new Error(`${ADAM_STEP_KERNEL}: attribute ${k} must be a number`);
    return x;
  };
  return {
    decay: num('decay'),
    mom: num('mom'),
    beta2: num('beta2'),
    debias2: num('debias2'),
    stepSize: num('stepSize'),
    eps: num('eps'),
    first: a['first'] === true,
    decayOn: a['decayOn'] === true,
  };
}

/** One parameter's tensors (m, v null on its first step) and its size. */
export interface Inputs {
  p: tf.TensorInfo;
  g: tf.TensorInfo;
  m: tf.TensorInfo | null;
  v: tf.TensorInfo | null;
  n: number;
}

function readInputs(args: KernelArgs, first: boolean): Inputs {
  const { p, g, m, v } = args.inputs;
  return paramInputs(ADAM_STEP_KERNEL, first, p, g, m, v);
}

/** Checks one parameter's inputs (float32, all of p's size; m and v present unless `first`). */
export function paramInputs(
  kernel: string,
  first: boolean,
  p: tf.TensorInfo | undefined,
  g: tf.TensorInfo | undefined,
  m: tf.TensorInfo | undefined,
  v: tf.TensorInfo | undefined,
): Inputs {
  if (p == null || g == null) throw new Error(`${kernel}: missing p or g`);
  const n = p.shape.reduce((a, b) => a * b, 1);
  const all = first ? [p, g] : [p, g, m, v];
  for (const t of all) {
    if (t == null) throw new Error(`${kernel}: missing m or v`);
    if (t.dtype !== 'float32') throw new Error(`${kernel}: inputs must be float32, got ${t.dtype}`);
    if (t.shape.reduce((a, b) => a * b, 1) !== n) throw new Error(`${kernel}: inputs differ in size`);
  }
  return { p, g, m: first ? null : (m ?? null), v: first ? null : (v ?? null), n };
}

/** The plain-JS form of the SIMD program: every operation rounded to float32. */
export function adamLoop(
  a: AdamAttrs,
  k: Float32Array,
  p: Float32Array,
  g: Float32Array,
  m: Float32Array | null,
  v: Float32Array | null,
  outP: Float32Array,
  outM: Float32Array,
  outV: Float32Array,
  n: number,
): void {
  const f = Math.fround;
  const at = (i: number): number => k[i] ?? NaN;
  const [kDecay, kMom, kOneMinusMom, kBeta2, kOneMinusBeta2, kDebias2, kStep, kEps] = ADAM_COEFS.map((_, i) => at(i)) as [
    number, number, number, number, number, number, number, number,
  ];
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const g2 = f(f(gi * kOneMinusBeta2) * gi);
    const mi = m === null ? f(gi * kOneMinusMom) : f(f(m[i]! * kMom) + f(gi * kOneMinusMom));
    const vi = v === null ? g2 : f(f(v[i]! * kBeta2) + g2);
    outM[i] = mi;
    outV[i] = vi;
    const pi = a.decayOn ? f(p[i]! * kDecay) : p[i]!;
    outP[i] = f(pi + f(f(mi * kStep) / f(f(Math.sqrt(f(vi / kDebias2))) + kEps)));
  }
}

export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
}

export interface CpuBackendLike {
  readSync(dataId: object): unknown;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

/** The wasm kernel: SIMD when the engine has it, else the plain loop on heap views. */
export function adamStepWasm(): MultiKernel {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const a = readAttrs(args.attrs);
    const x = readInputs(args, a.first);
    const backend = args.backend as unknown as WasmBackendLike;
    const shape = x.p.shape.slice();
    const outs = [backend.makeOutput(shape, 'float32'), backend.makeOutput(shape, 'float32'), backend.makeOutput(shape, 'float32')];
    const coef = backend.makeOutput([ADAM_COEFS.length], 'float32');
    // views only after the last allocation (an allocation may grow the heap and detach earlier views)
    const k = coefArray(a);
    (backend.typedArrayFromHeap(coef) as Float32Array).set(k);
    const progs = simdPrograms(args.backend);
    const [oP, oM, oV] = outs as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
    if (progs !== null) {
      const ptr = (t: tf.TensorInfo | null): number => (t === null ? 0 : heapPtr(args.backend, t));
      const fn = progs.adam_step[a.first ? 1 : 0][a.decayOn ? 1 : 0];
      const name = `adam_step${a.first ? '_first' : ''}${a.decayOn ? '_decay' : ''}`;
      const ps = [x.p, x.g, x.m, x.v, oP, oM, oV].map(ptr);
      const pk = ptr(coef);
      // split by element blocks over the shared heap's threads (each element one thread: the same bits)
      runSplit(
        backendRunner(args.backend),
        { key: `${name} ${x.n}`, units: x.n, bytes: 28 * x.n, align: 4, block: (u0, u1) => ({ fn: name, args: [...ps.map((q) => (q === 0 ? 0 : q + 4 * u0)), u1 - u0, pk] }) },
        () => fn(...ps, x.n, pk),
      );
    } else {
      const view = (t: tf.TensorInfo | null): Float32Array | null => (t === null ? null : (backend.typedArrayFromHeap(t) as Float32Array));
      adamLoop(a, k, view(x.p)!, view(x.g)!, view(x.m), view(x.v), view(oP)!, view(oM)!, view(oV)!, x.n);
    }
    backend.disposeData(coef.dataId);
    return outs;
  };
}

/**
 * One parameter's step on the cpu backend: the SIMD program on copies in a private wasm memory (cpu-simd.ts), else
 * the plain loop. Returns the new p, m, v.
 */
export function adamCpuOne(backend: CpuBackendLike, a: AdamAttrs, x: Inputs): tf.TensorInfo[] {
  const read = (t: tf.TensorInfo | null): Float32Array | null => (t === null ? null : (backend.readSync(t.dataId) as Float32Array));
  const outP = new Float32Array(x.n);
  const outM = new Float32Array(x.n);
  const outV = new Float32Array(x.n);
  const heap = cpuHeap();
  if (heap === null) {
    adamLoop(a, coefArray(a), read(x.p)!, read(x.g)!, read(x.m), read(x.v), outP, outM, outV, x.n);
  } else {
    // the SIMD program on copies in the private heap: [p, g, m, v, outP, outM, outV] of n floats, then the coefficients
    const n = x.n;
    const at = (slot: number): number => 4 * slot * n;
    heap.reserve(at(7) + 4 * ADAM_COEFS.length);
    const f = heap.f32();
    [x.p, x.g, x.m, x.v].forEach((t, slot) => {
      const d = read(t);
      if (d !== null) f.set(d.subarray(0, n), slot * n);
    });
    f.set(coefArray(a), 7 * n);
    const fn = heap.progs.adam_step[a.first ? 1 : 0][a.decayOn ? 1 : 0];
    fn(at(0), at(1), at(2), at(3), at(4), at(5), at(6), n, at(7));
    outP.set(f.subarray(4 * n, 5 * n));
    outM.set(f.subarray(5 * n, 6 * n));
    outV.set(f.subarray(6 * n, 7 * n));
  }
  const shape = x.p.shape.slice();
  return [outP, outM, outV].map((d) => backend.makeTensorInfo(shape, 'float32', d));
}

/** The cpu kernel (adamCpuOne). */
export function adamStepCpu(): MultiKernel {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const a = readAttrs(args.attrs);
    return adamCpuOne(args.backend as unknown as CpuBackendLike, a, readInputs(args, a.first));
  };
}

/** Whether FastlrAdamStep is registered on the active backend. */
export function adamStepAvailable(): boolean {
  return tf.getKernel(ADAM_STEP_KERNEL, tf.getBackend()) != null;
}

/**
 * Run the kernel: `m`/`v` null on the parameter's first step (then they are not read). Returns the new p, m, v,
 * tracked by the caller's scope.
 */
export function adamStep(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor | null,
  v: tf.Tensor | null,
  c: AdamCoefs,
  decayOn: boolean,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const first = m === null || v === null;
  const inputs: tf.NamedTensorMap = first ? { p, g } : { p, g, m, v };
  const attrs: AdamAttrs = { ...c, first, decayOn };
  const out = tf.engine().runKernel(ADAM_STEP_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap);
  if (!Array.isArray(out) || out.length !== 3) throw new Error(`${ADAM_STEP_KERNEL}: expected three outputs`);
  return out as [tf.Tensor, tf.Tensor, tf.Tensor];
}

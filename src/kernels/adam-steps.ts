/**
 * `FastlrAdamSteps`: FastlrAdamStep (adam-step.ts) for every parameter of an optimizer step in ONE kernel call.
 *
 * One call per parameter costs, besides the pass over its floats, an engine dispatch, four heap allocations (three
 * outputs and the coefficients) and, at several threads, a thread choice and a pool round trip: on a net of many small
 * parameters (MobileNetV2: 158, most of them BatchNorm γ/β of a few hundred floats) that is most of the optimizer's
 * time. Here one dispatch allocates all outputs and ONE coefficient table (eight float32 per parameter), runs the
 * same adam_step program per parameter (so every result is bit-identical to FastlrAdamStep's), and at several threads
 * splits all parameters' elements in one pool run (simd/split.ts runSplitAll).
 *
 * Inputs p0, g0, m0, v0, p1, … (m_i, v_i absent on parameter i's first step); attributes: `first` and `decayOn` (one
 * flag per parameter) and `coefs` (per parameter: decay, mom, beta2, debias2, stepSize, eps, float64 as computed by
 * FastOptimizer). Outputs: new p_i, m_i, v_i for each parameter in order (3·count tensors).
 */
import * as tf from '@tensorflow/tfjs';
import { type KernelArgs, type MultiKernel } from './kernel-context.js';
import { ADAM_COEFS } from './simd/programs.js';
import { backendRunner, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplitAll, type SplitPart } from './simd/split.js';
import {
  adamCpuOne,
  adamLoop,
  coefArray,
  paramInputs,
  type AdamAttrs,
  type AdamCoefs,
  type CpuBackendLike,
  type Inputs,
  type WasmBackendLike,
} from './adam-step.js';

export const ADAM_STEPS_KERNEL = 'FastlrAdamSteps';

/** the float64 coefficients of one parameter in `coefs`, in this order */
const COEF_KEYS = ['decay', 'mom', 'beta2', 'debias2', 'stepSize', 'eps'] as const satisfies readonly (keyof AdamCoefs)[];

/** One parameter's step: its inputs, coefficients and variant. */
export interface AdamParamStep {
  p: tf.Tensor;
  g: tf.Tensor;
  /** null on the parameter's first step (then neither is read) */
  m: tf.Tensor | null;
  v: tf.Tensor | null;
  coefs: AdamCoefs;
  decayOn: boolean;
}

function readAll(args: KernelArgs): { attrs: AdamAttrs[]; inputs: Inputs[] } {
  const a = args.attrs ?? {};
  const first = a['first'];
  const decayOn = a['decayOn'];
  const coefs = a['coefs'];
  if (!Array.isArray(first) || !Array.isArray(decayOn) || !Array.isArray(coefs)) {
    throw new Error(`${ADAM_STEPS_KERNEL}: attributes first, decayOn and coefs must be arrays`);
  }
  const count = first.length;
  if (decayOn.length !== count || coefs.length !== COEF_KEYS.length * count) {
    throw new Error(`${ADAM_STEPS_KERNEL}: ${count} parameters need ${count} decayOn flags and ${COEF_KEYS.length * count} coefficients`);
  }
  const attrs: AdamAttrs[] = [];
  const inputs: Inputs[] = [];
  for (let i = 0; i < count; i++) {
    const num = (j: number): number => {
      const x = coefs[COEF_KEYS.length * i + j];
      if (typeof x !== 'number') throw new Error(`${ADAM_STEPS_KERNEL}: coefficient ${j} of parameter ${i} must be a number`);
      return x;
    };
    const at: AdamAttrs = {
      decay: num(0),
      mom: num(1),
      beta2: num(2),
      debias2: num(3),
      stepSize: num(4),
      eps: num(5),
      first: first[i] === true,
      decayOn: decayOn[i] === true,
    };
    attrs.push(at);
    const x = args.inputs;
    inputs.push(paramInputs(ADAM_STEPS_KERNEL, at.first, x[`p${i}`], x[`g${i}`], x[`m${i}`], x[`v${i}`]));
  }
  return { attrs, inputs };
}

/** The wasm kernel: the adam_step SIMD program per parameter (a plain loop without SIMD), one split for all. */
export function adamStepsWasm(): MultiKernel {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const { attrs, inputs } = readAll(args);
    const count = attrs.length;
    const backend = args.backend as unknown as WasmBackendLike;
    const outs: tf.TensorInfo[] = [];
    for (const x of inputs) {
      const shape = x.p.shape.slice();
      for (let k = 0; k < 3; k++) outs.push(backend.makeOutput(shape, 'float32'));
    }
    if (count === 0) return outs;
    const stride = ADAM_COEFS.length;
    const coef = backend.makeOutput([stride * count], 'float32');
    // views only after the last allocation (an allocation may grow the heap and detach earlier views)
    const table = backend.typedArrayFromHeap(coef) as Float32Array;
    const ks = attrs.map((a, i) => {
      const k = coefArray(a);
      table.set(k, stride * i);
      return k;
    });
    const progs = simdPrograms(args.backend);
    if (progs !== null) {
      const ptr = (t: tf.TensorInfo | null): number => (t === null ? 0 : heapPtr(args.backend, t));
      const pk = ptr(coef);
      const steps = inputs.map((x, i) => {
        const a = attrs[i]!;
        return {
          fn: progs.adam_step[a.first ? 1 : 0][a.decayOn ? 1 : 0],
          name: `adam_step${a.first ? '_first' : ''}${a.decayOn ? '_decay' : ''}`,
          ps: [x.p, x.g, x.m, x.v, outs[3 * i]!, outs[3 * i + 1]!, outs[3 * i + 2]!].map(ptr),
          n: x.n,
          k: pk + 4 * stride * i,
        };
      });
      const parts: SplitPart[] = steps.map((s) => ({
        units: s.n,
        bytes: 28 * s.n,
        align: 4,
        block: (u0: number, u1: number) => ({ fn: s.name, args: [...s.ps.map((q) => (q === 0 ? 0 : q + 4 * u0)), u1 - u0, s.k] }),
      }));
      const total = steps.reduce((sum, s) => sum + s.n, 0);
      runSplitAll(backendRunner(args.backend), `adam_steps ${count} ${total}`, parts, () => {
        for (const s of steps) s.fn(...s.ps, s.n, s.k);
      });
    } else {
      const view = (t: tf.TensorInfo | null): Float32Array | null => (t === null ? null : (backend.typedArrayFromHeap(t) as Float32Array));
      inputs.forEach((x, i) => {
        adamLoop(attrs[i]!, ks[i]!, view(x.p)!, view(x.g)!, view(x.m), view(x.v), view(outs[3 * i]!)!, view(outs[3 * i + 1]!)!, view(outs[3 * i + 2]!)!, x.n);
      });
    }
    backend.disposeData(coef.dataId);
    return outs;
  };
}

/** The cpu kernel: FastlrAdamStep's cpu step per parameter. */
export function adamStepsCpu(): MultiKernel {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const { attrs, inputs } = readAll(args);
    const backend = args.backend as unknown as CpuBackendLike;
    return inputs.flatMap((x, i) => adamCpuOne(backend, attrs[i]!, x));
  };
}

/** Whether FastlrAdamSteps is registered on the active backend. */
export function adamStepsAvailable(): boolean {
  return tf.getKernel(ADAM_STEPS_KERNEL, tf.getBackend()) != null;
}

/** Run the kernel over `steps`; returns each parameter's new [p, m, v], tracked by the caller's scope. */
export function adamSteps(steps: readonly AdamParamStep[]): [tf.Tensor, tf.Tensor, tf.Tensor][] {
  if (steps.length === 0) return [];
  const inputs: tf.NamedTensorMap = {};
  const first: boolean[] = [];
  const decayOn: boolean[] = [];
  const coefs: number[] = [];
  steps.forEach((s, i) => {
    const isFirst = s.m === null || s.v === null;
    inputs[`p${i}`] = s.p;
    inputs[`g${i}`] = s.g;
    if (!isFirst) {
      inputs[`m${i}`] = s.m as tf.Tensor;
      inputs[`v${i}`] = s.v as tf.Tensor;
    }
    first.push(isFirst);
    decayOn.push(s.decayOn);
    for (const k of COEF_KEYS) coefs.push(s.coefs[k]);
  });
  const out = tf.engine().runKernel(ADAM_STEPS_KERNEL, inputs, { first, decayOn, coefs });
  if (!Array.isArray(out) || out.length !== 3 * steps.length) throw new Error(`${ADAM_STEPS_KERNEL}: expected ${3 * steps.length} outputs`);
  const ts = out as tf.Tensor[];
  return steps.map((_, i) => [ts[3 * i]!, ts[3 * i + 1]!, ts[3 * i + 2]!]);
}

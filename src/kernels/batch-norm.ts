/**
 * Training-mode BatchNormalization as two kernels and one gradient, instead of tfjs's op chain (moments → Mean,
 * Sub, Square, Mean; FusedBatchNorm; and a gradient of Tile, Sub, Multiply ×8, Rsqrt, Sum ×4 plus the moments'
 * own gradients over full-size tensors): on cpu those were most of a MobileNetV2 step, on wasm Tile alone was
 * ~45% of it.
 *
 *   FastlrBatchNormTrain(x, scale, offset; varianceEpsilon) → [y, mean, variance], over every axis but the last:
 *     mean = Σx / M, variance = Σ(x − mean)² / M (biased, as tf.moments), y = (x − mean)·(scale / √(variance + ε)) + offset
 *   its gradient, with r = 1/√(variance + ε), in two kernels (a BN layer whose input needs no gradient — the first
 *   one of a frozen body — runs only the first):
 *   FastlrBatchNormGradSums(x, dy, mean, variance) → [dscale, doffset] = [r·Σdy(x − mean), Σdy]
 *   FastlrBatchNormGradInput(x, dy, scale, mean, variance, dscale, doffset[, dmean, dvariance]) → dx
 *     = dy·(scale·r) + (x − mean)·(2·dvariance/M − scale·r²·dscale/M) + (dmean/M − scale·r·doffset/M)
 *   (the exact derivative, through the batch statistics; dmean/dvariance are the gradients reaching the statistics
 *   outputs, absent when only the moving averages read them.)
 * Sums are blocked (32 rows in order, then block sums in order: programs.ts BN_BLOCK), the same order in the SIMD
 * programs (c % 4 == 0) and in the plain float32 loops here (other channel counts, no WebAssembly SIMD), so the two
 * agree bit for bit. Per-channel coefficients are computed in float64 and rounded once.
 *
 * With an activation (attr `activation`: relu, relu6 — a BN whose output only a ReLU / ReLU6 layer reads, planned per
 * model: fold-plan.ts planBnActs, conv-bn-fold.ts plannedBnActivation), FastlrBatchNormTrain's y is act(BN(x)),
 * computed in the apply pass with the activation kernels' own operations (wasm: bn_apply_relu / bn_apply_clamp, as
 * unary-programs.ts; cpu: their loops after the apply), and the activation layer passes y through. Its gradient's
 * mask, on z = (x − mean)·s + offset recomputed with the apply pass's operations (s rounded as the forward did), is
 * the activation's gradient kernel's (relu: z > 0, FastlrReluGrad; ReLU6: 0 < z ≤ 6, its FastlrClipGrad pass):
 * FastlrBatchNormGradSums masks dy into dz while it sums (and returns dz, FastlrBatchNormGradInput's dy), so every
 * output and gradient is the BN then the activation bit for bit, without the activation's two full-size passes.
 *
 * tfjs-layers' BatchNormalization computes its training branch with module-private functions, so the layer is
 * patched at the prototype (installBatchNormTraining): `call` runs the original whenever the fused kernel is not
 * registered on the active backend (e.g. FASTLR_KERNELS=stock), the call is not in training mode, or the layer is
 * unusual (axis not last, center/scale off, not float32); otherwise the same semantics — batch statistics, then
 * the moving mean and variance updated exactly as tfjs-layers does (v − (v − stat)·(1 − momentum)), the layer's
 * epsilon. Wrappers of `call` on an instance (BN mode control) still see and decide `training` first.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, type MultiKernel } from './kernel-context.js';
import { rawInput } from './raw-memory.js';
import { simdPrograms } from './simd/runtime.js';
import { type Arena, arena, blockedSum, byRowBlocks, byRows, channelsOf, inputsOf, partialsSize } from './channel-arena.js';
import { layerPatch, type LayerCall } from './layer-patch.js';
import { MIN_POSITIVE } from './relu6.js';
import { RELU_GRAD_KERNEL } from './relu-grad.js';
import { CLIP_GRAD_KERNEL } from './clip-grad.js';
import { passThrough, plannedBnActivation } from './conv-bn-fold.js';
import { movingAverages, movingAveragesAvailable } from './moving-average.js';

export const BN_TRAIN_KERNEL = 'FastlrBatchNormTrain';
export const BN_GRAD_SUMS_KERNEL = 'FastlrBatchNormGradSums';
export const BN_GRAD_INPUT_KERNEL = 'FastlrBatchNormGradInput';

const fr = Math.fround;

/** The activation a training-mode BN computes after itself (attr `activation` of the three kernels). */
export type BnActivation = 'linear' | 'relu' | 'relu6';

function activationOf(kernel: string, attrs: tf.NamedAttrMap | undefined): BnActivation {
  const a = attrs?.['activation'] ?? 'linear';
  for (const known of ['linear', 'relu', 'relu6'] as const) if (a === known) return known;
  throw new Error(`${kernel}: unknown activation ${String(a)}`);
}

/**
 * The gradient mask of an activation on its input z, as [lo, hi] with lo ≤ z ≤ hi: relu's z > 0 (FastlrReluGrad) and
 * ReLU6's 0 < z ≤ 6 (its FastlrClipGrad pass, relu6.ts); NaN z is outside both.
 */
const MASK_BOUNDS: Record<'relu' | 'relu6', [number, number]> = { relu: [MIN_POSITIVE, Infinity], relu6: [MIN_POSITIVE, 6] };
const f32Bits = (v: number): number => new Int32Array(Float32Array.of(v).buffer)[0]!;
/** the mask's bounds as the SIMD programs take them (float32 bit patterns) */
const maskBits = (act: BnActivation): number[] => (act === 'linear' ? [] : MASK_BOUNDS[act].map(f32Bits));

/** z = (x − mean)·s + shift recomputed per element (the apply pass's operations) and the bounds of its mask. */
interface LoopMask {
  s: Float32Array;
  shift: Float32Array;
  lo: number;
  hi: number;
}

// ----------------------------------------------------------------------------------------- the plain loops (spec)
const loops = {
  sum(x: Float32Array, out: Float32Array, rows: number, c: number): void {
    blockedSum(rows, c, out, (i) => x[i]!);
  },
  sqdev(x: Float32Array, mean: Float32Array, out: Float32Array, rows: number, c: number): void {
    blockedSum(rows, c, out, (i, ch) => {
      const d = fr(x[i]! - mean[ch]!);
      return fr(d * d);
    });
  },
  gradSums(x: Float32Array, dy: Float32Array, mean: Float32Array, sdy: Float32Array, sdyx: Float32Array, rows: number, c: number): void {
    blockedSum(rows, c, sdy, (i) => dy[i]!);
    blockedSum(rows, c, sdyx, (i, ch) => fr(dy[i]! * fr(x[i]! - mean[ch]!)));
  },
  /** dz = dy where lo ≤ z ≤ hi, z = (x − mean)·s + shift as the apply pass computes it (NaN z: 0), else 0 */
  mask(x: Float32Array, dy: Float32Array, mean: Float32Array, mask: LoopMask, dz: Float32Array, rows: number, c: number): void {
    for (let r = 0, o = 0; r < rows; r++, o += c) {
      for (let ch = 0; ch < c; ch++) {
        const i = o + ch;
        const z = fr(fr(fr(x[i]! - mean[ch]!) * mask.s[ch]!) + mask.shift[ch]!);
        dz[i] = z >= mask.lo && z <= mask.hi ? dy[i]! : 0;
      }
    }
  },
  apply(x: Float32Array, mean: Float32Array, scale: Float32Array, shift: Float32Array, out: Float32Array, rows: number, c: number): void {
    for (let r = 0, o = 0; r < rows; r++, o += c) {
      for (let ch = 0; ch < c; ch++) out[o + ch] = fr(fr(fr(x[o + ch]! - mean[ch]!) * scale[ch]!) + shift[ch]!);
    }
  },
  gradApply(x: Float32Array, dy: Float32Array, mean: Float32Array, a: Float32Array, k: Float32Array, b: Float32Array, out: Float32Array, rows: number, c: number): void {
    for (let r = 0, o = 0; r < rows; r++, o += c) {
      for (let ch = 0; ch < c; ch++) {
        const i = o + ch;
        out[i] = fr(fr(dy[i]! * a[ch]!) + fr(fr(fr(x[i]! - mean[ch]!) * k[ch]!) + b[ch]!));
      }
    }
  },
  /** the cpu backend's activation kernels in place: Relu (ours, cpu-elementwise.ts) and tfjs-cpu's Relu6 */
  activateCpu(y: Float32Array, act: 'relu' | 'relu6'): void {
    if (act === 'relu') {
      for (let i = 0; i < y.length; i++) {
        const v = y[i]!;
        y[i] = v > 0 || v !== v ? v : 0;
      }
    } else {
      for (let i = 0; i < y.length; i++) y[i] = Math.min(Math.max(0, y[i]!), 6);
    }
  },
};

/** s = γ/√(variance + ε) per channel (float64, rounded once): the apply pass's normalising scale */
function normalisingScale(gamma: Float32Array, variance: Float32Array, eps: number, out: Float32Array): void {
  for (let ch = 0; ch < out.length; ch++) out[ch] = gamma[ch]! / Math.sqrt(variance[ch]! + eps);
}

// -------------------------------------------------------------------------------------------------- the kernels

/**
 * Whether a training-mode BN can compute `act` after itself on the active backend bit for bit as the activation's
 * own kernels, forward and backward: cpu; wasm with the SIMD programs (its Relu / Relu6 are then those programs);
 * and the activation's gradient kernel ours (FastlrReluGrad, FastlrClipGrad), whose mask the BN gradient applies.
 */
export function bnActivationAvailable(act: 'relu' | 'relu6'): boolean {
  const name = tf.getBackend();
  if (tf.getKernel(BN_TRAIN_KERNEL, name) == null || tf.getKernel(act === 'relu' ? RELU_GRAD_KERNEL : CLIP_GRAD_KERNEL, name) == null) return false;
  return name === 'cpu' || (name === 'wasm' && simdPrograms(tf.backend()) !== null);
}

/**
 * y = act(BN(x)) in place on the output (index `out` of the arena, holding BN(x)): the wasm
 * backend's activation programs (unary-programs.ts relu / clip, as its Relu and Relu6 kernels), or the cpu
 * backend's kernels' loops.
 */
function activateInPlace(backendName: string, backend: tf.KernelBackend, m: Arena, out: number, n: number, act: 'relu' | 'relu6'): void {
  if (backendName === 'wasm') {
    const progs = simdPrograms(backend);
    if (progs === null) throw new Error(`${BN_TRAIN_KERNEL}: activation ${act} needs the SIMD programs on wasm`);
    const p = m.ptr(out);
    if (act === 'relu') progs.relu(p, p, n);
    else progs.clip(p, p, n, f32Bits(0), f32Bits(6));
    return;
  }
  loops.activateCpu(m.view(out), act);
}

/** FastlrBatchNormTrain(x, scale, offset; varianceEpsilon, activation) → [y, mean, variance] (y after the activation) */
export function bnTrainKernel(backendName: string): MultiKernel {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const ins = inputsOf(BN_TRAIN_KERNEL, args, ['x', 'scale', 'offset']);
    const x = ins[0]!;
    const eps = Number(args.attrs?.['varianceEpsilon'] ?? 1e-3);
    const act = activationOf(BN_TRAIN_KERNEL, args.attrs);
    const { rows, c } = channelsOf(x);
    // 0 x, 1 gamma, 2 beta | 3 y, 4 mean, 5 variance | 6 normalising scale, 7 block partials (both sums in turn)
    const m = arena(BN_TRAIN_KERNEL, backendName, args.backend, ins, [x.shape.slice(), [c], [c]], [c, partialsSize(rows, c)], c);
    try {
      const p = m.simd;
      if (p) byRowBlocks(m, 'bn_sum', [m.ptr(0), m.ptr(4)], [0], [1], [m.ptr(7)], rows, c);
      else loops.sum(m.view(0), m.view(4), rows, c);
      const mean = m.view(4);
      for (let ch = 0; ch < c; ch++) mean[ch] = mean[ch]! / rows;
      if (p) byRowBlocks(m, 'bn_sqdev', [m.ptr(0), m.ptr(4), m.ptr(5)], [0], [2], [m.ptr(7)], rows, c);
      else loops.sqdev(m.view(0), m.view(4), m.view(5), rows, c);
      const v = m.view(5);
      for (let ch = 0; ch < c; ch++) v[ch] = v[ch]! / rows;
      normalisingScale(m.view(1), v, eps, m.view(6));
      const applyArgs = (): number[] => [m.ptr(0), m.ptr(4), m.ptr(6), m.ptr(2), m.ptr(3)];
      // wasm's SIMD programs compute the activation in the apply pass; elsewhere it runs in place after it
      const fused = p !== null && backendName === 'wasm' && act !== 'linear';
      if (fused && act === 'relu') byRows(m, 'bn_apply_relu', applyArgs(), [0, 4], rows, c);
      else if (fused) byRows(m, 'bn_apply_clamp', applyArgs(), [0, 4], rows, c, [f32Bits(0), f32Bits(6)]);
      else if (p) byRows(m, 'bn_apply', applyArgs(), [0, 4], rows, c);
      else loops.apply(m.view(0), m.view(4), m.view(6), m.view(2), m.view(3), rows, c);
      if (!fused && act !== 'linear') activateInPlace(backendName, args.backend, m, 3, rows * c, act);
      return m.finish();
    } finally {
      m.dispose();
    }
  };
}

/**
 * FusedBatchNorm(x, mean, variance, offset, scale; varianceEpsilon) — BatchNorm in inference mode (running
 * statistics: validation, prediction, model.bn_freeze, model.bn_inference) — as one pass of the training kernel's
 * apply program: y = (x − mean)·s + offset with s = scale/√(variance + ε) per channel (float64, rounded once). The
 * stock wasm kernel was ~40% of a frozen-body MobileNetV2 step. Anything else (no scale or offset, statistics not
 * 1-D over the last axis, not float32) goes to the stock kernel.
 */
export function bnInferenceKernel(backendName: string, stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const names = ['x', 'mean', 'variance', 'offset', 'scale'];
    const ins = names.map((n) => args.inputs[n]);
    const x = ins[0];
    const c = x?.shape[x.shape.length - 1] ?? 0;
    const covered =
      x !== undefined && x.shape.length >= 2 && c > 0 &&
      ins.every((t, i) => t != null && t.dtype === 'float32' && (i === 0 || (t.shape.length === 1 && t.shape[0] === c)));
    if (!covered) return stock(args);
    const eps = Number(args.attrs?.['varianceEpsilon'] ?? 1e-3);
    const { rows } = channelsOf(x);
    // 0 x, 1 mean, 2 variance, 3 offset, 4 scale | 5 y | 6 normalising scale
    const m = arena('FusedBatchNorm', backendName, args.backend, ins as tf.TensorInfo[], [x.shape.slice()], [c], c);
    try {
      const [v, g, sc] = [m.view(2), m.view(4), m.view(6)];
      for (let ch = 0; ch < c; ch++) sc[ch] = g[ch]! / Math.sqrt(v[ch]! + eps);
      if (m.simd) byRows(m, 'bn_apply', [m.ptr(0), m.ptr(1), m.ptr(6), m.ptr(3), m.ptr(5)], [0, 4], rows, c);
      else loops.apply(m.view(0), m.view(1), m.view(6), m.view(3), m.view(5), rows, c);
      return m.finish()[0]!;
    } finally {
      m.dispose();
    }
  };
}

/**
 * FastlrBatchNormGradSums(x, dy, mean, variance[, scale, offset]; varianceEpsilon, activation) → [dscale, doffset]
 *   = [r·Σdy(x − mean), Σdy]. With an activation (scale and offset then given), dy is the gradient of act(BN(x)):
 *   dz = dy where the activation passes a gradient, on z = (x − mean)·s + offset recomputed as the forward's apply
 *   pass did, else 0 (the activation's gradient kernel, bit for bit), is summed instead and returned third
 *   ([dscale, doffset, dz]: FastlrBatchNormGradInput's dy), in the same pass.
 */
export function bnGradSumsKernel(backendName: string): MultiKernel {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const act = activationOf(BN_GRAD_SUMS_KERNEL, args.attrs);
    const ins = inputsOf(BN_GRAD_SUMS_KERNEL, args, act === 'linear' ? ['x', 'dy', 'mean', 'variance'] : ['x', 'dy', 'mean', 'variance', 'scale', 'offset']);
    const eps = Number(args.attrs?.['varianceEpsilon'] ?? 1e-3);
    const x = ins[0]!;
    const { rows, c } = channelsOf(x);
    const part = partialsSize(rows, c);
    // 0 x, 1 dy, 2 mean, 3 variance | 4 dscale, 5 doffset | 6, 7 block partials — or with an activation:
    // 0 x, 1 dy, 2 mean, 3 variance, 4 gamma, 5 beta | 6 dscale, 7 doffset, 8 dz | 9 normalising scale, 10, 11 partials
    if (act === 'linear') {
      const m = arena(BN_GRAD_SUMS_KERNEL, backendName, args.backend, ins, [[c], [c]], [part, part], c);
      try {
        if (m.simd) byRowBlocks(m, 'bn_grad_sums', [m.ptr(0), m.ptr(1), m.ptr(2), m.ptr(5), m.ptr(4)], [0, 1], [3, 4], [m.ptr(6), m.ptr(7)], rows, c);
        else loops.gradSums(m.view(0), m.view(1), m.view(2), m.view(5), m.view(4), rows, c);
        finishScale(m.view(4), m.view(3), eps);
        return m.finish();
      } finally {
        m.dispose();
      }
    }
    const m = arena(BN_GRAD_SUMS_KERNEL, backendName, args.backend, ins, [[c], [c], x.shape.slice()], [c, part, part], c);
    try {
      normalisingScale(m.view(4), m.view(3), eps, m.view(9));
      if (m.simd) {
        const sumArgs = [m.ptr(0), m.ptr(1), m.ptr(2), m.ptr(9), m.ptr(5), m.ptr(7), m.ptr(6), m.ptr(8)];
        byRowBlocks(m, 'bn_grad_sums_mask', sumArgs, [0, 1, 7], [5, 6], [m.ptr(10), m.ptr(11)], rows, c, maskBits(act));
      } else {
        const [lo, hi] = MASK_BOUNDS[act];
        loops.mask(m.view(0), m.view(1), m.view(2), { s: m.view(9), shift: m.view(5), lo: fr(lo), hi: fr(hi) }, m.view(8), rows, c);
        loops.gradSums(m.view(0), m.view(8), m.view(2), m.view(7), m.view(6), rows, c);
      }
      finishScale(m.view(6), m.view(3), eps);
      return m.finish();
    } finally {
      m.dispose();
    }
  };
}

/** dscale = r·Σdy(x − mean), r = 1/√(variance + ε), in place */
function finishScale(ds: Float32Array, v: Float32Array, eps: number): void {
  for (let ch = 0; ch < ds.length; ch++) ds[ch] = ds[ch]! / Math.sqrt(v[ch]! + eps);
}

/**
 * FastlrBatchNormGradInput(x, dy, scale, mean, variance, dscale, doffset[, dmean][, dvariance]; varianceEpsilon) → dx
 *   = dy·a + ((x − mean)·k + b), a = γr, k = 2·dvariance/M − γr²·dscale/M, b = dmean/M − γr·doffset/M
 *   (after an activation, dy is FastlrBatchNormGradSums' dz)
 */
export function bnGradInputKernel(backendName: string): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const names = ['x', 'dy', 'scale', 'mean', 'variance', 'dscale', 'doffset'];
    const ins = inputsOf(BN_GRAD_INPUT_KERNEL, args, names);
    const dmean = args.inputs['dmean'] ?? null;
    const dvar = args.inputs['dvariance'] ?? null;
    const eps = Number(args.attrs?.['varianceEpsilon'] ?? 1e-3);
    const x = ins[0]!;
    const { rows, c } = channelsOf(x);
    const readSmall = (t: tf.TensorInfo | null): Float32Array | null => (t === null ? null : Float32Array.from(rawInput(args.backend, t)));
    const dm = readSmall(dmean);
    const dv = readSmall(dvar);
    // 0 x, 1 dy, 2 gamma, 3 mean, 4 variance, 5 dscale, 6 doffset | 7 dx | 8 a, 9 k, 10 b
    const m = arena(BN_GRAD_INPUT_KERNEL, backendName, args.backend, ins, [x.shape.slice()], [c, c, c], c);
    try {
      const [g, v, ds, dof, a, k, b] = [2, 4, 5, 6, 8, 9, 10].map((i) => m.view(i)) as Float32Array[];
      for (let ch = 0; ch < c; ch++) {
        const r = 1 / Math.sqrt(v![ch]! + eps);
        const gr = g![ch]! * r;
        a![ch] = gr;
        k![ch] = (2 * (dv?.[ch] ?? 0)) / rows - (gr * r * ds![ch]!) / rows;
        b![ch] = (dm?.[ch] ?? 0) / rows - (gr * dof![ch]!) / rows;
      }
      if (m.simd) byRows(m, 'bn_grad_apply', [m.ptr(0), m.ptr(1), m.ptr(3), m.ptr(8), m.ptr(9), m.ptr(10), m.ptr(7)], [0, 1, 6], rows, c);
      else loops.gradApply(m.view(0), m.view(1), m.view(3), m.view(8), m.view(9), m.view(10), m.view(7), rows, c);
      return m.finish()[0]!;
    } finally {
      m.dispose();
    }
  };
}

// ------------------------------------------------------------------------------------------ the op and gradient
export const bnTrainGradConfig: tf.GradConfig = {
  kernelName: BN_TRAIN_KERNEL,
  inputsToSave: ['x', 'scale', 'offset'],
  outputsToSave: [false, true, true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const [dy, dmean, dvariance] = Array.isArray(dys) ? dys : [dys];
    const [x, scale, offset, mean, variance] = saved;
    if (dy == null || x === undefined || scale === undefined || offset === undefined || mean === undefined || variance === undefined) {
      throw new Error(`${BN_TRAIN_KERNEL} gradient: missing tensors`);
    }
    const act = activationOf(BN_TRAIN_KERNEL, attrs);
    const kernelAttrs = { varianceEpsilon: attrs?.['varianceEpsilon'] ?? 1e-3, activation: act };
    // with an activation, dy is the gradient of act(BN(x)): the sums kernel masks it by the activation's gradient
    const withAct: tf.NamedTensorMap = act === 'linear' ? {} : { scale, offset };
    // the sums every gradient needs, once (outside the per-input tidy of the tape, so all three can use them);
    // with an activation also dz, the gradient through it
    const [dscale, doffset, dz] = tf.engine().runKernel(BN_GRAD_SUMS_KERNEL, { x, dy, mean, variance, ...withAct }, kernelAttrs) as tf.Tensor[];
    return {
      x: () => {
        const inputs: tf.NamedTensorMap = { x, dy: dz ?? dy, scale, mean, variance, dscale: dscale!, doffset: doffset! };
        if (dmean != null) inputs['dmean'] = dmean;
        if (dvariance != null) inputs['dvariance'] = dvariance;
        return tf.engine().runKernel(BN_GRAD_INPUT_KERNEL, inputs, { varianceEpsilon: kernelAttrs.varianceEpsilon }) as tf.Tensor;
      },
      // the sums themselves, no clone (an Identity kernel each): each is one input's gradient only, tracked by the
      // backward pass's scope, and x's gradient (which reads them) runs in the same node's turn, before any later
      // node could accumulate onto them
      scale: () => dscale!,
      offset: () => doffset!,
    };
  },
};

/** tfjs-core's own FusedBatchNorm gradient (registered when @tensorflow/tfjs loads), the fallback of ours. */
const stockFusedBnGrad: tf.GradConfig | undefined = tf.getGradient('FusedBatchNorm');

/**
 * FusedBatchNorm's gradient — the inference-mode BatchNorm (running statistics: model.bn_freeze, model.bn_inference)
 * whose gamma/beta or input still need a gradient — on our kernels: tfjs-core's tiles 1/√(variance + ε) to the
 * input's full shape and multiplies three full-size tensors for dx (Tile alone was ~75% of a MobileNetV2 step with
 * every BatchNorm in inference mode on wasm). Here, with r = 1/√(variance + ε):
 *   dx = dy·(scale·r)  (FastlrBatchNormGradInput with dscale = doffset = 0 and no statistics gradients: k = b = 0)
 *   [dscale, doffset] = [r·Σdy(x − mean), Σdy]  (FastlrBatchNormGradSums, the training gradient's own sums)
 * The statistics' gradients (never needed by a model: running statistics are not trainable) and every case our
 * kernels do not cover (no scale, statistics not 1-D over the last axis, our kernels not registered on the active
 * backend) are tfjs-core's.
 */
export const bnInferenceGradConfig: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    if (stockFusedBnGrad === undefined) throw new Error('FusedBatchNorm has no stock gradient to fall back on');
    const stock = (): ReturnType<tf.GradConfig['gradFunc']> => stockFusedBnGrad.gradFunc(dys, saved, attrs ?? {});
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [x, mean, variance, scale] = saved;
    const backend = tf.getBackend();
    const ours =
      dy != null && x !== undefined && mean !== undefined && variance !== undefined && scale != null &&
      x.dtype === 'float32' && dy.dtype === 'float32' && x.rank >= 2 && mean.rank === 1 && variance.rank === 1 && scale.rank === 1 &&
      mean.shape[0] === x.shape[x.rank - 1] && variance.shape[0] === mean.shape[0] && scale.shape[0] === mean.shape[0] &&
      String(dy.shape) === String(x.shape) &&
      tf.getKernel(BN_GRAD_SUMS_KERNEL, backend) != null && tf.getKernel(BN_GRAD_INPUT_KERNEL, backend) != null;
    if (!ours) return stock();
    const eps = { varianceEpsilon: attrs?.['varianceEpsilon'] ?? 1e-3 };
    // the sums, once, outside the per-input tidy of the tape (as the training gradient): scale and offset share them
    const [dscale, doffset] = tf.engine().runKernel(BN_GRAD_SUMS_KERNEL, { x, dy, mean, variance }, eps) as [tf.Tensor, tf.Tensor];
    return {
      x: () =>
        tf.tidy(() => {
          const zero = tf.zerosLike(mean);
          return tf.engine().runKernel(BN_GRAD_INPUT_KERNEL, { x, dy, scale, mean, variance, dscale: zero, doffset: zero }, eps) as tf.Tensor;
        }),
      mean: () => stock()['mean']!(),
      variance: () => stock()['variance']!(),
      scale: () => dscale,
      offset: () => doffset,
    };
  },
};

/**
 * y, batch mean, batch variance of x over every axis but the last (the fused kernel); y = act(BN(x)) with an
 * activation (bnActivationAvailable says where it is computed exactly as the activation's own kernels).
 */
export function bnTrain(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, epsilon: number, activation: BnActivation = 'linear'): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const out = tf.engine().runKernel(BN_TRAIN_KERNEL, { x, scale, offset }, { varianceEpsilon: epsilon, activation }) as tf.Tensor[];
  return [out[0]!, out[1]!, out[2]!];
}

// --------------------------------------------------------------------------------------------- the layer patch
interface BnLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}
function fusedCall(layer: BnLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | null {
  if (kwargs['training'] !== true) return null;
  const input = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
  if (input === undefined || input.dtype !== 'float32' || input.rank < 2) return null;
  const axis = layer.axis >= 0 ? layer.axis : layer.axis + input.rank;
  if (axis !== input.rank - 1 || !layer.center || !layer.scale || layer.gamma === null || layer.beta === null) return null;
  if (tf.getKernel(BN_TRAIN_KERNEL, tf.getBackend()) == null) return null;
  // the activation after this BN, computed here when the running model's plan says it alone reads the BN's output
  const planned = plannedBnActivation(layer);
  const act = planned !== null && bnActivationAvailable(planned.activation) ? planned : null;
  const out = tf.tidy(() => {
    const [y, mean, variance] = bnTrain(input, layer.gamma!.read(), layer.beta!.read(), layer.epsilon, act?.activation ?? 'linear');
    if (movingAveragesAvailable()) {
      // both updates as one kernel, bit for bit tfjs-layers' doMovingAverage; nothing saved on the tape (moving-average.ts)
      const [m, v] = movingAverages(layer.movingMean.read(), mean, layer.movingVariance.read(), variance, layer.momentum);
      layer.movingMean.write(m);
      layer.movingVariance.write(v);
      return y;
    }
    // tfjs-layers' doMovingAverage, as it is
    const update = (variable: tf.LayerVariable, value: tf.Tensor): void => {
      tf.tidy(() => {
        const decay = 1 - layer.momentum;
        const orig = variable.read();
        variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)));
      });
    };
    update(layer.movingMean, mean);
    update(layer.movingVariance, variance);
    return y;
  });
  if (act !== null) passThrough(out, act.act);
  return out;
}

const patch = layerPatch<BnLayer>(() => Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: LayerCall }, fusedCall);

/** Patch BatchNormalization.prototype.call (idempotent). */
export function installBatchNormTraining(): void {
  patch.install();
}

/** Put the original call back. */
export function uninstallBatchNormTraining(): void {
  patch.uninstall();
}

/**
 * Depthwise convolution (NHWC; filter [kh, kw, c, multiplier]): the two gradient kernels tfjs-backend-wasm 4.22
 * lacks (DepthwiseConv2dNativeBackpropInput / ...Filter, needed by every MobileNet once a body parameter trains),
 * and on cpu all three plus FusedDepthwiseConv2D (the stock cpu loops index through TensorBuffer.get per element:
 * the filter gradient alone was 3.75 s of a 12.9 s MobileNetV2 batch-1 step).
 *
 * Multiplier 1, dilation 1 and c % 4 == 0 (every MobileNet layer) run the SIMD programs dw_fwd / dw_bpi / dw_bpf
 * (simd/depthwise-programs.ts; 3×3 filters take their register variants, same bits): in place on the wasm heap, or on copies in the private wasm memory for cpu. Everything else
 * (other multipliers, dilations, odd channel counts, no WebAssembly SIMD) runs the plain loops below on raw memory.
 * Both sum every output element in the same fixed order, in float32 (Math.fround), so the two paths agree bit for
 * bit on what both handle:
 *   forward          out[b,y,xc,ch·cm+m] = Σ_i Σ_j x[b, y·sh−top+i·dh, xc·sw−left+j·dw, ch]·w[i,j,ch,m]     (i, j) ascending
 *   backprop input   dx[b,r,col,ch]      = Σ_{y,xc,m} dy[b,y,xc,ch·cm+m]·w[r+top−y·sh, col+left−xc·sw, ch, m]  (y, xc, m) ascending
 *   backprop filter  dw[i,j,ch,m]        = Σ_{b,y,xc} x[b, y·sh−top+i·dh, xc·sw−left+j·dw, ch]·dy[b,y,xc,ch·cm+m]  (b, y, xc) ascending
 * The stock cpu kernels accumulate in float64: results differ from them by float32 rounding only.
 * NCHW (forward only; tfjs's own gradients are NHWC) goes to the stock kernel on cpu.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { depthwiseInfo } from './kernel-attrs.js';
import { rawInput, rawOutput } from './raw-memory.js';
import { backendRunner, heapOutput, heapPtr, type Runner, simdPrograms, type SimdPrograms } from './simd/runtime.js';
import type { Call } from './simd/pool.js';
import { channelBlocks, MIN_PARALLEL_MACS, rowBlocks, tileCount } from './simd/tiles.js';
import { withThreads } from './simd/adaptive.js';
import { DW_REG_K } from './simd/depthwise-programs.js';
import { biasActivation, cpuHeap, fusable } from './cpu-simd.js';
import { biasClampInPlace, clampEpilogue } from './epilogue.js';

/** The geometry the loops and programs take. */
interface Geo {
  n: number;
  h: number;
  w: number;
  c: number;
  cm: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

function geo(info: tf.backend_util.Conv2DInfo): Geo {
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    c: info.inChannels,
    cm: info.outChannels / info.inChannels,
    oh: info.outHeight,
    ow: info.outWidth,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/** What the SIMD programs take. */
function simdCase(g: Geo): boolean {
  return g.cm === 1 && g.dh === 1 && g.dw === 1 && g.c % 4 === 0 && g.c > 0;
}

/** The program arguments after the three pointers. */
function progArgs(g: Geo): number[] {
  return [g.n, g.h, g.w, g.c, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.top, g.left];
}

const fr = Math.fround;

function forwardLoop(x: Float32Array, wt: Float32Array, out: Float32Array, g: Geo): void {
  const { n, h, w, c, cm, oh, ow, kh, kw, sh, sw, dh, dw, top, left } = g;
  const co = c * cm;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let xc = 0; xc < ow; xc++, o += co) {
        for (let ch = 0; ch < c; ch++) {
          for (let m = 0; m < cm; m++) {
            let acc = 0;
            for (let i = 0; i < kh; i++) {
              const r = y * sh - top + i * dh;
              if (r < 0 || r >= h) continue;
              for (let j = 0; j < kw; j++) {
                const col = xc * sw - left + j * dw;
                if (col < 0 || col >= w) continue;
                acc = fr(acc + fr(x[((b * h + r) * w + col) * c + ch]! * wt[((i * kw + j) * c + ch) * cm + m]!));
              }
            }
            out[o + ch * cm + m] = acc;
          }
        }
      }
    }
  }
}

function backpropInputLoop(dy: Float32Array, wt: Float32Array, dx: Float32Array, g: Geo): void {
  const { n, h, w, c, cm, oh, ow, kh, kw, sh, sw, dh, dw, top, left } = g;
  const co = c * cm;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < h; r++) {
      for (let col = 0; col < w; col++, o += c) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          // taps from the last to the first: output positions (y, xc) ascending
          for (let i = kh - 1; i >= 0; i--) {
            const yy = r + top - i * dh;
            if (yy < 0 || yy % sh !== 0) continue;
            const y = yy / sh;
            if (y >= oh) continue;
            for (let j = kw - 1; j >= 0; j--) {
              const xx = col + left - j * dw;
              if (xx < 0 || xx % sw !== 0) continue;
              const xc = xx / sw;
              if (xc >= ow) continue;
              const d0 = ((b * oh + y) * ow + xc) * co + ch * cm;
              const w0 = ((i * kw + j) * c + ch) * cm;
              for (let m = 0; m < cm; m++) acc = fr(acc + fr(dy[d0 + m]! * wt[w0 + m]!));
            }
          }
          dx[o + ch] = acc;
        }
      }
    }
  }
}

function backpropFilterLoop(x: Float32Array, dy: Float32Array, out: Float32Array, g: Geo): void {
  const { n, h, w, c, cm, oh, ow, kh, kw, sh, sw, dh, dw, top, left } = g;
  const co = c * cm;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let ch = 0; ch < c; ch++) {
        for (let m = 0; m < cm; m++) {
          let acc = 0;
          for (let b = 0; b < n; b++) {
            for (let y = 0; y < oh; y++) {
              const r = y * sh - top + i * dh;
              if (r < 0 || r >= h) continue;
              for (let xc = 0; xc < ow; xc++) {
                const col = xc * sw - left + j * dw;
                if (col < 0 || col >= w) continue;
                acc = fr(acc + fr(x[((b * h + r) * w + col) * c + ch]! * dy[((b * oh + y) * ow + xc) * co + ch * cm + m]!));
              }
            }
          }
          out[((i * kw + j) * c + ch) * cm + m] = acc;
        }
      }
    }
  }
}

type Loop = (a: Float32Array, b: Float32Array, out: Float32Array, g: Geo) => void;
type Kind = 'fwd' | 'bpi' | 'bpf';
type Prog = 'dw_fwd' | 'dw_bpi' | 'dw_bpf' | 'dw_fwd3' | 'dw_bpi3s1' | 'dw_bpi3s2';

/**
 * The program for `kind` on `g`: the 3×3 register programs (depthwise-programs.ts; their backprop input for strides
 * 1×1 and 2×2) for the forward and backprop input where they apply, else the generic ones. Both give the same bits.
 */
function depthwiseProgram(kind: Kind, g: Geo): Prog {
  const k3 = g.kh === DW_REG_K && g.kw === DW_REG_K;
  // dw_bpf3 measures slower than dw_bpf on MobileNetV2's layers (bench/tools/depthwise-bench.mjs): not taken yet
  if (!k3 || kind === 'bpf') return `dw_${kind}`;
  if (kind === 'fwd') return 'dw_fwd3';
  if (g.sh === g.sw && (g.sh === 1 || g.sh === 2)) return g.sh === 1 ? 'dw_bpi3s1' : 'dw_bpi3s2';
  return 'dw_bpi';
}

/**
 * The calls of `prog` split over `threads`: the forward and backprop input by images (every output element belongs
 * to one image and is summed the same way whatever the split); the filter gradient, which sums over the images, by
 * channel blocks (its _range program). [] = do not split.
 */
function batchCalls(kind: Kind, prog: Prog, pa: number, pb: number, po: number, g: Geo, threads: number): Call[] {
  if (threads < 2 || g.n * g.oh * g.ow * g.c * g.kh * g.kw < MIN_PARALLEL_MACS) return [];
  if (kind === 'bpf') {
    // summed over the images: split by channel blocks instead (dw_bpf_range: channels [c0, c1), same order)
    if (g.c < 8) return [];
    return channelBlocks(g.c, threads).map(([c0, c1]) => ({ fn: `${prog}_range`, args: [pa, pb, po, ...progArgs(g), c0, c1] }));
  }
  if (g.n < 2) return [];
  const inner = g.h * g.w * g.c;
  const outer = g.oh * g.ow * g.c;
  const [aPer, oPer] = kind === 'fwd' ? [inner, outer] : [outer, inner];
  const rest = progArgs(g).slice(1);
  return rowBlocks(g.n, tileCount(threads, g.n), 1).map(([b0, b1]) => ({ fn: prog, args: [pa + 4 * b0 * aPer, pb, po + 4 * b0 * oPer, b1 - b0, ...rest] }));
}

/** Runs `kind` on `runner`: split by images where that applies (and, with `threads: auto`, pays), else one call. */
function runProg(runner: Runner | null, progs: SimdPrograms, kind: Kind, pa: number, pb: number, po: number, g: Geo): void {
  const prog = depthwiseProgram(kind, g);
  const one = (): void => progs[prog](pa, pb, po, ...progArgs(g));
  if (runner === null || batchCalls(kind, prog, pa, pb, po, g, runner.threads()).length < 2) return one();
  const key = `${prog} ${g.n}x${g.h}x${g.w}x${g.c} ${g.kh}x${g.kw} ${g.sh}${g.sw} ${g.top}${g.left}`;
  withThreads(key, (t) => {
    const calls = batchCalls(kind, prog, pa, pb, po, g, t);
    if (calls.length < 2) one();
    else runner.parallel(calls, t);
  });
}

const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;

/**
 * out = op(a, b) of `outShape`: wasm: the program in place on the heap, or the loop on heap views; cpu: the program
 * on copies in the private memory, or the loop on the backend's arrays.
 */
function run(backend: tf.KernelBackend, backendName: string, a: tf.TensorInfo, b: tf.TensorInfo, outShape: number[], g: Geo, kind: Kind, loop: Loop): tf.TensorInfo {
  if (simdCase(g)) {
    if (backendName === 'wasm') {
      const progs = simdPrograms(backend);
      if (progs !== null) {
        // uninitialised: every program writes all of its output (dw_bpf zeroes it first)
        const out = heapOutput(backend, outShape);
        // in place; split by images when the heap is shared (wasm-shared-heap.ts)
        runProg(backendRunner(backend), progs, kind, heapPtr(backend, a), heapPtr(backend, b), heapPtr(backend, out), g);
        return out;
      }
    } else {
      const heap = cpuHeap();
      if (heap !== null) {
        const av = rawInput(backend, a);
        const bv = rawInput(backend, b);
        const nOut = outShape.reduce((p, s) => p * s, 1);
        const pb = align16(4 * av.length);
        const po = align16(pb + 4 * bv.length);
        heap.reserve(po + 4 * nOut);
        const f = heap.f32();
        f.set(av, 0);
        f.set(bv, pb / 4);
        runProg(heap, heap.progs, kind, 0, pb, po, g);
        const out = rawOutput(backend, outShape);
        out.data.set(heap.f32().subarray(po / 4, po / 4 + nOut));
        return out.finish();
      }
    }
  }
  const out = rawOutput(backend, outShape); // before the input views: it may grow the wasm heap
  loop(rawInput(backend, a), rawInput(backend, b), out.data, g);
  return out.finish();
}

function floats(...infos: (tf.TensorInfo | undefined)[]): boolean {
  return infos.every((t) => t != null && t.dtype === 'float32' && t.shape.length === 4);
}

/** DepthwiseConv2dNativeBackpropInput (inputs dy, filter; attrs inputShape, strides, pad, dilations). */
export function depthwiseBackpropInput(backendName: string, stock: Kernel | null): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const dy = args.inputs['dy'];
    const filter = args.inputs['filter'];
    const attrs = args.attrs ?? {};
    if (dy == null || filter == null || !floats(dy, filter)) {
      if (stock) return stock(args);
      throw new Error(`DepthwiseConv2dNativeBackpropInput on ${backendName}: needs float32 rank-4 dy and filter`);
    }
    const inputShape = (attrs['inputShape'] as number[]).slice();
    const g = geo(depthwiseInfo(inputShape, filter.shape, attrs));
    return run(args.backend, backendName, dy, filter, inputShape, g, 'bpi', backpropInputLoop);
  };
}

/** DepthwiseConv2dNativeBackpropFilter (inputs x, dy; attrs filterShape, strides, pad, dilations). */
export function depthwiseBackpropFilter(backendName: string, stock: Kernel | null): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs['x'];
    const dy = args.inputs['dy'];
    const attrs = args.attrs ?? {};
    if (x == null || dy == null || !floats(x, dy)) {
      if (stock) return stock(args);
      throw new Error(`DepthwiseConv2dNativeBackpropFilter on ${backendName}: needs float32 rank-4 x and dy`);
    }
    const filterShape = (attrs['filterShape'] as number[]).slice();
    const g = geo(depthwiseInfo(x.shape, filterShape, attrs));
    return run(args.backend, backendName, x, dy, filterShape, g, 'bpf', backpropFilterLoop);
  };
}

/** The forward on `backendName`, or null for what goes to the stock kernel (NCHW, other dtypes). */
function forward(args: KernelArgs, backendName: string): tf.TensorInfo | null {
  const x = args.inputs['x'];
  const filter = args.inputs['filter'];
  const attrs = args.attrs ?? {};
  const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
  if (x == null || filter == null || !floats(x, filter) || dataFormat !== 'NHWC') return null;
  const info = depthwiseInfo(x.shape, filter.shape, attrs);
  const g = geo(info);
  return run(args.backend, backendName, x, filter, [g.n, g.oh, g.ow, g.c * g.cm], g, 'fwd', forwardLoop);
}

/** A depthwise call's inputs and geometry where wasm's dw_fwd program takes it (NHWC float32, simdCase), else null. */
function wasmDepthwiseCall(args: KernelArgs): { x: tf.TensorInfo; filter: tf.TensorInfo; g: ReturnType<typeof geo> } | null {
  const x = args.inputs['x'];
  const filter = args.inputs['filter'];
  const attrs = args.attrs ?? {};
  const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
  if (x == null || filter == null || !floats(x, filter) || dataFormat !== 'NHWC' || simdPrograms(args.backend) === null) return null;
  const g = geo(depthwiseInfo(x.shape, filter.shape, attrs));
  return simdCase(g) ? { x, filter, g } : null;
}

/**
 * wasm DepthwiseConv2dNative: the dw_fwd program in place on the heap, split by images over the threads, where the
 * SIMD programs apply (multiplier 1, dilation 1, c % 4 == 0: every MobileNet layer; ~3x less CPU than XNNPACK's
 * single-threaded depthwise here, which also repacks the filter on every call); anything else goes to `stock`.
 */
export function wasmDepthwiseConv2D(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const c = wasmDepthwiseCall(args);
    if (c === null) return stock(args);
    const { x, filter, g } = c;
    return run(args.backend, 'wasm', x, filter, [g.n, g.oh, g.ow, g.c * g.cm], g, 'fwd', forwardLoop);
  };
}

/**
 * wasm FusedDepthwiseConv2D: with a rank-1 bias and a linear / relu / relu6 activation (the conv + BatchNorm fold's
 * depthwise convolutions, conv-bn-fold.ts) where the SIMD program applies, dw_fwd then bias_clamp in place on its
 * output (epilogue.ts); anything else goes to `stock` (XNNPACK's fused kernel).
 */
export function wasmFusedDepthwiseConv2D(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const c = wasmDepthwiseCall(args);
    const epilogue = c === null ? null : clampEpilogue(args, c.g.c * c.g.cm);
    if (c === null || epilogue === null) return stock(args);
    const { x, filter, g } = c;
    const out = run(args.backend, 'wasm', x, filter, [g.n, g.oh, g.ow, g.c * g.cm], g, 'fwd', forwardLoop);
    biasClampInPlace(args.backend, out, epilogue);
    return out;
  };
}

/** cpu DepthwiseConv2dNative: ours, or `stock`. */
export function cpuDepthwiseConv2D(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => forward(args, 'cpu') ?? stock(args);
}

/** cpu FusedDepthwiseConv2D: our depthwise conv, then the backend's Add and activation kernels. */
export function cpuFusedDepthwiseConv2D(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    if (!fusable(args)) return stock(args);
    const core = forward(args, 'cpu');
    return core === null ? stock(args) : biasActivation(args, core);
  };
}

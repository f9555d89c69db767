/**
 * Relu, ClipByValue and Relu6 (MobileNet's activation: one Relu6 per layer, relu6.ts; else Relu then ClipByValue) on the
 * wasm heap as single SIMD passes with XNNPACK's clamp operations (simd/unary-programs.ts: the same bits as the
 * stock kernels), split into element blocks over the shared heap's threads (wasm-shared-heap.ts). float32 only;
 * everything else goes to `stock`.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { backendRunner, heapOutput, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';

const f32Bits = (v: number): number => new Int32Array(Float32Array.of(v).buffer)[0]!;

function unaryWasm(stock: Kernel, fn: 'relu' | 'clip', bounds: (args: KernelArgs) => number[] | null): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs['x'];
    const progs = simdPrograms(args.backend);
    const extra = bounds(args);
    if (x == null || progs === null || x.dtype !== 'float32' || extra === null) return stock(args);
    const n = x.shape.reduce((p, s) => p * s, 1);
    const out = heapOutput(args.backend, x.shape.slice());
    const px = heapPtr(args.backend, x);
    const po = heapPtr(args.backend, out);
    runSplit(
      backendRunner(args.backend),
      { key: `${fn} ${n}`, units: n, bytes: 8 * n, align: 4, block: (a, b) => ({ fn, args: [px + 4 * a, po + 4 * a, b - a, ...extra] }) },
      () => progs[fn](px, po, n, ...extra),
    );
    return out;
  };
}

export function reluWasm(stock: Kernel): Kernel {
  return unaryWasm(stock, 'relu', () => []);
}

export function clipByValueWasm(stock: Kernel): Kernel {
  return unaryWasm(stock, 'clip', (args) => {
    const lo = args.attrs?.['clipValueMin'];
    const hi = args.attrs?.['clipValueMax'];
    if (typeof lo !== 'number' || typeof hi !== 'number') return null;
    return [f32Bits(lo), f32Bits(hi)];
  });
}

/** Relu6 (tfjs-layers' ReLU(max 6), relu6.ts): XNNPACK's clamp to [0, 6], the clip program with those bounds. */
export function relu6Wasm(stock: Kernel): Kernel {
  return unaryWasm(stock, 'clip', () => [f32Bits(0), f32Bits(6)]);
}

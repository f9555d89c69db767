/**
 * Conv2DBackpropInput built from the backend's own Conv2D (wasm's stock kernel is a scalar 7-deep loop,
 * ~35 ms for the MNIST CNN's second conv at batch 64; XNNPACK's convolution does it in a few ms). On wasm this is
 * the fallback of wasm-conv-bpi.ts (conv_direct on the flipped filter, or dy·Wᵀ then col2im), which takes every
 * NHWC float32 undilated case with Ci % 4 == 0.
 *
 * dx[n,i,j,ci] = Σ_{kh,kw,co} dyₛ[n, i + top − kh, j + left − kw, co] · W[kh,kw,ci,co], where dyₛ is dy with
 * stride−1 zeros inserted between rows/columns (only when the forward stride is > 1). That is a stride-1
 * convolution of dyₛ by W rotated 180° with its channel axes swapped ([KH,KW,Co,Ci]), padded by KH−1−top
 * above and whatever makes the output exactly H rows below (same for columns). Forward paddings larger than
 * the filter (explicit padding) and NCHW go to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, KernelContext, kernelFunc, release } from './kernel-context.js';
import { convInfo } from './kernel-attrs.js';


export function convBackpropInputViaConv2D(backendName: string, fallback: Kernel | null): Kernel {
  const ctx = new KernelContext(backendName);
  const conv2d = kernelFunc('Conv2D', backendName);
  const reverse = kernelFunc('Reverse', backendName);
  const padV2 = kernelFunc('PadV2', backendName);
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const dy = args.inputs['dy'];
    const filter = args.inputs['filter'];
    const attrs = args.attrs ?? {};
    if (dy == null || filter == null) throw new Error('Conv2DBackpropInput: missing input');
    const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
    const inputShape = attrs['inputShape'] as [number, number, number, number];
    const info = convInfo(inputShape, filter.shape, attrs, dataFormat === 'NHWC' ? 'channelsLast' : 'channelsFirst');
    const { strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
    const { filterHeight: kh, filterWidth: kw } = info;
    const n = dy.shape[0] ?? 1;
    const co = filter.shape[3] ?? 1;
    const upH = (oh - 1) * sh + 1;
    const upW = (ow - 1) * sw + 1;
    const top = kh - 1 - info.padInfo.top;
    const left = kw - 1 - info.padInfo.left;
    const bottom = h - 1 + kh - upH - top;
    const right = w - 1 + kw - upW - left;
    if (dataFormat !== 'NHWC' || top < 0 || left < 0 || bottom < 0 || right < 0 || dy.shape.length !== 4) {
      if (fallback) return fallback(args);
      throw new Error(`Conv2DBackpropInput on ${backendName}: unsupported configuration`);
    }

    const temps: tf.TensorInfo[] = [];
    try {
      const flipped = reverse({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } });
      temps.push(flipped);
      const wT = ctx.transpose(backend, flipped, [0, 1, 3, 2]);
      temps.push(wT);
      let dyUp = dy;
      if (sh > 1 || sw > 1) {
        const r6 = ctx.reshape(backend, dy, [n, oh, 1, ow, 1, co]);
        temps.push(r6);
        const padded = padV2({
          inputs: { x: r6 },
          backend,
          attrs: { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 },
        });
        temps.push(padded);
        const r4 = ctx.reshape(backend, padded, [n, oh * sh, ow * sw, co]);
        temps.push(r4);
        dyUp = ctx.slice(backend, r4, [0, 0, 0, 0], [n, upH, upW, co]);
        temps.push(dyUp);
      }
      return conv2d({
        inputs: { x: dyUp, filter: wT },
        backend,
        attrs: {
          strides: [1, 1],
          pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
          dataFormat: 'NHWC',
          dilations: [1, 1],
        },
      });
    } finally {
      release(backend, ...temps);
    }
  };
}

/**
 * wasm: the col2im formulation (`col2im`: cpu-simd.ts cpuConv2DBackpropInput, the gemm on the private heap) for
 * strided convolutions and narrow inputs (fewer than 8 channels), the conv formulation (`viaConv`) otherwise.
 * Strided, the conv formulation convolves a zero-upsampled dy (stride² times the work); narrow, it asks XNNPACK
 * for a convolution with < 8 output channels, which it runs poorly. MobileNetV2's first layer (3×3 stride 2,
 * 3 → 32 channels, batch 4 at 224×224): 52 → 14 ms; the MNIST CNN's conv2 (16 channels, stride 1) stays on viaConv
 * (5.0 vs 7.7 ms).
 */
export function convBackpropInputChoose(col2im: Kernel, viaConv: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const attrs = args.attrs ?? {};
    const inputShape = attrs['inputShape'] as number[] | undefined;
    const strides = attrs['strides'] as number | number[] | undefined;
    const [sh, sw] = Array.isArray(strides) ? [strides[0] ?? 1, strides[1] ?? 1] : [strides ?? 1, strides ?? 1];
    const ci = inputShape?.[3] ?? 0;
    return (sh > 1 || sw > 1 || ci < 8 ? col2im : viaConv)(args);
  };
}

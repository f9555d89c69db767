/**
 * Bilinear resize of an interleaved HWC float image, half-pixel centres (as PIL / tf.image.resizeBilinear with
 * halfPixelCenters), edges clamped. No antialiasing: strong downscaling samples, it does not average.
 */
export function resizeBilinear(
  src: Float32Array,
  inH: number,
  inW: number,
  channels: number,
  outH: number,
  outW: number,
): Float32Array {
  const out = new Float32Array(outH * outW * channels);
  if (inH === outH && inW === outW) {
    out.set(src.subarray(0, out.length));
    return out;
  }
  const sy = inH / outH;
  const sx = inW / outW;
  const x0s = new Int32Array(outW);
  const x1s = new Int32Array(outW);
  const fxs = new Float32Array(outW);
  for (let x = 0; x < outW; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), inW - 1);
    const x0 = Math.floor(fx);
    x0s[x] = x0;
    x1s[x] = Math.min(x0 + 1, inW - 1);
    fxs[x] = fx - x0;
  }
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), inH - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, inH - 1);
    const wy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const wx = fxs[x]!;
      const a = (y0 * inW + x0s[x]!) * channels;
      const b = (y0 * inW + x1s[x]!) * channels;
      const c = (y1 * inW + x0s[x]!) * channels;
      const d = (y1 * inW + x1s[x]!) * channels;
      const o = (y * outW + x) * channels;
      for (let k = 0; k < channels; k++) {
        const top = src[a + k]! + (src[b + k]! - src[a + k]!) * wx;
        const bottom = src[c + k]! + (src[d + k]! - src[c + k]!) * wx;
        out[o + k] = top + (bottom - top) * wy;
      }
    }
  }
  return out;
}

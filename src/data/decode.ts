/** PNG (pngjs) and JPEG (jpeg-js) decoding in pure JS, to float HWC pixels in [0, 1] with 1 or 3 channels. */
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { resizeBilinear } from './resize.js';

const { PNG } = pngjs;

export interface RgbaImage {
  width: number;
  height: number;
  /** width × height × 4 bytes */
  data: Uint8Array;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Decode by content (not by file extension). Throws an Error with a short reason when the bytes are not an image. */
export function decodeImage(bytes: Uint8Array): RgbaImage {
  if (bytes.length >= 8 && PNG_MAGIC.every((b, i) => bytes[i] === b)) {
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: png.data };
    } catch (e) {
      throw new Error(`a PNG that cannot be decoded (truncated or corrupt: ${(e as Error).message})`);
    }
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    try {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false });
      return { width: img.width, height: img.height, data: img.data };
    } catch (e) {
      throw new Error(`a JPEG that cannot be decoded (truncated or corrupt: ${(e as Error).message})`);
    }
  }
  throw new Error('not a PNG or JPEG file');
}

/**
 * RGBA bytes → `channels` (3: RGB; 1: luma 0.299R + 0.587G + 0.114B, as PIL's convert('L') without its rounding),
 * alpha dropped, resized to `size` [h, w] bilinearly, scaled to [0, 1]. Written into `out` at `offset`.
 */
export function toPixels(
  img: RgbaImage,
  size: readonly [number, number],
  channels: 1 | 3,
  out: Float32Array,
  offset: number,
): void {
  const { width: w, height: h, data } = img;
  if (w < 1 || h < 1) throw new Error('the image has no pixels');
  if (data.length < w * h * 4) throw new Error('truncated pixel data');
  const plane = new Float32Array(w * h * channels);
  for (let p = 0; p < w * h; p++) {
    const r = data[p * 4]!;
    const g = data[p * 4 + 1]!;
    const b = data[p * 4 + 2]!;
    if (channels === 3) {
      plane[p * 3] = r;
      plane[p * 3 + 1] = g;
      plane[p * 3 + 2] = b;
    } else {
      plane[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    }
  }
  const resized = resizeBilinear(plane, h, w, channels, size[0], size[1]);
  for (let i = 0; i < resized.length; i++) {
    const v = resized[i]! / 255;
    out[offset + i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

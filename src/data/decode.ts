/** PNG (pngjs) and JPEG (jpeg-js) decoding in pure JS, to uint8 HWC pixels with 1 or 3 channels; header sizes. */
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

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
 * Width and height as the file's header states them, read before any decoding (PNG IHDR; JPEG's first SOFn frame
 * header), or null when the header cannot be found. A 69-byte PNG can claim 30000×30000 pixels: the caller checks
 * the pixel count against data.images.max_pixels before letting a decoder allocate for it.
 */
export function imageHeaderSize(bytes: Uint8Array): { width: number; height: number } | null {
  const be16 = (i: number): number => (bytes[i]! << 8) | bytes[i + 1]!;
  const be32 = (i: number): number => ((bytes[i]! << 24) >>> 0) + (bytes[i + 1]! << 16) + (bytes[i + 2]! << 8) + bytes[i + 3]!;
  if (bytes.length >= 24 && PNG_MAGIC.every((b, i) => bytes[i] === b)) {
    // signature, then the IHDR chunk: length (4), "IHDR", width (4), height (4)
    if (bytes[12] !== 0x49 || bytes[13] !== 0x48 || bytes[14] !== 0x44 || bytes[15] !== 0x52) return null;
    return { width: be32(16), height: be32(20) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return null;
      const marker = bytes[i + 1]!;
      if (marker === 0xff) {
        i++; // fill byte
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        i += 2;
        continue;
      }
      // SOF0..SOF15 except DHT (c4), JPG (c8), DAC (cc): length (2), precision (1), height (2), width (2)
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { width: be16(i + 7), height: be16(i + 5) };
      }
      if (marker === 0xda || marker === 0xd9) return null; // scan data before any frame header
      i += 2 + be16(i + 2);
    }
  }
  return null;
}

/**
 * RGBA bytes → `channels` (3: RGB; 1: luma 0.299R + 0.587G + 0.114B, as PIL's convert('L') without its rounding),
 * alpha dropped, resized bilinearly to [outH, outW] (half-pixel centres, edges clamped; as resizeBilinear), rounded
 * to bytes. Bilinear interpolation is linear, so taking luma after interpolating RGB equals interpolating the luma
 * plane; the conversion needs no float copy of the full-size image.
 */
export function toBytes(img: RgbaImage, outH: number, outW: number, channels: 1 | 3): Uint8Array {
  const { width: inW, height: inH, data } = img;
  if (inW < 1 || inH < 1) throw new Error('the image has no pixels');
  if (data.length < inW * inH * 4) throw new Error('truncated pixel data');
  const out = new Uint8Array(outH * outW * channels);
  const sy = inH / outH;
  const sx = inW / outW;
  const x0s = new Int32Array(outW);
  const x1s = new Int32Array(outW);
  const fxs = new Float64Array(outW);
  for (let x = 0; x < outW; x++) {
    const fx = inW === outW ? x : Math.min(Math.max((x + 0.5) * sx - 0.5, 0), inW - 1);
    const x0 = Math.floor(fx);
    x0s[x] = x0;
    x1s[x] = Math.min(x0 + 1, inW - 1);
    fxs[x] = fx - x0;
  }
  const rgb = [0, 0, 0];
  const byte = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
  for (let y = 0; y < outH; y++) {
    const fy = inH === outH ? y : Math.min(Math.max((y + 0.5) * sy - 0.5, 0), inH - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, inH - 1);
    const wy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const wx = fxs[x]!;
      const a = (y0 * inW + x0s[x]!) * 4;
      const b = (y0 * inW + x1s[x]!) * 4;
      const c = (y1 * inW + x0s[x]!) * 4;
      const d = (y1 * inW + x1s[x]!) * 4;
      for (let k = 0; k < 3; k++) {
        const top = data[a + k]! + (data[b + k]! - data[a + k]!) * wx;
        const bottom = data[c + k]! + (data[d + k]! - data[c + k]!) * wx;
        rgb[k] = top + (bottom - top) * wy;
      }
      const o = (y * outW + x) * channels;
      if (channels === 3) {
        out[o] = byte(rgb[0]!);
        out[o + 1] = byte(rgb[1]!);
        out[o + 2] = byte(rgb[2]!);
      } else {
        out[o] = byte(0.299 * rgb[0]! + 0.587 * rgb[1]! + 0.114 * rgb[2]!);
      }
    }
  }
  return out;
}

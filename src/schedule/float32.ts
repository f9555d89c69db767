/**
 * IEEE float32 arithmetic on JS numbers, to reproduce what fastai computes with float32 tensors.
 * Every result is a float32 value held in a double. Pure: no tfjs.
 */

/** Round a double to the nearest float32 (ties to even). */
export const f32 = Math.fround;

const buf = new DataView(new ArrayBuffer(4));

/** The next float32 after `x` (a float32 value) in the direction of `dir` (+1 or −1). */
export function nextF32(x: number, dir: 1 | -1): number {
  if (Number.isNaN(x)) return x;
  if (x === 0) {
    buf.setUint32(0, 1);
    const tiny = buf.getFloat32(0);
    return dir > 0 ? tiny : -tiny;
  }
  buf.setFloat32(0, x);
  const bits = buf.getUint32(0);
  // away from zero when dir has the sign of x, towards zero otherwise
  buf.setUint32(0, (x > 0) === dir > 0 ? bits + 1 : bits - 1);
  return buf.getFloat32(0);
}

/**
 * Correctly rounded float32 of the exact value `s + e`, where `s` is a double and `e` the (small) exact error
 * of the double operation that produced it. Avoids double rounding: only an `s` lying exactly halfway between
 * two float32 neighbours can round the wrong way, and `e` decides it.
 */
function roundF32WithError(s: number, e: number): number {
  const r = f32(s);
  if (e === 0 || r === s || !Number.isFinite(s)) return r;
  const lo = r < s ? r : nextF32(r, -1);
  const hi = r < s ? nextF32(r, 1) : r;
  const mid = lo / 2 + hi / 2;
  if (s !== mid) return r;
  return e > 0 ? hi : lo;
}

/**
 * float32 fused multiply-add: `f32(a·b + c)` with a single rounding, for float32 inputs `a`, `b`, `c`.
 * `a·b` of two float32 values is exact in a double (48 significant bits); the sum's rounding error is
 * recovered exactly (TwoSum) so that the final float32 rounding is correct.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return f32(s);
  // Knuth's TwoSum: s + e === p + c exactly
  const bb = s - p;
  const e = p - (s - bb) + (c - bb);
  return roundF32WithError(s, e);
}

/** torch's float32 weight for a Python-float `weight` (the Scalar is cast to the tensor's float32). */
export function lerpWeight(weight: number): number {
  return f32(weight);
}

/**
 * `torch.lerp(start, end, weight)` on float32 CPU tensors (torch 1.13), as fastai's AvgSmoothLoss calls it:
 * for |weight| < 0.5: `start + weight·(end − start)`, else `end − (end − start)·(1 − weight)`, each in float32,
 * the multiply and the add fused (one rounding).
 */
export function lerpF32(start: number, end: number, weight: number): number {
  const w = lerpWeight(weight);
  const s = f32(start);
  const e = f32(end);
  const d = f32(e - s);
  if (Math.abs(w) < 0.5) return fmaF32(w, d, s);
  const c = f32(1 - w);
  return fmaF32(-d, c, e);
}

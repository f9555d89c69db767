// Shared by the kernel tests: seeded inputs and the error measure every kernel is held to.

/** `n` values in [-1, 1) from a small LCG: the same inputs on every run and backend. */
export function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** max |a − b| over max |b|: the error of a result relative to the reference's scale (sums may reorder). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let e = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return e / Math.max(scale, 1e-30);
}

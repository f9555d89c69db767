// The 3×3 register depthwise programs (dw_fwd3, dw_bpi3s1, dw_bpi3s2, dw_bpf3, dw_bpf3_range; depthwise-programs.ts)
// against the generic ones (dw_fwd, dw_bpi, dw_bpf) bit for bit, with and without FMA, on odd geometries: channel
// counts 4 / 12 / 20 / 36 (one vector, groups of 16 and a tail), odd and even sizes, strides 1 and 2 (and 1×2), same /
// valid / explicit paddings (top ≠ left included), inputs smaller than the window. Every output element must be
// written (outputs start as NaN: the kernels hand the programs uninitialised memory), and the generic results must
// match a float64 reference within float32 rounding.
import { describe, expect, it } from 'vitest';
import { emitModule } from '../src/kernels/simd/emitter.js';
import { PROGRAMS } from '../src/kernels/simd/programs.js';
import { fmaState } from '../src/kernels/simd/fma.js';
import { relErr } from './helpers/kernels.js';

fmaState(); // validates relaxed SIMD (a V8 flag on Node 20) before the FMA module is compiled

interface Case {
  n: number;
  h: number;
  w: number;
  c: number;
  sh: number;
  sw: number;
  pad: 'same' | 'valid' | [number, number];
}

const K = 3;
const CASES: Case[] = [];
for (const [h, w] of [[7, 9], [8, 8], [5, 4], [2, 3], [1, 1], [11, 6]] as const) {
  for (const [sh, sw] of [[1, 1], [2, 2], [1, 2]] as const) {
    for (const pad of ['same', 'valid', [1, 1], [0, 1], [2, 0]] as const) {
      const c = [4, 12, 20, 36][(h + w + sh + CASES.length) % 4]!;
      CASES.push({ n: 2, h, w, c, sh, sw, pad: typeof pad === 'string' ? pad : [pad[0], pad[1]] });
    }
  }
}

interface Geo extends Case {
  oh: number;
  ow: number;
  top: number;
  left: number;
}

function geometry(cs: Case): Geo | null {
  const dim = (size: number, s: number, explicit: number | undefined): [number, number] => {
    if (cs.pad === 'same') {
      const o = Math.ceil(size / s);
      return [o, Math.floor(Math.max((o - 1) * s + K - size, 0) / 2)];
    }
    const p = explicit ?? 0;
    return [Math.floor((size + 2 * p - K) / s) + 1, p];
  };
  const [oh, top] = dim(cs.h, cs.sh, cs.pad === 'same' || cs.pad === 'valid' ? undefined : cs.pad[0]);
  const [ow, left] = dim(cs.w, cs.sw, cs.pad === 'same' || cs.pad === 'valid' ? undefined : cs.pad[1]);
  return oh > 0 && ow > 0 ? { ...cs, oh, ow, top, left } : null;
}

const name = (g: Geo): string => `${g.n}×${g.h}×${g.w}×${g.c} stride ${g.sh}×${g.sw} pad ${JSON.stringify(g.pad)} (top ${g.top}, left ${g.left})`;

/** deterministic values in [-1, 1) with some exact zeros */
function values(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % 11 === 0 ? 0 : s / 2 ** 31 - 1;
  }
  return out;
}

/** float64 references: forward, backprop input, backprop filter */
function reference(g: Geo, x: Float32Array, wt: Float32Array, dy: Float32Array): [Float64Array, Float64Array, Float64Array] {
  const out = new Float64Array(g.n * g.oh * g.ow * g.c);
  const dx = new Float64Array(g.n * g.h * g.w * g.c);
  const dw = new Float64Array(K * K * g.c);
  for (let b = 0; b < g.n; b++) {
    for (let y = 0; y < g.oh; y++) {
      for (let xc = 0; xc < g.ow; xc++) {
        for (let i = 0; i < K; i++) {
          const r = y * g.sh - g.top + i;
          if (r < 0 || r >= g.h) continue;
          for (let j = 0; j < K; j++) {
            const col = xc * g.sw - g.left + j;
            if (col < 0 || col >= g.w) continue;
            for (let ch = 0; ch < g.c; ch++) {
              const xi = ((b * g.h + r) * g.w + col) * g.c + ch;
              const oi = ((b * g.oh + y) * g.ow + xc) * g.c + ch;
              const wi = (i * K + j) * g.c + ch;
              out[oi]! += x[xi]! * wt[wi]!;
              dx[xi]! += dy[oi]! * wt[wi]!;
              dw[wi]! += x[xi]! * dy[oi]!;
            }
          }
        }
      }
    }
  }
  return [out, dx, dw];
}


/** Whether this engine compiles the FMA (relaxed SIMD) programs; plain SIMD is required, so that build is never probed. */
const relaxedSimd = ((): boolean => {
  try {
    new WebAssembly.Module(emitModule(PROGRAMS, { fma: true }));
    return true;
  } catch {
    return false;
  }
})();

for (const fma of [false, true]) {
  // only the FMA variant may be missing (an engine without relaxed SIMD): the plain build failing fails the test
  describe.skipIf(fma && !relaxedSimd)(`3×3 depthwise programs = the generic ones bit for bit (${fma ? 'FMA' : 'mul + add'})`, () => {
    const mem = new WebAssembly.Memory({ initial: 4 });
    const e = new WebAssembly.Instance(new WebAssembly.Module(emitModule(PROGRAMS, { fma })), { env: { memory: mem } }).exports as Record<string, (...a: number[]) => void>;
    const geos = CASES.map(geometry).filter((g): g is Geo => g !== null);

    it('covers stride 2 with both row phases and inputs smaller than the window', () => {
      expect(geos.some((g) => g.sh === 2 && g.top === 0)).toBe(true);
      expect(geos.some((g) => g.sh === 2 && g.top === 1)).toBe(true);
      expect(geos.some((g) => g.h < K && g.w < K)).toBe(true);
      expect(geos.length).toBeGreaterThan(60);
    });

    it.each(geos.map((g) => [name(g), g] as const))('%s', (_n, g) => {
      const nx = g.n * g.h * g.w * g.c;
      const ny = g.n * g.oh * g.ow * g.c;
      const nw = K * K * g.c;
      // x | wt | dy | 2 outputs of nx (the largest)
      const big = Math.max(nx, ny, nw);
      const [px, pw, pdy, pa, pb] = [0, 4 * nx, 4 * (nx + nw), 4 * (nx + nw + ny), 4 * (nx + nw + ny + big)];
      const need = pb + 4 * big;
      if (need > mem.buffer.byteLength) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
      const f = new Float32Array(mem.buffer);
      const x = values(nx, 1 + g.h * 31 + g.c);
      const wt = values(nw, 2 + g.w * 17);
      const dy = values(ny, 3 + g.sh * 5 + g.sw);
      f.set(x, px / 4);
      f.set(wt, pw / 4);
      f.set(dy, pdy / 4);
      const geo = [g.n, g.h, g.w, g.c, g.oh, g.ow, K, K, g.sh, g.sw, g.top, g.left];
      const ref = reference(g, x, wt, dy);
      const bpi3 = g.sh === g.sw ? `dw_bpi3s${g.sh}` : null;
      const runs: [string, string | null, number, number, number, Float64Array][] = [
        ['dw_fwd', 'dw_fwd3', px, pw, ny, ref[0]],
        ['dw_bpi', bpi3, pdy, pw, nx, ref[1]],
        ['dw_bpf', 'dw_bpf3', px, pdy, nw, ref[2]],
      ];
      for (const [generic, k3, a, b, count, want] of runs) {
        const fresh = (): Float32Array => new Float32Array(mem.buffer);
        fresh().fill(NaN, pa / 4, pa / 4 + count);
        fresh().fill(NaN, pb / 4, pb / 4 + count);
        e[generic]!(a, b, pa, ...geo);
        const gen = fresh().slice(pa / 4, pa / 4 + count);
        expect(gen.every((v) => !Number.isNaN(v)), `${generic} writes every element`).toBe(true);
        expect(relErr(gen, want), `${generic} vs float64`).toBeLessThan(1e-5);
        if (k3 === null) continue;
        e[k3]!(a, b, pb, ...geo);
        const reg = fresh().slice(pb / 4, pb / 4 + count);
        let diff = -1;
        for (let i = 0; i < count && diff < 0; i++) if (!Object.is(gen[i], reg[i])) diff = i;
        expect(diff, `${k3}: first element differing from ${generic}`).toBe(-1);
      }
      // the filter gradient by channel blocks (how threads split it): the same bits
      if (g.c >= 8) {
        const fresh = (): Float32Array => new Float32Array(mem.buffer);
        fresh().fill(NaN, pb / 4, pb / 4 + nw);
        const cut = 4 * Math.floor(g.c / 8);
        e['dw_bpf3_range']!(px, pdy, pb, ...geo, cut, g.c);
        e['dw_bpf3_range']!(px, pdy, pb, ...geo, 0, cut);
        const whole = fresh().slice(pa / 4, pa / 4 + nw); // dw_bpf's output from the loop above
        const split = fresh().slice(pb / 4, pb / 4 + nw);
        expect(split.every((v, i) => Object.is(v, whole[i])), 'dw_bpf3_range in two blocks = dw_bpf').toBe(true);
      }
    });
  });
}

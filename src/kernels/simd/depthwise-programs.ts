/**
 * Depthwise convolution programs (depthwise.ts): NHWC, channel multiplier 1, dilation 1, c % 4 == 0. Every program
 * takes (a, b, out, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left) and sums each output element in one fixed order,
 * stated per program, whatever the split of the work.
 *
 * The generic programs (dw_fwd, dw_bpi, dw_bpf, dw_bpf_range: any kernel size and stride) walk channel groups of 16
 * (four f32x4 accumulators) and then of 4, with the taps or positions of one output element inside, filter and data
 * both loaded per multiply-add.
 *
 * The 3×3 programs (dw_fwd3, dw_bpi3s1, dw_bpi3s2, dw_bpf3, dw_bpf3_range) unroll the taps: for the interior of a
 * row (every tap in range) they walk one group of 4 channels at a time along the row, with that group's taps held
 * in registers (the filter for the forward and the input gradient, the nine filter-gradient accumulators for the
 * filter gradient): one load per multiply-add instead of two, no tap loops. The border pixels of a row, and rows
 * some tap misses, run the generic code. Both sum every element in the same order with the same multiply-add, so
 * a 3×3 program's output is bit for bit the generic program's (test/kernel-depthwise-k3.test.ts).
 */
import { type FnBuilder, type FnSpec, type Local } from './emitter.js';
import { ceilDivOrZero, channelGroups, macc, maxI, minI, paramList } from './loop-helpers.js';

/** The kernel size (both dimensions) the register programs are unrolled for: every MobileNet depthwise layer. */
export const DW_REG_K = 3;

/** The parameters every depthwise program takes. */
interface Params {
  a: Local;
  b: Local;
  out: Local;
  n: Local;
  h: Local;
  w: Local;
  c: Local;
  oh: Local;
  ow: Local;
  kh: Local;
  kw: Local;
  sh: Local;
  sw: Local;
  top: Local;
  left: Local;
}

function params(f: FnBuilder, count: number): Params {
  const [a, b, out, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left] = paramList(f, count) as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  return { a, b, out, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left };
}

function i32s(f: FnBuilder, count: number): Local[] {
  return Array.from({ length: count }, () => f.i32());
}

function zero(f: FnBuilder, acc: Local): void {
  f.f32Const(0).f32x4Splat().set(acc);
}

/** `if (a >= 0 && a <= hi) then() else otherwise()` for i32 expressions a and hi (hi may be negative) */
function ifInRange(f: FnBuilder, a: () => void, hi: () => void, then: () => void, otherwise: () => void): void {
  a();
  f.i32Const(0).i32GeS();
  a();
  hi();
  f.i32LeS();
  f.i32And();
  f.ifElse(then, otherwise);
}

/**
 * lo = min(size, ceil(pad / s)), hi = max(lo, min(size, floor((inSize − span + pad) / s) + 1)) (hi = lo when
 * negative): the output positions [lo, hi) of a row whose window [p·s − pad, p·s − pad + span) lies inside
 * [0, inSize), for pad ≥ 0.
 */
function interior(f: FnBuilder, lo: Local, hi: Local, tmp: Local, pad: Local, s: Local, inSize: Local, span: number, size: Local): void {
  minI(f, () => f.get(size), () => f.get(pad).get(s).i32Add().i32Const(1).i32Sub().get(s).i32DivS());
  f.set(lo);
  f.get(inSize).i32Const(span).i32Sub().get(pad).i32Add().set(tmp);
  minI(f, () => f.get(size), () => f.get(tmp).get(s).i32DivS().i32Const(1).i32Add());
  f.i32Const(0);
  f.get(tmp).i32Const(0).i32GeS();
  f.select();
  f.set(hi);
  maxI(f, () => f.get(lo), () => f.get(hi));
  f.set(hi);
}

// ------------------------------------------------------------------------------------------------------ forward

interface Fwd {
  p: Params;
  b: Local;
  y: Local;
  xc: Local;
  i: Local;
  j: Local;
  cgB: Local;
  cB: Local;
  end64: Local;
  rowB: Local;
  r0: Local;
  c0: Local;
  iFrom: Local;
  iTo: Local;
  jFrom: Local;
  jTo: Local;
  xbase: Local;
  xp: Local;
  wp: Local;
  op: Local;
  acc: Local[];
}

function fwdState(f: FnBuilder, p: Params): Fwd {
  const [b, y, xc, i, j, cgB, cB, end64, rowB, r0, c0, iFrom, iTo, jFrom, jTo, xbase, xp, wp, op] = i32s(f, 19) as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const s = { p, b, y, xc, i, j, cgB, cB, end64, rowB, r0, c0, iFrom, iTo, jFrom, jTo, xbase, xp, wp, op, acc: [f.v128(), f.v128(), f.v128(), f.v128()] };
  f.get(p.c).i32Const(2).i32Shl().set(cB);
  f.get(p.w).get(cB).i32Mul().set(rowB);
  return s;
}

/** r0 = y·sh − top and the taps [iFrom, iTo) of output row y inside x */
function fwdRow(f: FnBuilder, s: Fwd): void {
  const { p } = s;
  f.get(s.y).get(p.sh).i32Mul().get(p.top).i32Sub().set(s.r0);
  maxI(f, () => f.i32Const(0), () => f.i32Const(0).get(s.r0).i32Sub());
  f.set(s.iFrom);
  minI(f, () => f.get(p.kh), () => f.get(p.h).get(s.r0).i32Sub());
  f.set(s.iTo);
}

/** the generic forward of the output pixels [from, to) of row (b, y) (after fwdRow) */
function fwdPixels(f: FnBuilder, s: Fwd, from: () => void, to: () => void): void {
  const { p, acc } = s;
  const { a: x, b: wt } = p;
  // op = out + ((b·oh + y)·ow + from)·cB
  f.get(p.out).get(s.b).get(p.oh).i32Mul().get(s.y).i32Add().get(p.ow).i32Mul();
  from();
  f.i32Add().get(s.cB).i32Mul().i32Add().set(s.op);
  f.forRange(s.xc, from, to, () => {
    f.get(s.xc).get(p.sw).i32Mul().get(p.left).i32Sub().set(s.c0);
    maxI(f, () => f.i32Const(0), () => f.i32Const(0).get(s.c0).i32Sub());
    f.set(s.jFrom);
    minI(f, () => f.get(p.kw), () => f.get(p.w).get(s.c0).i32Sub());
    f.set(s.jTo);
    // xbase = x + ((b·h + r0)·w + c0)·cB (wraps below x when r0 or c0 < 0; only in-range taps are read)
    f.get(x).get(s.b).get(p.h).i32Mul().get(s.r0).i32Add().get(p.w).i32Mul().get(s.c0).i32Add().get(s.cB).i32Mul().i32Add().set(s.xbase);
    channelGroups(f, s.cgB, s.cB, s.end64, (vectors) => {
      for (let g = 0; g < vectors; g++) zero(f, acc[g]!);
      f.forRange(s.i, () => f.get(s.iFrom), () => f.get(s.iTo), () => {
        f.get(s.xbase).get(s.i).get(s.rowB).i32Mul().i32Add().get(s.jFrom).get(s.cB).i32Mul().i32Add().get(s.cgB).i32Add().set(s.xp);
        f.get(wt).get(s.i).get(p.kw).i32Mul().get(s.jFrom).i32Add().get(s.cB).i32Mul().i32Add().get(s.cgB).i32Add().set(s.wp);
        f.forRange(s.j, () => f.get(s.jFrom), () => f.get(s.jTo), () => {
          macc(f, acc, vectors, s.xp, s.wp);
          f.get(s.xp).get(s.cB).i32Add().set(s.xp);
          f.get(s.wp).get(s.cB).i32Add().set(s.wp);
        });
      });
      for (let g = 0; g < vectors; g++) f.get(s.op).get(s.cgB).i32Add().get(acc[g]!).v128Store(16 * g);
    });
    f.get(s.op).get(s.cB).i32Add().set(s.op);
  });
}

/**
 * dw_fwd(x, wt, out, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left): DepthwiseConv2dNative forward,
 *   out[b, y, xc, ch] = Σ_i Σ_j x[b, y·sh − top + i, xc·sw − left + j, ch] · wt[i, j, ch]
 * taps outside x skipped, summed in (i, j) order.
 * dw_fwd3: the same for kh = kw = 3, the taps of the interior pixels unrolled with the filter in registers.
 */
function dwForwardSpec(k3: boolean): FnSpec {
  return {
    name: k3 ? 'dw_fwd3' : 'dw_fwd',
    nParams: 15,
    build(f) {
      const p = params(f, 15);
      const s = fwdState(f, p);
      const [lo, hi, tmp, swB, cB2, q, p0, p1, p2] = i32s(f, 9) as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
      const wv = k3 ? Array.from({ length: 9 }, () => f.v128()) : [];
      if (k3) {
        interior(f, lo, hi, tmp, p.left, p.sw, p.w, DW_REG_K, p.ow);
        f.get(p.sw).get(s.cB).i32Mul().set(swB);
        f.get(s.cB).i32Const(1).i32Shl().set(cB2);
      }
      const rows = [p0, p1, p2];
      f.forRange(s.b, () => f.i32Const(0), () => f.get(p.n), () => {
        f.forRange(s.y, () => f.i32Const(0), () => f.get(p.oh), () => {
          fwdRow(f, s);
          if (!k3) {
            fwdPixels(f, s, () => f.i32Const(0), () => f.get(p.ow));
            return;
          }
          ifInRange(f, () => f.get(s.r0), () => f.get(p.h).i32Const(DW_REG_K).i32Sub(), () => {
            fwdPixels(f, s, () => f.i32Const(0), () => f.get(lo));
            f.forRange(s.cgB, () => f.i32Const(0), () => f.get(s.cB), () => {
              for (let t = 0; t < 9; t++) f.get(p.b).get(s.cgB).i32Add().i32Const(t).get(s.cB).i32Mul().i32Add().v128Load().set(wv[t]!);
              // p_i = x + ((b·h + r0 + i)·w + lo·sw − left)·cB + cgB; q = out + ((b·oh + y)·ow + lo)·cB + cgB
              f.get(p.a).get(s.b).get(p.h).i32Mul().get(s.r0).i32Add().get(p.w).i32Mul();
              f.get(lo).get(p.sw).i32Mul().i32Add().get(p.left).i32Sub().get(s.cB).i32Mul().i32Add().get(s.cgB).i32Add().set(p0);
              f.get(p0).get(s.rowB).i32Add().set(p1);
              f.get(p1).get(s.rowB).i32Add().set(p2);
              f.get(p.out).get(s.b).get(p.oh).i32Mul().get(s.y).i32Add().get(p.ow).i32Mul().get(lo).i32Add().get(s.cB).i32Mul().i32Add();
              f.get(s.cgB).i32Add().set(q);
              const acc = s.acc[0]!;
              f.forRange(s.xc, () => f.get(lo), () => f.get(hi), () => {
                zero(f, acc);
                for (let i = 0; i < 3; i++) {
                  for (let j = 0; j < 3; j++) {
                    f.madd(acc, () => {
                      f.get(rows[i]!);
                      if (j > 0) f.get(j === 1 ? s.cB : cB2).i32Add();
                      f.v128Load();
                    }, () => f.get(wv[3 * i + j]!));
                  }
                }
                f.get(q).get(acc).v128Store();
                for (const r of rows) f.get(r).get(swB).i32Add().set(r);
                f.get(q).get(s.cB).i32Add().set(q);
              });
            }, 16);
            fwdPixels(f, s, () => f.get(hi), () => f.get(p.ow));
          }, () => fwdPixels(f, s, () => f.i32Const(0), () => f.get(p.ow)));
        });
      });
    },
  };
}
export const dwForward = dwForwardSpec(false);
export const dwForward3 = dwForwardSpec(true);

// ------------------------------------------------------------------------------------------------ backprop input

interface Bpi {
  p: Params;
  b: Local;
  r: Local;
  col: Local;
  y: Local;
  xc: Local;
  cgB: Local;
  cB: Local;
  end64: Local;
  swB: Local;
  t: Local;
  yFrom: Local;
  yTo: Local;
  xFrom: Local;
  xTo: Local;
  dp: Local;
  wp: Local;
  op: Local;
  acc: Local[];
}

function bpiState(f: FnBuilder, p: Params): Bpi {
  const [b, r, col, y, xc, cgB, cB, end64, swB, t, yFrom, yTo, xFrom, xTo, dp, wp, op] = i32s(f, 17) as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const s = { p, b, r, col, y, xc, cgB, cB, end64, swB, t, yFrom, yTo, xFrom, xTo, dp, wp, op, acc: [f.v128(), f.v128(), f.v128(), f.v128()] };
  f.get(p.c).i32Const(2).i32Shl().set(cB);
  f.get(p.sw).get(cB).i32Mul().set(swB);
  return s;
}

/** the output rows [yFrom, yTo) whose windows cover input row r */
function bpiRow(f: FnBuilder, s: Bpi): void {
  const { p } = s;
  // yFrom = ceil((r + top − kh + 1) / sh) (≥ 0), yTo = min(oh, floor((r + top) / sh) + 1)
  f.get(s.r).get(p.top).i32Add().get(p.kh).i32Sub().i32Const(1).i32Add().set(s.t);
  ceilDivOrZero(f, s.t, p.sh);
  f.set(s.yFrom);
  minI(f, () => f.get(p.oh), () => f.get(s.r).get(p.top).i32Add().get(p.sh).i32DivS().i32Const(1).i32Add());
  f.set(s.yTo);
}

/** the generic input gradient of the pixels [from, to) of input row (b, r) (after bpiRow) */
function bpiPixels(f: FnBuilder, s: Bpi, from: () => void, to: () => void): void {
  const { p, acc } = s;
  const { a: dy, b: wt } = p;
  // op = dx + ((b·h + r)·w + from)·cB
  f.get(p.out).get(s.b).get(p.h).i32Mul().get(s.r).i32Add().get(p.w).i32Mul();
  from();
  f.i32Add().get(s.cB).i32Mul().i32Add().set(s.op);
  f.forRange(s.col, from, to, () => {
    f.get(s.col).get(p.left).i32Add().get(p.kw).i32Sub().i32Const(1).i32Add().set(s.t);
    ceilDivOrZero(f, s.t, p.sw);
    f.set(s.xFrom);
    minI(f, () => f.get(p.ow), () => f.get(s.col).get(p.left).i32Add().get(p.sw).i32DivS().i32Const(1).i32Add());
    f.set(s.xTo);
    channelGroups(f, s.cgB, s.cB, s.end64, (vectors) => {
      for (let g = 0; g < vectors; g++) zero(f, acc[g]!);
      f.forRange(s.y, () => f.get(s.yFrom), () => f.get(s.yTo), () => {
        // dp = dy + ((b·oh + y)·ow + xFrom)·cB + cgB
        f.get(dy).get(s.b).get(p.oh).i32Mul().get(s.y).i32Add().get(p.ow).i32Mul().get(s.xFrom).i32Add().get(s.cB).i32Mul().i32Add();
        f.get(s.cgB).i32Add().set(s.dp);
        // wp = wt + ((r + top − y·sh)·kw + col + left − xFrom·sw)·cB + cgB
        f.get(wt).get(s.r).get(p.top).i32Add().get(s.y).get(p.sh).i32Mul().i32Sub().get(p.kw).i32Mul();
        f.get(s.col).i32Add().get(p.left).i32Add().get(s.xFrom).get(p.sw).i32Mul().i32Sub().get(s.cB).i32Mul().i32Add();
        f.get(s.cgB).i32Add().set(s.wp);
        f.forRange(s.xc, () => f.get(s.xFrom), () => f.get(s.xTo), () => {
          macc(f, acc, vectors, s.dp, s.wp);
          f.get(s.dp).get(s.cB).i32Add().set(s.dp);
          f.get(s.wp).get(s.swB).i32Sub().set(s.wp);
        });
      });
      for (let g = 0; g < vectors; g++) f.get(s.op).get(s.cgB).i32Add().get(acc[g]!).v128Store(16 * g);
    });
    f.get(s.op).get(s.cB).i32Add().set(s.op);
  });
}

/** the taps t in [0, K) with t ≡ phase (mod S), descending (output positions ascending), and their offsets (t − phase) / S */
function phaseTaps(phase: number, stride: number): { t: number; d: number }[] {
  const out: { t: number; d: number }[] = [];
  for (let t = DW_REG_K - 1; t >= 0; t--) if (t % stride === phase) out.push({ t, d: (t - phase) / stride });
  return out;
}

/**
 * The register input gradient of input row (b, r) for stride S (sh = sw = S) and row phase ph = (r + top) mod S:
 * with Y = (r + top − ph) / S, the row's taps i ≡ ph read dy rows Y − (i − ph) / S. Where all of them are inside dy,
 * the columns are walked S at a time from an input column col = S·X − left (column phases 0 … S − 1, whose taps j
 * read dy columns X − (j − k) / S), over the X whose every tap is inside dy; the rest of the row is generic.
 */
function bpiRegRow(f: FnBuilder, s: Bpi, stride: number, ph: number, g: { wv: Local[]; vals: Local[]; acc2: Local[]; rp: Local[]; Y: Local; lo: Local; hi: Local; colA: Local; colB: Local; q: Local; cBk: Local[]; tmp: Local }): void {
  const { p } = s;
  const rowTaps = phaseTaps(ph, stride);
  const dmax = Math.max(0, ...rowTaps.map((r) => r.d));
  const colTaps = Array.from({ length: stride }, (_, k) => phaseTaps(k, stride));
  const emax = Math.max(0, ...colTaps.flat().map((c) => c.d));
  f.get(s.r).get(p.top).i32Add().i32Const(ph).i32Sub().get(p.sh).i32DivS().set(g.Y);
  // Xa = max(emax, ceil(left / S)), Xb = min(ow, floor((w − S + left) / S) + 1) (≤ Xa: none)
  maxI(f, () => f.i32Const(emax), () => f.get(p.left).i32Const(stride - 1).i32Add().get(p.sh).i32DivS());
  f.set(g.lo);
  f.get(p.w).i32Const(stride).i32Sub().get(p.left).i32Add().set(g.tmp);
  minI(f, () => f.get(p.ow), () => f.get(g.tmp).get(p.sh).i32DivS().i32Const(1).i32Add());
  f.i32Const(0);
  f.get(g.tmp).i32Const(0).i32GeS();
  f.select();
  f.set(g.hi);
  // rows inside dy: Y − dmax ≥ 0, Y < oh; and some interior column
  f.get(g.Y).i32Const(dmax).i32GeS();
  f.get(g.Y).get(p.oh).i32LtS().i32And();
  f.get(g.lo).get(g.hi).i32LtS().i32And();
  f.ifElse(() => {
    f.get(g.lo).get(p.sh).i32Mul().get(p.left).i32Sub().set(g.colA);
    f.get(g.hi).get(p.sh).i32Mul().get(p.left).i32Sub().set(g.colB);
    bpiPixels(f, s, () => f.i32Const(0), () => f.get(g.colA));
    f.forRange(s.cgB, () => f.i32Const(0), () => f.get(s.cB), () => {
      rowTaps.forEach(({ t: i }, ri) => {
        for (let j = 0; j < DW_REG_K; j++) {
          f.get(p.b).get(s.cgB).i32Add().i32Const(i * DW_REG_K + j).get(s.cB).i32Mul().i32Add().v128Load().set(g.wv[ri * DW_REG_K + j]!);
        }
      });
      // rp_d = dy + ((b·oh + Y − d)·ow + Xa)·cB + cgB; q = dx + ((b·h + r)·w + colA)·cB + cgB
      for (let d = 0; d <= dmax; d++) {
        f.get(p.a).get(s.b).get(p.oh).i32Mul().get(g.Y).i32Add().i32Const(d).i32Sub().get(p.ow).i32Mul().get(g.lo).i32Add();
        f.get(s.cB).i32Mul().i32Add().get(s.cgB).i32Add().set(g.rp[d]!);
      }
      f.get(p.out).get(s.b).get(p.h).i32Mul().get(s.r).i32Add().get(p.w).i32Mul().get(g.colA).i32Add().get(s.cB).i32Mul().i32Add();
      f.get(s.cgB).i32Add().set(g.q);
      // each dy vector (d, e) read once per step: into a register where two column phases use it
      const uses = new Map<string, number>();
      for (const ct of colTaps) for (const rt of rowTaps) for (const c of ct) uses.set(`${rt.d},${c.d}`, (uses.get(`${rt.d},${c.d}`) ?? 0) + 1);
      f.forRange(s.xc, () => f.get(g.lo), () => f.get(g.hi), () => {
        const held = new Map<string, Local>();
        const value = (d: number, e: number): void => {
          const key = `${d},${e}`;
          const have = held.get(key);
          if (have !== undefined) {
            f.get(have);
            return;
          }
          f.get(g.rp[d]!);
          if (e > 0) f.get(g.cBk[e]!).i32Sub();
          f.v128Load();
          if ((uses.get(key) ?? 0) > 1) {
            const v = g.vals[held.size]!;
            held.set(key, v);
            f.tee(v);
          }
        };
        colTaps.forEach((ct, k) => {
          const acc = g.acc2[k]!;
          zero(f, acc);
          rowTaps.forEach((rt, ri) => {
            for (const c of ct) f.madd(acc, () => value(rt.d, c.d), () => f.get(g.wv[ri * DW_REG_K + c.t]!));
          });
          f.get(g.q);
          if (k > 0) f.get(g.cBk[k]!).i32Add();
          f.get(acc).v128Store();
        });
        for (let d = 0; d <= dmax; d++) f.get(g.rp[d]!).get(s.cB).i32Add().set(g.rp[d]!);
        f.get(g.q).get(g.cBk[stride]!).i32Add().set(g.q);
      });
    }, 16);
    bpiPixels(f, s, () => f.get(g.colB), () => f.get(p.w));
  }, () => bpiPixels(f, s, () => f.i32Const(0), () => f.get(p.w)));
}

/**
 * dw_bpi(dy, wt, dx, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left): DepthwiseConv2dNativeBackpropInput,
 *   dx[b, r, col, ch] = Σ_{y, xc} dy[b, y, xc, ch] · wt[r + top − y·sh, col + left − xc·sw, ch]
 * over the (y, xc) whose window covers (r, col), summed in (y, xc) order (taps i, j descending). Input positions
 * no window covers get 0.
 * dw_bpi3s1, dw_bpi3s2: the same for kh = kw = 3 and sh = sw = 1 or 2 (bpiRegRow).
 */
function dwBackpropInputSpec(stride: 0 | 1 | 2): FnSpec {
  return {
    name: stride === 0 ? 'dw_bpi' : `dw_bpi3s${stride}`,
    nParams: 15,
    build(f) {
      const p = params(f, 15);
      const s = bpiState(f, p);
      const reg = stride === 0 ? null : {
        wv: Array.from({ length: 9 }, () => f.v128()),
        vals: Array.from({ length: 4 }, () => f.v128()),
        acc2: Array.from({ length: stride }, () => f.v128()),
        rp: i32s(f, DW_REG_K),
        cBk: i32s(f, DW_REG_K),
        ...((): { Y: Local; lo: Local; hi: Local; colA: Local; colB: Local; q: Local; tmp: Local } => {
          const [Y, lo, hi, colA, colB, q, tmp] = i32s(f, 7) as [Local, Local, Local, Local, Local, Local, Local];
          return { Y, lo, hi, colA, colB, q, tmp };
        })(),
      };
      if (reg !== null) for (let e = 0; e < DW_REG_K; e++) f.get(s.cB).i32Const(e).i32Mul().set(reg.cBk[e]!);
      f.forRange(s.b, () => f.i32Const(0), () => f.get(p.n), () => {
        f.forRange(s.r, () => f.i32Const(0), () => f.get(p.h), () => {
          bpiRow(f, s);
          if (reg === null) {
            bpiPixels(f, s, () => f.i32Const(0), () => f.get(p.w));
          } else if (stride === 1) {
            bpiRegRow(f, s, 1, 0, reg);
          } else {
            f.get(s.r).get(p.top).i32Add().i32Const(1).i32And().i32Eqz();
            f.ifElse(() => bpiRegRow(f, s, 2, 0, reg), () => bpiRegRow(f, s, 2, 1, reg));
          }
        });
      });
    },
  };
}
export const dwBackpropInput = dwBackpropInputSpec(0);
export const dwBackpropInput3s1 = dwBackpropInputSpec(1);
export const dwBackpropInput3s2 = dwBackpropInputSpec(2);

// ----------------------------------------------------------------------------------------------- backprop filter

interface Bpf {
  p: Params;
  b: Local;
  y: Local;
  i: Local;
  j: Local;
  xc: Local;
  cgB: Local;
  cB: Local;
  end64: Local;
  swB: Local;
  xr: Local;
  t: Local;
  xFrom: Local;
  xTo: Local;
  dyRow: Local;
  xp: Local;
  dp: Local;
  op: Local;
  fromB: Local;
  toB: Local;
  acc: Local[];
}

/**
 * The generic filter gradient of dy row (b, y) accumulated into out: per tap (i, j) the positions xc in
 * [xFrom, xTo) ∩ [lo, hi) in order, for the channels [fromB, toB).
 */
function bpfRow(f: FnBuilder, s: Bpf, ranged: boolean, lo: (() => void) | null, hi: (() => void) | null): void {
  const { p, acc } = s;
  const { a: x } = p;
  f.get(p.b).get(s.b).get(p.oh).i32Mul().get(s.y).i32Add().get(p.ow).i32Mul().get(s.cB).i32Mul().i32Add().set(s.dyRow);
  f.forRange(s.i, () => f.i32Const(0), () => f.get(p.kh), () => {
    f.get(s.y).get(p.sh).i32Mul().get(p.top).i32Sub().get(s.i).i32Add().set(s.xr);
    f.get(s.xr).get(p.h).i32LtU();
    f.ifThen(() => {
      f.forRange(s.j, () => f.i32Const(0), () => f.get(p.kw), () => {
        // xFrom = ceil((left − j) / sw) (≥ 0); xTo = min(ow, floor((w − 1 + left − j) / sw) + 1) (0 if negative)
        f.get(p.left).get(s.j).i32Sub().set(s.t);
        ceilDivOrZero(f, s.t, p.sw);
        if (lo !== null) {
          f.set(s.xFrom);
          maxI(f, () => f.get(s.xFrom), lo);
        }
        f.set(s.xFrom);
        f.get(p.w).i32Const(1).i32Sub().get(p.left).i32Add().get(s.j).i32Sub().set(s.t);
        minI(f, () => f.get(p.ow), () => f.get(s.t).get(p.sw).i32DivS().i32Const(1).i32Add());
        f.i32Const(0);
        f.get(s.t).i32Const(0).i32GeS();
        f.select();
        if (hi !== null) {
          f.set(s.xTo);
          minI(f, () => f.get(s.xTo), hi);
        }
        f.set(s.xTo);
        channelGroups(f, s.cgB, s.toB, s.end64, (vectors) => {
          f.get(p.out).get(s.i).get(p.kw).i32Mul().get(s.j).i32Add().get(s.cB).i32Mul().i32Add().get(s.cgB).i32Add().set(s.op);
          for (let g = 0; g < vectors; g++) f.get(s.op).v128Load(16 * g).set(acc[g]!);
          // xp = x + ((b·h + xr)·w + xFrom·sw − left + j)·cB + cgB; dp = dyRow + xFrom·cB + cgB
          f.get(x).get(s.b).get(p.h).i32Mul().get(s.xr).i32Add().get(p.w).i32Mul();
          f.get(s.xFrom).get(p.sw).i32Mul().i32Add().get(p.left).i32Sub().get(s.j).i32Add().get(s.cB).i32Mul().i32Add();
          f.get(s.cgB).i32Add().set(s.xp);
          f.get(s.dyRow).get(s.xFrom).get(s.cB).i32Mul().i32Add().get(s.cgB).i32Add().set(s.dp);
          f.forRange(s.xc, () => f.get(s.xFrom), () => f.get(s.xTo), () => {
            macc(f, acc, vectors, s.xp, s.dp);
            f.get(s.xp).get(s.swB).i32Add().set(s.xp);
            f.get(s.dp).get(s.cB).i32Add().set(s.dp);
          });
          for (let g = 0; g < vectors; g++) f.get(s.op).get(acc[g]!).v128Store(16 * g);
        }, ranged ? s.fromB : undefined);
      });
    });
  });
}

/**
 * dw_bpf(x, dy, out, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left): DepthwiseConv2dNativeBackpropFilter,
 *   out[i, j, ch] = Σ_{b, y, xc} x[b, y·sh − top + i, xc·sw − left + j, ch] · dy[b, y, xc, ch]
 * positions outside x skipped, summed in (b, y, xc) order (out is zeroed here, then accumulated per dy row).
 * dw_bpf_range(..., left, c0, c1): channels [c0, c1) only (multiples of 4), writing only their slice of out: the same
 * sums in the same order per channel, so a split of the channels over threads cannot change a bit.
 * dw_bpf3, dw_bpf3_range: the same for kh = kw = 3; per dy row whose taps are all inside x, the interior positions
 * run with one channel group's nine accumulators in registers, between the generic code's border positions.
 */
function dwBackpropFilterSpec(ranged: boolean, k3: boolean): FnSpec {
  return {
    name: `dw_bpf${k3 ? '3' : ''}${ranged ? '_range' : ''}`,
    nParams: ranged ? 17 : 15,
    build(f) {
      const p = params(f, ranged ? 17 : 15);
      const [b, y, i, j, xc, cgB, cB, end64, swB, xr, t, xFrom, xTo, dyRow, xp, dp, op, fromB, toB, tap] = i32s(f, 20) as [
        Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
      ];
      const s: Bpf = { p, b, y, i, j, xc, cgB, cB, end64, swB, xr, t, xFrom, xTo, dyRow, xp, dp, op, fromB, toB, acc: [f.v128(), f.v128(), f.v128(), f.v128()] };
      f.get(p.c).i32Const(2).i32Shl().set(cB);
      f.get(p.sw).get(cB).i32Mul().set(swB);
      if (!ranged) {
        f.i32Const(0).set(fromB);
        f.get(cB).set(toB);
        f.get(p.out).i32Const(0).get(p.kh).get(p.kw).i32Mul().get(cB).i32Mul().memoryFill();
      } else {
        // channels [c0, c1) only: zero that slice of every tap, then accumulate it
        f.get(f.param(15)).i32Const(2).i32Shl().set(fromB);
        f.get(f.param(16)).i32Const(2).i32Shl().set(toB);
        f.forRange(tap, () => f.i32Const(0), () => f.get(p.kh).get(p.kw).i32Mul(), () => {
          f.get(p.out).get(tap).get(cB).i32Mul().i32Add().get(fromB).i32Add().i32Const(0).get(toB).get(fromB).i32Sub().memoryFill();
        });
      }
      const [lo, hi, r0, cB2, q, p0, p1, p2] = i32s(f, 8) as [Local, Local, Local, Local, Local, Local, Local, Local];
      const acc9 = k3 ? Array.from({ length: 9 }, () => f.v128()) : [];
      const dv = f.v128();
      if (k3) {
        interior(f, lo, hi, t, p.left, p.sw, p.w, DW_REG_K, p.ow);
        f.get(cB).i32Const(1).i32Shl().set(cB2);
      }
      const rows = [p0, p1, p2];
      f.forRange(b, () => f.i32Const(0), () => f.get(p.n), () => {
        f.forRange(y, () => f.i32Const(0), () => f.get(p.oh), () => {
          if (!k3) {
            bpfRow(f, s, ranged, null, null);
            return;
          }
          f.get(y).get(p.sh).i32Mul().get(p.top).i32Sub().set(r0);
          ifInRange(f, () => f.get(r0), () => f.get(p.h).i32Const(DW_REG_K).i32Sub(), () => {
            bpfRow(f, s, ranged, null, () => f.get(lo));
            f.forRange(cgB, () => f.get(fromB), () => f.get(toB), () => {
              f.get(p.out).get(cgB).i32Add().set(q);
              for (let k = 0; k < 9; k++) f.get(q).i32Const(k).get(cB).i32Mul().i32Add().v128Load().set(acc9[k]!);
              // p_i = x + ((b·h + r0 + i)·w + lo·sw − left)·cB + cgB; dp = dy + ((b·oh + y)·ow + lo)·cB + cgB
              f.get(p.a).get(b).get(p.h).i32Mul().get(r0).i32Add().get(p.w).i32Mul();
              f.get(lo).get(p.sw).i32Mul().i32Add().get(p.left).i32Sub().get(cB).i32Mul().i32Add().get(cgB).i32Add().set(p0);
              f.get(p0).get(p.w).get(cB).i32Mul().i32Add().set(p1);
              f.get(p1).get(p.w).get(cB).i32Mul().i32Add().set(p2);
              f.get(p.b).get(b).get(p.oh).i32Mul().get(y).i32Add().get(p.ow).i32Mul().get(lo).i32Add().get(cB).i32Mul().i32Add();
              f.get(cgB).i32Add().set(dp);
              f.forRange(xc, () => f.get(lo), () => f.get(hi), () => {
                f.get(dp).v128Load().set(dv);
                for (let ii = 0; ii < 3; ii++) {
                  for (let jj = 0; jj < 3; jj++) {
                    f.madd(acc9[3 * ii + jj]!, () => {
                      f.get(rows[ii]!);
                      if (jj > 0) f.get(jj === 1 ? cB : cB2).i32Add();
                      f.v128Load();
                    }, () => f.get(dv));
                  }
                }
                for (const r of rows) f.get(r).get(swB).i32Add().set(r);
                f.get(dp).get(cB).i32Add().set(dp);
              });
              for (let k = 0; k < 9; k++) f.get(q).i32Const(k).get(cB).i32Mul().i32Add().get(acc9[k]!).v128Store();
            }, 16);
            bpfRow(f, s, ranged, () => f.get(hi), null);
          }, () => bpfRow(f, s, ranged, null, null));
        });
      });
    },
  };
}
export const dwBackpropFilter = dwBackpropFilterSpec(false, false);
export const dwBackpropFilterRange = dwBackpropFilterSpec(true, false);
export const dwBackpropFilter3 = dwBackpropFilterSpec(false, true);
export const dwBackpropFilter3Range = dwBackpropFilterSpec(true, true);

/** every depthwise program */
export const DEPTHWISE_PROGRAMS: FnSpec[] = [
  dwForward,
  dwForward3,
  dwBackpropInput,
  dwBackpropInput3s1,
  dwBackpropInput3s2,
  dwBackpropFilter,
  dwBackpropFilterRange,
  dwBackpropFilter3,
  dwBackpropFilter3Range,
];

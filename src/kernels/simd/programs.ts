/**
 * The SIMD loops themselves (see emitter.ts). Pointers are byte offsets into the tfjs wasm heap, sizes are
 * element counts. Each program's contract is stated above it; the JS side checks shapes before calling.
 */
import { type FnBuilder, type FnSpec, type Local } from './emitter.js';
import { CONV_PROGRAMS } from './conv-programs.js';
import { COL2IM_PROGRAMS } from './col2im-programs.js';
import { EPILOGUE_PROGRAMS } from './epilogue-programs.js';
import { MAXPOOL_PROGRAMS } from './maxpool-programs.js';
import { DIRECT_CONV_PROGRAMS } from './direct-conv-programs.js';
import { SUM_PROGRAMS } from './sum-programs.js';
import { UNARY_PROGRAMS } from './unary-programs.js';
import { COPY_PROGRAMS } from './copy-programs.js';
import { DEPTHWISE_PROGRAMS } from './depthwise-programs.js';
import { channelGroups, maxI, minI, paramList } from './loop-helpers.js';

/** `for (off = 0; off < bytes; off += 16) body(off)` then a 4-byte scalar tail `tail(off)` up to `bytes`. */
function vectorLoop(f: FnBuilder, off: Local, end16: Local, bytes: () => void, body: () => void, tail: () => void): void {
  // end16 = bytes & ~15
  bytes();
  f.i32Const(-16).i32And();
  f.set(end16);
  f.forRange(off, () => f.i32Const(0), () => f.get(end16), body, 16);
  f.forRange(off, () => f.get(end16), bytes, tail, 4);
}

/** relu_grad(y, dy, out, n): out[i] = y[i] > 0 ? dy[i] : 0 */
const reluGrad: FnSpec = {
  name: 'relu_grad',
  nParams: 4,
  build(f) {
    const [y, dy, out, n] = [f.param(0), f.param(1), f.param(2), f.param(3)];
    const off = f.i32();
    const end16 = f.i32();
    const zero = f.v128();
    f.f32Const(0).f32x4Splat().set(zero);
    vectorLoop(
      f,
      off,
      end16,
      () => f.get(n).i32Const(2).i32Shl(),
      () => {
        f.get(out).get(off).i32Add();
        f.get(dy).get(off).i32Add().v128Load();
        f.get(y).get(off).i32Add().v128Load().get(zero).f32x4Gt();
        f.v128And().v128Store();
      },
      () => {
        f.get(out).get(off).i32Add();
        f.get(dy).get(off).i32Add().f32Load();
        f.f32Const(0);
        f.get(y).get(off).i32Add().f32Load().f32Const(0).f32Gt();
        f.select().f32Store();
      },
    );
  },
};

/** bias_add(x, b, out, rows, c): out[r, j] = x[r, j] + b[j] (row-major [rows, c]) */
const biasAdd: FnSpec = {
  name: 'bias_add',
  nParams: 5,
  build(f) {
    const [x, b, out, rows, c] = [f.param(0), f.param(1), f.param(2), f.param(3), f.param(4)];
    const row = f.i32();
    const rowBytes = f.i32();
    const off = f.i32();
    const end16 = f.i32();
    f.get(c).i32Const(2).i32Shl().set(rowBytes);
    f.forRange(
      row,
      () => f.i32Const(0),
      () => f.get(rows).get(rowBytes).i32Mul(),
      () => {
        vectorLoop(
          f,
          off,
          end16,
          () => f.get(rowBytes),
          () => {
            f.get(out).get(row).i32Add().get(off).i32Add();
            f.get(x).get(row).i32Add().get(off).i32Add().v128Load();
            f.get(b).get(off).i32Add().v128Load();
            f.f32x4Add().v128Store();
          },
          () => {
            f.get(out).get(row).i32Add().get(off).i32Add();
            f.get(x).get(row).i32Add().get(off).i32Add().f32Load();
            f.get(b).get(off).i32Add().f32Load();
            f.f32Add().f32Store();
          },
        );
      },
      () => f.get(rowBytes),
    );
  },
};

/** col_sum(x, out, rows, c): out[j] = Σ_r x[r, j] (sequential float32 sum over r, as the stock kernels) */
const colSum: FnSpec = {
  name: 'col_sum',
  nParams: 4,
  build(f) {
    const [x, out, rows, c] = [f.param(0), f.param(1), f.param(2), f.param(3)];
    const row = f.i32();
    const rowBytes = f.i32();
    const off = f.i32();
    const end16 = f.i32();
    f.get(c).i32Const(2).i32Shl().set(rowBytes);
    f.get(out).i32Const(0).get(rowBytes).memoryFill();
    f.forRange(
      row,
      () => f.i32Const(0),
      () => f.get(rows).get(rowBytes).i32Mul(),
      () => {
        vectorLoop(
          f,
          off,
          end16,
          () => f.get(rowBytes),
          () => {
            f.get(out).get(off).i32Add();
            f.get(out).get(off).i32Add().v128Load();
            f.get(x).get(row).i32Add().get(off).i32Add().v128Load();
            f.f32x4Add().v128Store();
          },
          () => {
            f.get(out).get(off).i32Add();
            f.get(out).get(off).i32Add().f32Load();
            f.get(x).get(row).i32Add().get(off).i32Add().f32Load();
            f.f32Add().f32Store();
          },
        );
      },
      () => f.get(rowBytes),
    );
  },
};

/**
 * max_pool_grad(x, dy, dx, n, h, w, c, oh, ow, fh, fw, sh, sw, top, left)
 * Non-overlapping windows only (sh >= fh, sw >= fw) and c % 4 == 0; dx must be zeroed by the caller where no
 * window covers it. Per window and channel: the FIRST maximum (row-major) strictly greater than all before it,
 * starting from -Infinity, receives dy; every other covered element gets 0 (NaN never wins).
 */
const maxPoolGrad: FnSpec = {
  name: 'max_pool_grad',
  nParams: 15,
  build(f) {
    const p = Array.from({ length: 15 }, (_, i) => f.param(i));
    const [x, dy, dx, n, h, w, c, oh, ow, fh, fw, sh, sw, top, left] = p as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
    const b = f.i32();
    const yr = f.i32();
    const yc = f.i32();
    const r = f.i32();
    const col = f.i32();
    const d = f.i32();
    const r0 = f.i32();
    const rFrom = f.i32();
    const rTo = f.i32();
    const c0 = f.i32();
    const cFrom = f.i32();
    const cTo = f.i32();
    const idx = f.i32();
    const dyIdx = f.i32();
    const best = f.v128();
    const pos = f.v128();
    const v = f.v128();
    const m = f.v128();
    const g = f.v128();
    const negInf = f.v128();
    const minusOne = f.v128();
    f.f32Const(-Infinity).f32x4Splat().set(negInf);
    f.i32Const(-1).i32x4Splat().set(minusOne);
    const maxI = (a: () => void, b: () => void): void => void f.i32MaxS(a, b);
    const minI = (a: () => void, b: () => void): void => void f.i32MinS(a, b);
    // element index of x[b, r, col, d]
    const xIndex = (): void => {
      f.get(b).get(h).i32Mul().get(r).i32Add().get(w).i32Mul().get(col).i32Add().get(c).i32Mul().get(d).i32Add();
    };
    f.forRange(b, () => f.i32Const(0), () => f.get(n), () => {
      f.forRange(yr, () => f.i32Const(0), () => f.get(oh), () => {
        f.get(yr).get(sh).i32Mul().get(top).i32Sub().set(r0);
        maxI(() => f.i32Const(0), () => f.get(r0));
        f.set(rFrom);
        minI(() => f.get(h), () => f.get(r0).get(fh).i32Add());
        f.set(rTo);
        f.forRange(yc, () => f.i32Const(0), () => f.get(ow), () => {
          f.get(yc).get(sw).i32Mul().get(left).i32Sub().set(c0);
          maxI(() => f.i32Const(0), () => f.get(c0));
          f.set(cFrom);
          minI(() => f.get(w), () => f.get(c0).get(fw).i32Add());
          f.set(cTo);
          f.forRange(d, () => f.i32Const(0), () => f.get(c), () => {
            f.get(negInf).set(best);
            f.get(minusOne).set(pos);
            f.forRange(r, () => f.get(rFrom), () => f.get(rTo), () => {
              f.forRange(col, () => f.get(cFrom), () => f.get(cTo), () => {
                xIndex();
                f.set(idx);
                f.get(x).get(idx).i32Const(2).i32Shl().i32Add().v128Load().set(v);
                f.get(v).get(best).f32x4Gt().set(m);
                f.get(v).get(best).get(m).v128Bitselect().set(best);
                f.get(idx).i32x4Splat().get(pos).get(m).v128Bitselect().set(pos);
              });
            });
            // dy index of [b, yr, yc, d]
            f.get(b).get(oh).i32Mul().get(yr).i32Add().get(ow).i32Mul().get(yc).i32Add().get(c).i32Mul().get(d).i32Add();
            f.set(dyIdx);
            f.get(dy).get(dyIdx).i32Const(2).i32Shl().i32Add().v128Load().set(g);
            f.forRange(r, () => f.get(rFrom), () => f.get(rTo), () => {
              f.forRange(col, () => f.get(cFrom), () => f.get(cTo), () => {
                xIndex();
                f.set(idx);
                f.get(dx).get(idx).i32Const(2).i32Shl().i32Add();
                f.get(g);
                f.get(pos).get(idx).i32x4Splat().i32x4Eq();
                f.v128And().v128Store();
              });
            });
          }, 4);
        });
      });
    });
  },
};

/**
 * im2col_t(x, out, n, h, w, c, kh, kw, oh, ow, sh, sw, top, left): the TRANSPOSED patch matrix
 * out[(i·kw + j)·c + ci, (b·oh + yr)·ow + yc] = x[b, yr·sh − top + i, yc·sw − left + j, ci] (0 outside x),
 * shape [kh·kw·c, n·oh·ow]. With it, dW = out · dy as one plain matmul. Writes are sequential; per output row
 * segment the in-bounds column range is found once, so the inner loop is a bare strided copy.
 */
const im2colT: FnSpec = {
  name: 'im2col_t',
  nParams: 14,
  build(f) {
    const p = Array.from({ length: 14 }, (_, i) => f.param(i));
    const [x, out, n, h, w, c, kh, kw, oh, ow, sh, sw, top, left] = p as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
    const b = f.i32();
    const yr = f.i32();
    const yc = f.i32();
    const i = f.i32();
    const j = f.i32();
    const ci = f.i32();
    const r = f.i32();
    const dst = f.i32();
    const src = f.i32();
    const ycFrom = f.i32();
    const ycTo = f.i32();
    const srcStep = f.i32();
    const owBytes = f.i32();
    const end = f.i32();
    f.get(sw).get(c).i32Mul().i32Const(2).i32Shl().set(srcStep);
    f.get(ow).i32Const(2).i32Shl().set(owBytes);
    f.get(out).set(dst);
    // memory.fill(at, 0, bytes) when bytes > 0
    const zero = (bytes: () => void, at: () => void): void => {
      bytes();
      f.i32Const(0).i32GtS();
      f.ifThen(() => {
        at();
        f.i32Const(0);
        bytes();
        f.memoryFill();
      });
    };
    f.forRange(i, () => f.i32Const(0), () => f.get(kh), () => {
      f.forRange(j, () => f.i32Const(0), () => f.get(kw), () => {
        // ycFrom: first yc with yc*sw - left + j >= 0 (or ow)
        f.i32Const(0).set(ycFrom);
        f.op0(0x02).op0(0x03);
        f.get(ycFrom).get(ow).i32GeS().brIf(1);
        f.get(ycFrom).get(sw).i32Mul().get(left).i32Sub().get(j).i32Add().i32Const(0).i32GeS().brIf(1);
        f.get(ycFrom).i32Const(1).i32Add().set(ycFrom);
        f.br(0);
        f.end().end();
        // ycTo: one past the last yc with yc*sw - left + j < w (at least ycFrom)
        f.get(ow).set(ycTo);
        f.op0(0x02).op0(0x03);
        f.get(ycTo).get(ycFrom).i32LeS().brIf(1);
        f.get(ycTo).i32Const(1).i32Sub().get(sw).i32Mul().get(left).i32Sub().get(j).i32Add().get(w).i32LtS().brIf(1);
        f.get(ycTo).i32Const(1).i32Sub().set(ycTo);
        f.br(0);
        f.end().end();
        f.forRange(ci, () => f.i32Const(0), () => f.get(c), () => {
          f.forRange(b, () => f.i32Const(0), () => f.get(n), () => {
            f.forRange(yr, () => f.i32Const(0), () => f.get(oh), () => {
              f.get(yr).get(sh).i32Mul().get(top).i32Sub().get(i).i32Add().set(r);
              f.get(r).get(h).i32LtU().i32Eqz();
              f.ifThen(() => {
                f.get(dst).i32Const(0).get(owBytes).memoryFill();
              });
              f.get(r).get(h).i32LtU();
              f.ifThen(() => {
                zero(() => f.get(ycFrom).i32Const(2).i32Shl(), () => f.get(dst));
                // src = x + (((b*h + r)*w + (ycFrom*sw - left + j))*c + ci) * 4
                f.get(x);
                f.get(b).get(h).i32Mul().get(r).i32Add().get(w).i32Mul();
                f.get(ycFrom).get(sw).i32Mul().get(left).i32Sub().get(j).i32Add().i32Add();
                f.get(c).i32Mul().get(ci).i32Add().i32Const(2).i32Shl().i32Add().set(src);
                f.get(dst).get(ycTo).i32Const(2).i32Shl().i32Add().set(end);
                f.forRange(yc, () => f.get(dst).get(ycFrom).i32Const(2).i32Shl().i32Add(), () => f.get(end), () => {
                  f.get(yc).get(src).f32Load().f32Store();
                  f.get(src).get(srcStep).i32Add().set(src);
                }, 4);
                zero(() => f.get(ow).get(ycTo).i32Sub().i32Const(2).i32Shl(), () => f.get(end));
              });
              f.get(dst).get(owBytes).i32Add().set(dst);
            });
          });
        });
      });
    });
  },
};

/**
 * Coefficients of one Adam step, float32 at `coef` (the JS side writes them): the order of ADAM_COEFS.
 *   decay = 1 − lr·wd, mom, 1 − mom, β2, 1 − β2, debias2 = 1 − β2^t, stepSize = −lr/(1 − mom^t), eps
 */
export const ADAM_COEFS = ['decay', 'mom', 'oneMinusMom', 'beta2', 'oneMinusBeta2', 'debias2', 'stepSize', 'eps'] as const;

/**
 * adam_step[_first][_decay](p, g, m, v, outP, outM, outV, n, coef): fastai's Adam for one parameter, one pass,
 * each float32 operation in the order of FastOptimizer's op-by-op path (so the results are bit-identical):
 *   P = p·decay (only _decay)        g2 = (g·(1−β2))·g
 *   M = m·mom + g·(1−mom)            V = v·β2 + g2          (_first: M = g·(1−mom), V = g2; m and v unread)
 *   outP = P + (M·stepSize) / (sqrt(V / debias2) + eps)     outM = M   outV = V
 * Outputs must not overlap the inputs.
 */
function adamStep(first: boolean, decay: boolean): FnSpec {
  return {
    name: `adam_step${first ? '_first' : ''}${decay ? '_decay' : ''}`,
    nParams: 9,
    build(f) {
      const [p, g, m, v, outP, outM, outV, n, coef] = Array.from({ length: 9 }, (_, i) => f.param(i)) as [
        Local, Local, Local, Local, Local, Local, Local, Local, Local,
      ];
      const off = f.i32();
      const end16 = f.i32();
      const k = ADAM_COEFS.map(() => f.v128());
      const ks = ADAM_COEFS.map(() => f.f32());
      ADAM_COEFS.forEach((_, i) => {
        f.get(coef).f32Load(4 * i).tee(ks[i]!).f32x4Splat().set(k[i]!);
      });
      const [cDecay, cMom, cOneMinusMom, cBeta2, cOneMinusBeta2, cDebias2, cStep, cEps] = [0, 1, 2, 3, 4, 5, 6, 7];
      // one element (scalar) or four (vector): the same sequence of operations
      const body = (vector: boolean): void => {
        const gm = vector ? f.v128() : f.f32();
        const mm = vector ? f.v128() : f.f32();
        const vv = vector ? f.v128() : f.f32();
        const load = (base: Local): void => {
          f.get(base).get(off).i32Add();
          if (vector) f.v128Load();
          else f.f32Load();
        };
        const c = (i: number): void => {
          f.get(vector ? k[i]! : ks[i]!);
        };
        const mul = (): void => void (vector ? f.f32x4Mul() : f.f32Mul());
        const add = (): void => void (vector ? f.f32x4Add() : f.f32Add());
        const div = (): void => void (vector ? f.f32x4Div() : f.f32Div());
        const sqrt = (): void => void (vector ? f.f32x4Sqrt() : f.f32Sqrt());
        const store = (): void => void (vector ? f.v128Store() : f.f32Store());
        load(g);
        f.set(gm);
        // M
        if (!first) {
          load(m);
          c(cMom);
          mul();
        }
        f.get(gm);
        c(cOneMinusMom);
        mul();
        if (!first) add();
        f.set(mm);
        // V
        if (!first) {
          load(v);
          c(cBeta2);
          mul();
        }
        f.get(gm);
        c(cOneMinusBeta2);
        mul();
        f.get(gm);
        mul();
        if (!first) add();
        f.set(vv);
        // outM, outV
        f.get(outM).get(off).i32Add().get(mm);
        store();
        f.get(outV).get(off).i32Add().get(vv);
        store();
        // outP = P + (M·stepSize) / (sqrt(V/debias2) + eps)
        f.get(outP).get(off).i32Add();
        load(p);
        if (decay) {
          c(cDecay);
          mul();
        }
        f.get(mm);
        c(cStep);
        mul();
        f.get(vv);
        c(cDebias2);
        div();
        sqrt();
        c(cEps);
        add();
        div();
        add();
        store();
      };
      vectorLoop(
        f,
        off,
        end16,
        () => f.get(n).i32Const(2).i32Shl(),
        () => body(true),
        () => body(false),
      );
    },
  };
}

export const ADAM_PROGRAMS = [false, true].flatMap((first) => [false, true].map((decay) => adamStep(first, decay)));

/**
 * conv_bpf_direct[2](x, dy, out, n, h, w, c, co, kh, kw, oh, ow, sh, sw, top, left, cg0, cg1): Conv2DBackpropFilter
 * (NHWC) for few filter rows (kh·kw·c small: first layers), co % 16 == 0, no packing and no patch matrix, the output
 * channels [cg0, cg1) only (multiples of 16; 0, co for all):
 *   out[i, j, ci, o] = Σ_{b, y, xc} x[b, y·sh − top + i, xc·sw − left + j, ci] · dy[b, y, xc, o]
 * summed in (b, y, xc) order, out of range input positions skipped. For each image b (its dy and x stay in L1) and
 * each filter row (i, j, ci) and group of 16 output channels, four f32x4 accumulators run along y and xc (loaded from
 * and stored to `out` once per image, not once per dy row: on the MNIST CNN's 11×11 dy rows that was 1 load and
 * store per 5.5 madds). Each pass takes two filter rows, sharing each dy load between them: conv_bpf_direct2 two
 * input channels (c must be even); conv_bpf_direct two adjacent filter columns (j, j + 1) of one channel where both
 * see the same output columns (always without padding), else one row. Which rows share a pass never changes an
 * element's sum. `out` must be zeroed by the caller.
 */
function convBpfDirect(rowsPerPass: 1 | 2): FnSpec {
  return {
    name: rowsPerPass === 1 ? 'conv_bpf_direct' : 'conv_bpf_direct2',
    nParams: 18,
    build(f) {
      const p = Array.from({ length: 18 }, (_, i) => f.param(i));
      const [x, dy, out, n, h, w, c, co, kh, kw, oh, ow, sh, sw, top, left, cg0, cg1] = p as [
        Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
      ];
      const [b, y, i, j, ci, cg, xr, xFrom, xTo, xFrom2, xTo2, xc, xp, dp, op, dyRow, xStep, dyStep, cB, tapStep, pair] =
        Array.from({ length: 21 }, () => f.i32());
      const rows = Array.from({ length: 2 }, () => ({ acc: [f.v128(), f.v128(), f.v128(), f.v128()], xv: f.v128() }));
      const dv = [f.v128(), f.v128(), f.v128(), f.v128()];
      f.get(sw).get(c).i32Mul().i32Const(2).i32Shl().set(xStep);
      f.get(co).i32Const(2).i32Shl().set(dyStep);
      f.get(c).i32Const(2).i32Shl().set(cB);
      f.get(c).get(dyStep).i32Mul().set(tapStep);
      /** from: first xc with xc·sw − left + jj >= 0; to: one past the last with xc·sw − left + jj < w */
      const range = (jj: () => void, from: Local, to: Local): void => {
        f.i32Const(0).set(from);
        f.op0(0x02).op0(0x03);
        f.get(from).get(ow).i32GeS().brIf(1);
        f.get(from).get(sw).i32Mul().get(left).i32Sub();
        jj();
        f.i32Add().i32Const(0).i32GeS().brIf(1);
        f.get(from).i32Const(1).i32Add().set(from);
        f.br(0);
        f.end().end();
        f.get(ow).set(to);
        f.op0(0x02).op0(0x03);
        f.get(to).get(from).i32LeS().brIf(1);
        f.get(to).i32Const(1).i32Sub().get(sw).i32Mul().get(left).i32Sub();
        jj();
        f.i32Add().get(w).i32LtS().brIf(1);
        f.get(to).i32Const(1).i32Sub().set(to);
        f.br(0);
        f.end().end();
      };
      /**
       * The filter rows (i, j, ci) .. of one pass, every group of 16 output channels: `loadX(r)` pushes row r's x
       * value (xp points at row 0's), row r's dW at op + r·`rowStep`.
       */
      const pass = (nRows: 1 | 2, loadX: (r: number) => void, rowStep: Local): void => {
        const used = rows.slice(0, nRows);
        f.forRange(cg, () => f.get(cg0), () => f.get(cg1), () => {
          // op = out + (((i·kw + j)·c + ci)·co + cg)·4
          f.get(out).get(i).get(kw).i32Mul().get(j).i32Add().get(c).i32Mul().get(ci).i32Add().get(co).i32Mul();
          f.get(cg).i32Add().i32Const(2).i32Shl().i32Add().set(op);
          const rowPtr = (r: number): void => {
            f.get(op);
            if (r > 0) f.get(rowStep).i32Add();
          };
          used.forEach((row, r) => {
            row.acc.forEach((a, g) => {
              rowPtr(r);
              f.v128Load(16 * g).set(a);
            });
          });
          // the image's dy rows in order (its dy and x stay in L1 across the filter rows)
          f.forRange(y, () => f.i32Const(0), () => f.get(oh), () => {
            f.get(y).get(sh).i32Mul().get(top).i32Sub().get(i).i32Add().set(xr);
            f.get(xr).get(h).i32LtU();
            f.ifThen(() => {
              // dyRow = dy + ((b·oh + y)·ow·co)·4
              f.get(dy).get(b).get(oh).i32Mul().get(y).i32Add().get(ow).i32Mul().get(co).i32Mul().i32Const(2).i32Shl().i32Add().set(dyRow);
              // xp = x + (((b·h + xr)·w + xFrom·sw − left + j)·c + ci)·4
              f.get(x).get(b).get(h).i32Mul().get(xr).i32Add().get(w).i32Mul();
              f.get(xFrom).get(sw).i32Mul().get(left).i32Sub().get(j).i32Add().i32Add();
              f.get(c).i32Mul().get(ci).i32Add().i32Const(2).i32Shl().i32Add().set(xp);
              // dp = dyRow + (xFrom·co + cg)·4
              f.get(dyRow).get(xFrom).get(co).i32Mul().get(cg).i32Add().i32Const(2).i32Shl().i32Add().set(dp);
              f.forRange(xc, () => f.get(xFrom), () => f.get(xTo), () => {
                dv.forEach((d, g) => {
                  f.get(dp).v128Load(16 * g).set(d);
                });
                used.forEach((row, r) => {
                  loadX(r);
                  f.f32x4Splat().set(row.xv);
                  row.acc.forEach((a, g) => {
                    f.madd(a, () => f.get(row.xv), () => f.get(dv[g]!));
                  });
                });
                f.get(xp).get(xStep).i32Add().set(xp);
                f.get(dp).get(dyStep).i32Add().set(dp);
              });
            });
          });
          used.forEach((row, r) => {
            row.acc.forEach((a, g) => {
              rowPtr(r);
              f.get(a).v128Store(16 * g);
            });
          });
        }, 16);
      };
      f.forRange(b, () => f.i32Const(0), () => f.get(n), () => {
        f.forRange(i, () => f.i32Const(0), () => f.get(kh), () => {
          if (rowsPerPass === 2) {
            f.forRange(j, () => f.i32Const(0), () => f.get(kw), () => {
              range(() => f.get(j), xFrom, xTo);
              // channels ci, ci + 1: x 4 bytes apart, their dW rows co floats apart
              f.forRange(ci, () => f.i32Const(0), () => f.get(c), () => pass(2, (r) => f.get(xp).f32Load(4 * r), dyStep), 2);
            });
            return;
          }
          f.i32Const(0).set(j);
          f.op0(0x02).op0(0x03);
          f.get(j).get(kw).i32GeS().brIf(1);
          range(() => f.get(j), xFrom, xTo);
          // pair = j + 1 < kw and column j + 1 sees the same output columns
          f.i32Const(0).set(pair);
          f.get(j).i32Const(1).i32Add().get(kw).i32LtS();
          f.ifThen(() => {
            range(() => f.get(j).i32Const(1).i32Add(), xFrom2, xTo2);
            f.get(xFrom).get(xFrom2).i32Sub().i32Eqz().get(xTo).get(xTo2).i32Sub().i32Eqz().i32And().set(pair);
          });
          f.get(pair);
          f.ifElse(
            // columns j, j + 1 of channel ci: x c floats apart, their dW rows c·co floats apart
            () => f.forRange(ci, () => f.i32Const(0), () => f.get(c), () => pass(2, (r) => {
              f.get(xp);
              if (r > 0) f.get(cB).i32Add();
              f.f32Load(0);
            }, tapStep)),
            () => f.forRange(ci, () => f.i32Const(0), () => f.get(c), () => pass(1, () => f.get(xp).f32Load(0), tapStep)),
          );
          f.get(j).i32Const(1).i32Add().get(pair).i32Add().set(j);
          f.br(0);
          f.end().end();
        });
      });
    },
  };
}

/** Bytes of B one column panel of the gemm may span (k rows × panel columns): it stays in L2 across row blocks. */
const GEMM_PANEL_BYTES = 192 * 1024;

/** How the gemm programs are blocked (gemmSpec); GEMM_TUNED is what measured best (GMAC/s: bench/tools/gemm-bench.mjs). */
export interface GemmShape {
  /** rows per register block, largest first, ending in 1 (leftover rows take the next smaller block) */
  blocks: number[];
  /** k steps per loop pass (1 or 2): fewer pointer bumps and branches */
  unroll: 1 | 2;
  /** split the columns into panels of B of at most this many bytes (0: one panel) */
  panelBytes: number;
}

export const GEMM_TUNED: GemmShape = { blocks: [4, 1], unroll: 1, panelBytes: GEMM_PANEL_BYTES };

/**
 * gemm(a, b, c, rows, k, n): C[rows, n] = A[rows, k]·B[k, n], row-major, n % 8 == 0, any rows, k ≥ 0, without
 * packing B (XNNPACK packs every new B first, which for a weight matrix that changes every step costs as much as the
 * product). Register blocks of R rows × 8 columns (2R f32x4 accumulators; R = 6 uses 12 of V8's 15 allocatable xmm
 * registers, with the two B vectors and one A splat) run along k in order: c = Σ_k a[r,k]·b[k,j], one madd per k
 * (emitter.ts: fused with FMA, else mul then add). The columns are walked in panels whose slice of B stays in L2.
 * Every element is summed the same way whatever its block, panel, program or thread, so a split of the rows
 * (tiles.ts) cannot change a bit.
 */
export function gemmSpec(name: string, shape: GemmShape = GEMM_TUNED): FnSpec {
  return {
    name,
    nParams: 6,
    build(f) {
      const [a, b, c, rows, k, n] = Array.from({ length: 6 }, (_, i) => f.param(i)) as [Local, Local, Local, Local, Local, Local];
      const maxR = Math.max(...shape.blocks);
      const r0 = f.i32();
      const j = f.i32();
      const j0 = f.i32();
      const jEnd = f.i32();
      const panel = f.i32();
      const bp = f.i32();
      const bp2 = f.i32();
      const aRow = f.i32();
      const aEnd = f.i32();
      const aEnd2 = f.i32();
      const nBytes = f.i32();
      const nBytes2 = f.i32();
      const kBytes = f.i32();
      // one pointer per row of the block (no multiply inside the k loop), each A value splat straight from memory
      const ap = Array.from({ length: maxR }, () => f.i32());
      const acc = Array.from({ length: maxR }, () => [f.v128(), f.v128()] as const);
      const w0 = f.v128();
      const w1 = f.v128();
      const xv = f.v128();
      f.get(n).i32Const(2).i32Shl().set(nBytes);
      f.get(nBytes).i32Const(1).i32Shl().set(nBytes2);
      f.get(k).i32Const(2).i32Shl().set(kBytes);
      // panel = max(32, (PANEL / k) & ~31) bytes of columns (k·panel bytes of B), or all of them
      if (shape.panelBytes > 0) {
        f.i32Const(shape.panelBytes);
        maxI(f, () => f.i32Const(1), () => f.get(k));
        f.i32DivS().i32Const(-32).i32And().set(panel);
        maxI(f, () => f.i32Const(32), () => f.get(panel));
        f.set(panel);
      } else {
        f.get(nBytes).set(panel);
      }
      /** one k step of a block of R rows: B's two vectors at `bPtr`, A's values at offset `aOff` of each row pointer */
      const step = (R: number, bPtr: Local, aOff: number): void => {
        f.get(bPtr).v128Load(0).set(w0);
        f.get(bPtr).v128Load(16).set(w1);
        for (let r = 0; r < R; r++) {
          const [x0, x1] = acc[r]!;
          f.get(ap[r]!).v128Load32Splat(aOff).set(xv);
          f.madd(x0, () => f.get(xv), () => f.get(w0));
          f.madd(x1, () => f.get(xv), () => f.get(w1));
        }
      };
      /** the R × 8 block at rows r0.., columns j (bytes) */
      const block = (R: number): void => {
        for (let r = 0; r < R; r++) {
          const [x0, x1] = acc[r]!;
          f.f32Const(0).f32x4Splat().tee(x0).set(x1);
        }
        ap.slice(0, R).forEach((p, r) => {
          f.get(aRow);
          if (r > 0) f.get(kBytes).i32Const(r).i32Mul().i32Add();
          f.set(p);
        });
        f.get(b).get(j).i32Add().set(bp);
        if (shape.unroll === 2) {
          // pairs of k: B rows at bp and bp2 = bp + n·4, A values at offsets 0 and 4
          f.get(bp).get(nBytes).i32Add().set(bp2);
          f.get(ap[0]!).get(k).i32Const(-2).i32And().i32Const(2).i32Shl().i32Add().set(aEnd2);
          f.get(ap[0]!).get(aEnd2).i32LtS();
          f.ifThen(() => {
            f.op0(0x03);
            step(R, bp, 0);
            step(R, bp2, 4);
            ap.slice(0, R).forEach((p) => f.get(p).i32Const(8).i32Add().set(p));
            f.get(bp).get(nBytes2).i32Add().set(bp);
            f.get(bp2).get(nBytes2).i32Add().set(bp2);
            f.get(ap[0]!).get(aEnd2).i32LtS().brIf(0);
            f.end();
          });
          // an odd k: the last step
          f.get(ap[0]!).get(aEnd).i32LtS();
          f.ifThen(() => step(R, bp, 0));
        } else {
          f.get(ap[0]!).get(aEnd).i32LtS();
          f.ifThen(() => {
            f.op0(0x03);
            step(R, bp, 0);
            ap.slice(0, R).forEach((p) => f.get(p).i32Const(4).i32Add().set(p));
            f.get(bp).get(nBytes).i32Add().set(bp);
            f.get(ap[0]!).get(aEnd).i32LtS().brIf(0);
            f.end();
          });
        }
        // store: c + ((r0 + r)·n)·4 + j
        for (let r = 0; r < R; r++) {
          const [x0, x1] = acc[r]!;
          f.get(c).get(r0).i32Const(r).i32Add().get(nBytes).i32Mul().i32Add().get(j).i32Add();
          f.tee(bp2).get(x0).v128Store(0);
          f.get(bp2).get(x1).v128Store(16);
        }
      };
      f.forRange(j0, () => f.i32Const(0), () => f.get(nBytes), () => {
        minI(f, () => f.get(nBytes), () => f.get(j0).get(panel).i32Add());
        f.set(jEnd);
        f.i32Const(0).set(r0);
        for (const R of shape.blocks) {
          // while (r0 + R <= rows): the R-row blocks of this panel
          f.op0(0x02).op0(0x03);
          f.get(r0).i32Const(R).i32Add().get(rows).i32GtS().brIf(1);
          // aRow = a + r0·k·4, aEnd = aRow + k·4
          f.get(a).get(r0).get(kBytes).i32Mul().i32Add().set(aRow);
          f.get(aRow).get(kBytes).i32Add().set(aEnd);
          f.forRange(j, () => f.get(j0), () => f.get(jEnd), () => block(R), 32);
          f.get(r0).i32Const(R).i32Add().set(r0);
          f.br(0);
          f.end().end();
        }
      }, () => f.get(panel));
    },
  };
}

/** Bytes of B one k block of gemm_tn spans (rows of B × n): the block stays in L2 while every row block uses it. */
const GEMM_TN_BLOCK_BYTES = 128 * 1024;

/**
 * gemm_tn(a, b, c, rows, k, n, lda, ldn): C[rows, n] = Aᵀ·B with A stored [k, lda] row-major (Aᵀ[r, t] =
 * a[t·lda + r], rows ≤ lda: a column slice of A), B [k, n] and C [rows, n] row-major with row stride ldn ≥ n (n
 * columns of wider B and C: a column slice), n % 8 == 0, any rows — a filter gradient xᵀ·dy without transposing x. Blocks of 4 rows × 8 columns: the 4 A values of a k step are adjacent (one pointer, constant
 * offsets). k is walked in blocks whose rows of B stay in L2 (dW's k is N·H·W, up to 10⁵): the accumulators are
 * stored to C after a block and loaded back for the next, so each element is still Σ_t in order, one madd per t,
 * the bits of gemm_r4 on the transposed A (which thread or block computes a row never changes them).
 */
export const gemmTn: FnSpec = {
  name: 'gemm_tn',
  nParams: 8,
  build(f) {
    const [a, b, c, rows, k, n, lda, ldn] = Array.from({ length: 8 }, (_, i) => f.param(i)) as [Local, Local, Local, Local, Local, Local, Local, Local];
    const [t0, tEnd, kb, r0, j, ap, apEnd, bp, cp, nBytes, ldaBytes, colBytes] = Array.from({ length: 12 }, () => f.i32());
    const acc = Array.from({ length: 4 }, () => [f.v128(), f.v128()] as const);
    const w0 = f.v128();
    const w1 = f.v128();
    const xv = f.v128();
    // nBytes: the row stride of B and C; colBytes: the columns computed
    f.get(ldn).i32Const(2).i32Shl().set(nBytes);
    f.get(n).i32Const(2).i32Shl().set(colBytes);
    f.get(lda).i32Const(2).i32Shl().set(ldaBytes);
    // kb = max(16, BLOCK / colBytes) rows of B per k block (the block's slice of B stays in L2)
    f.i32Const(GEMM_TN_BLOCK_BYTES).get(colBytes).i32DivS().set(kb);
    maxI(f, () => f.i32Const(16), () => f.get(kb));
    f.set(kb);
    const block = (R: number): void => {
      // cp = c + (r0·n)·4 + j: row r of the block at cp + r·nBytes
      f.get(c).get(r0).get(nBytes).i32Mul().i32Add().get(j).i32Add().set(cp);
      f.get(t0).i32Eqz();
      f.ifElse(
        () => {
          for (let r = 0; r < R; r++) f.f32Const(0).f32x4Splat().tee(acc[r]![0]).set(acc[r]![1]);
        },
        () => {
          for (let r = 0; r < R; r++) {
            f.get(cp);
            if (r > 0) f.get(nBytes).i32Const(r).i32Mul().i32Add();
            f.tee(bp).v128Load(0).set(acc[r]![0]);
            f.get(bp).v128Load(16).set(acc[r]![1]);
          }
        },
      );
      // ap = a + (t0·lda + r0)·4, apEnd = a + (tEnd·lda + r0)·4; bp = b + t0·nBytes + j
      f.get(a).get(t0).get(ldaBytes).i32Mul().i32Add().get(r0).i32Const(2).i32Shl().i32Add().set(ap);
      f.get(a).get(tEnd).get(ldaBytes).i32Mul().i32Add().get(r0).i32Const(2).i32Shl().i32Add().set(apEnd);
      f.get(b).get(t0).get(nBytes).i32Mul().i32Add().get(j).i32Add().set(bp);
      f.get(ap).get(apEnd).i32LtS();
      f.ifThen(() => {
        f.op0(0x03);
        f.get(bp).v128Load(0).set(w0);
        f.get(bp).v128Load(16).set(w1);
        for (let r = 0; r < R; r++) {
          f.get(ap).v128Load32Splat(4 * r).set(xv);
          f.madd(acc[r]![0], () => f.get(xv), () => f.get(w0));
          f.madd(acc[r]![1], () => f.get(xv), () => f.get(w1));
        }
        f.get(ap).get(ldaBytes).i32Add().set(ap);
        f.get(bp).get(nBytes).i32Add().set(bp);
        f.get(ap).get(apEnd).i32LtS().brIf(0);
        f.end();
      });
      for (let r = 0; r < R; r++) {
        f.get(cp);
        if (r > 0) f.get(nBytes).i32Const(r).i32Mul().i32Add();
        f.tee(bp).get(acc[r]![0]).v128Store(0);
        f.get(bp).get(acc[r]![1]).v128Store(16);
      }
    };
    // k = 0: C is all zeros (the loop below runs no block)
    f.get(k).i32Eqz();
    f.ifThen(() => {
      f.i32Const(0).set(tEnd);
      f.forRange(r0, () => f.i32Const(0), () => f.get(rows), () => {
        f.get(c).get(r0).get(nBytes).i32Mul().i32Add().i32Const(0).get(colBytes).memoryFill();
      });
    });
    f.forRange(t0, () => f.i32Const(0), () => f.get(k), () => {
      minI(f, () => f.get(k), () => f.get(t0).get(kb).i32Add());
      f.set(tEnd);
      f.i32Const(0).set(r0);
      for (const R of [4, 1]) {
        f.op0(0x02).op0(0x03);
        f.get(r0).i32Const(R).i32Add().get(rows).i32GtS().brIf(1);
        f.forRange(j, () => f.i32Const(0), () => f.get(colBytes), () => block(R), 32);
        f.get(r0).i32Const(R).i32Add().set(r0);
        f.br(0);
        f.end().end();
      }
    }, () => f.get(kb));
  },
};


// ------------------------------------------------------------------------------------------ batch normalisation
// Training-mode BatchNorm over x [rows, c] (channels innermost, c % 4 == 0). Per-channel sums are blocked: each
// block of BN_BLOCK rows is summed in order, the block sums are added to the output in block order (error
// ~ (BN_BLOCK + rows / BN_BLOCK)·ε instead of rows·ε; one fixed order per channel). The sum programs write the
// blocks' sums, [⌈rows / BN_BLOCK⌉, c] per output, and bn_fold adds them up: a split of the rows at BN_BLOCK
// multiples over threads (each call writing its blocks' rows) cannot change a bit.

const BN_BLOCK = 32;

/**
 * The skeleton of the sum programs, row-major: for every block b of BN_BLOCK rows, parts[k][b, ·] = 0, then for
 * every row in order, every 16-byte group of it (four at a time, then the rest one by one), parts[k][b, q] +=
 * `terms(pq, q, g)[k]` — pq: byte offset of [row, q] in a [rows, c] array, q: of channel group q in the [c]
 * vectors, g: the vector within a group of four (load offset 16·g). Reads the rows once, in order.
 */
function blockPartials(f: FnBuilder, rows: Local, c: Local, parts: Local[], terms: (pq: Local, q: Local, g: number) => (() => void)[]): void {
  const [cB, end64, r0, rEnd, r, p, q, ob, pq, oq] = Array.from({ length: 10 }, () => f.i32());
  f.get(c).i32Const(2).i32Shl().set(cB);
  f.get(cB).i32Const(-64).i32And().set(end64);
  f.i32Const(0).set(ob);
  f.i32Const(0).set(p);
  const group = (vectors: number): void => {
    f.get(p).get(q).i32Add().set(pq);
    f.get(ob).get(q).i32Add().set(oq);
    for (let g = 0; g < vectors; g++) {
      terms(pq, q, g).forEach((push, k) => {
        f.get(parts[k]!).get(oq).i32Add();
        f.get(parts[k]!).get(oq).i32Add().v128Load(16 * g);
        push();
        f.f32x4Add().v128Store(16 * g);
      });
    }
  };
  f.forRange(r0, () => f.i32Const(0), () => f.get(rows), () => {
    minI(f, () => f.get(rows), () => f.get(r0).i32Const(BN_BLOCK).i32Add());
    f.set(rEnd);
    for (const o of parts) f.get(o).get(ob).i32Add().i32Const(0).get(cB).memoryFill();
    f.forRange(r, () => f.get(r0), () => f.get(rEnd), () => {
      f.forRange(q, () => f.i32Const(0), () => f.get(end64), () => group(4), 64);
      f.forRange(q, () => f.get(end64), () => f.get(cB), () => group(1), 16);
      f.get(p).get(cB).i32Add().set(p);
    });
    f.get(ob).get(cB).i32Add().set(ob);
  }, BN_BLOCK);
}

/** bn_sum(x, part, rows, c): the blocks' Σ_r x[r, ch] */
const bnSum: FnSpec = {
  name: 'bn_sum',
  nParams: 4,
  build(f) {
    const [x, part, rows, c] = paramList(f, 4) as [Local, Local, Local, Local];
    blockPartials(f, rows, c, [part], (pq, _q, g) => [() => f.get(x).get(pq).i32Add().v128Load(16 * g)]);
  },
};

/** bn_sqdev(x, mean, part, rows, c): the blocks' Σ_r (x[r, ch] − mean[ch])² */
const bnSqdev: FnSpec = {
  name: 'bn_sqdev',
  nParams: 5,
  build(f) {
    const [x, mean, part, rows, c] = paramList(f, 5) as [Local, Local, Local, Local, Local];
    const d = f.v128();
    blockPartials(f, rows, c, [part], (pq, q, g) => {
      f.get(x).get(pq).i32Add().v128Load(16 * g).get(mean).get(q).i32Add().v128Load(16 * g).f32x4Sub().set(d);
      return [() => f.get(d).get(d).f32x4Mul()];
    });
  },
};

/**
 * bn_grad_sums(x, dy, mean, psdy, psdyx, rows, c): the blocks' Σ_r dy[r, ch] and Σ_r dy[r, ch]·(x[r, ch] − mean[ch]).
 * bn_grad_sums_mask(x, dy, mean, scale, shift, psdy, psdyx, dz, rows, c, lo, hi): the same sums of dz = dy & mask
 * instead of dy, dz stored [rows, c] (bn_grad_apply's dy) — the gradient through the activation the BN computed
 * (bn_apply_relu / bn_apply_clamp): the mask on z = (x − mean)·scale + shift, recomputed with the forward's
 * operations (bn_apply), is lo ≤ z ≤ hi (float32 bit patterns; NaN z gives 0), as clip_grad computes it on z
 * ([smallest positive, 6]: ReLU6's; [smallest positive, +∞]: relu_grad's z > 0) — the same bits as clip_grad /
 * relu_grad's dz then bn_grad_sums.
 */
function bnGradSumsSpec(masked: boolean): FnSpec {
  const n = masked ? 12 : 7;
  return {
    name: masked ? 'bn_grad_sums_mask' : 'bn_grad_sums',
    nParams: n,
    build(f) {
      const ps = paramList(f, n);
      const [x, dy, mean] = ps as [Local, Local, Local];
      const [psdy, psdyx] = ps.slice(masked ? 5 : 3) as [Local, Local];
      const [rows, c] = ps.slice(masked ? 8 : 5) as [Local, Local];
      const [d, dv, z, vlo, vhi] = [f.v128(), f.v128(), f.v128(), f.v128(), f.v128()];
      if (masked) {
        f.get(ps[10]!).i32x4Splat().set(vlo);
        f.get(ps[11]!).i32x4Splat().set(vhi);
      }
      blockPartials(f, rows, c, [psdy, psdyx], (pq, q, g) => {
        f.get(x).get(pq).i32Add().v128Load(16 * g).get(mean).get(q).i32Add().v128Load(16 * g).f32x4Sub().set(d);
        f.get(dy).get(pq).i32Add().v128Load(16 * g);
        if (masked) {
          const [scale, shift] = [ps[3]!, ps[4]!];
          f.get(d).get(scale).get(q).i32Add().v128Load(16 * g).f32x4Mul().get(shift).get(q).i32Add().v128Load(16 * g).f32x4Add().set(z);
          f.get(z).get(vlo).f32x4Ge().get(z).get(vhi).f32x4Le().v128And();
          f.v128And();
        }
        f.set(dv);
        if (masked) f.get(ps[7]!).get(pq).i32Add().get(dv).v128Store(16 * g);
        return [() => f.get(dv), () => f.get(dv).get(d).f32x4Mul()];
      });
    },
  };
}

/**
 * clip_grad_sum(y, dy, dz, part, rows, c, lo, hi): dz[r, ch] = lo ≤ y[r, ch] ≤ hi ? dy[r, ch] : 0 (clip_grad's mask,
 * float32 bit patterns, NaN y gives 0) stored [rows, c], and the blocks' Σ_r dz[r, ch] — an activation's gradient
 * on its output and the bias gradient before it in one pass (act-bias-grad.ts).
 */
const clipGradSum: FnSpec = {
  name: 'clip_grad_sum',
  nParams: 8,
  build(f) {
    const [y, dy, dz, part, rows, c, lo, hi] = paramList(f, 8) as [Local, Local, Local, Local, Local, Local, Local, Local];
    const [yv, dv, vlo, vhi] = [f.v128(), f.v128(), f.v128(), f.v128()];
    f.get(lo).i32x4Splat().set(vlo);
    f.get(hi).i32x4Splat().set(vhi);
    blockPartials(f, rows, c, [part], (pq, _q, g) => {
      f.get(dy).get(pq).i32Add().v128Load(16 * g);
      f.get(y).get(pq).i32Add().v128Load(16 * g).set(yv);
      f.get(yv).get(vlo).f32x4Ge().get(yv).get(vhi).f32x4Le().v128And();
      f.v128And().set(dv);
      f.get(dz).get(pq).i32Add().get(dv).v128Store(16 * g);
      return [() => f.get(dv)];
    });
  },
};

/**
 * fold_grad(w, dy, s, dw, part, rows, c): dw[r, ch] = dy[r, ch]·s[ch] stored [rows, c], and the blocks' Σ_r dy[r, ch]·w[r, ch]
 * — a folded BN's weight gradient in one pass over the filter and its gradient (fold-weights.ts).
 */
const foldGrad: FnSpec = {
  name: 'fold_grad',
  nParams: 7,
  build(f) {
    const [w, dy, sc, dw, part, rows, c] = paramList(f, 7) as [Local, Local, Local, Local, Local, Local, Local];
    const dv = f.v128();
    blockPartials(f, rows, c, [part], (pq, q, g) => {
      f.get(dy).get(pq).i32Add().v128Load(16 * g).set(dv);
      f.get(dw).get(pq).i32Add().get(dv).get(sc).get(q).i32Add().v128Load(16 * g).f32x4Mul().v128Store(16 * g);
      return [() => f.get(dv).get(w).get(pq).i32Add().v128Load(16 * g).f32x4Mul()];
    });
  },
};

/**
 * bn_fold(part, out, blocks, c): out[ch] = Σ_b part[b, ch] from +0, in block order — the sums' final additions
 * (c % 4 == 0). From BN_FOLD_ROWWISE blocks on, row-major: `out` (in L1) takes block b's row of the scratch after
 * block b − 1's, so a large scratch is read once, in order (a channel group at a time strides through all of it once
 * per 4 channels); fewer blocks, a channel group at a time in a register. Each channel's additions are the same, in
 * the same order, either way.
 */
const BN_FOLD_ROWWISE = 64;
const bnFold: FnSpec = {
  name: 'bn_fold',
  nParams: 4,
  build(f) {
    const [part, out, blocks, c] = paramList(f, 4) as [Local, Local, Local, Local];
    const [cB, q, b, p] = [f.i32(), f.i32(), f.i32(), f.i32()];
    const acc = f.v128();
    f.get(c).i32Const(2).i32Shl().set(cB);
    f.get(blocks).i32Const(BN_FOLD_ROWWISE).i32GeS();
    f.ifElse(() => {
      f.forRange(q, () => f.i32Const(0), () => f.get(cB), () => {
        f.get(out).get(q).i32Add().f32Const(0).f32x4Splat().v128Store();
      }, 16);
      f.get(part).set(p);
      f.forRange(b, () => f.i32Const(0), () => f.get(blocks), () => {
        f.forRange(q, () => f.i32Const(0), () => f.get(cB), () => {
          f.get(out).get(q).i32Add();
          f.get(out).get(q).i32Add().v128Load().get(p).v128Load().f32x4Add();
          f.v128Store();
          f.get(p).i32Const(16).i32Add().set(p);
        }, 16);
      });
    }, () => {
      f.forRange(q, () => f.i32Const(0), () => f.get(cB), () => {
        f.f32Const(0).f32x4Splat().set(acc);
        f.get(part).get(q).i32Add().set(p);
        f.forRange(b, () => f.i32Const(0), () => f.get(blocks), () => {
          f.get(acc).get(p).v128Load().f32x4Add().set(acc);
          f.get(p).get(cB).i32Add().set(p);
        });
        f.get(out).get(q).i32Add().get(acc).v128Store();
      }, 16);
    });
  },
};

/**
 * Row-major element-wise pass over [rows, c] with per-channel vectors: `body(p, q)` for every 16-byte group, p the
 * byte offset into the [rows, c] arrays, q into the [c] vectors.
 */
function channelMap(f: FnBuilder, rows: Local, c: Local, body: (p: Local, q: Local) => void): void {
  const [cB, r, p, q] = Array.from({ length: 4 }, () => f.i32());
  f.get(c).i32Const(2).i32Shl().set(cB!);
  f.i32Const(0).set(p!);
  f.forRange(r!, () => f.i32Const(0), () => f.get(rows), () => {
    f.forRange(q!, () => f.i32Const(0), () => f.get(cB!), () => {
      body(p!, q!);
      f.get(p!).i32Const(16).i32Add().set(p!);
    }, 16);
  });
}

/**
 * bn_apply(x, mean, scale, shift, out, rows, c): out[r, ch] = (x[r, ch] − mean[ch])·scale[ch] + shift[ch]; and with
 * the activation after it, in the same pass, by exactly the operations of unary-programs.ts (the wasm Relu / Relu6
 * kernels): bn_apply_relu (same args): i32x4.max_s(v, 0); bn_apply_clamp (…, rows, c, lo, hi): pmin(hi, pmax(lo, v)).
 */
function bnApplySpec(act: 'linear' | 'relu' | 'clamp'): FnSpec {
  return {
    name: act === 'linear' ? 'bn_apply' : `bn_apply_${act}`,
    nParams: act === 'clamp' ? 9 : 7,
    build(f) {
      const ps = paramList(f, act === 'clamp' ? 9 : 7);
      const [x, mean, scale, shift, out, rows, c] = ps as [Local, Local, Local, Local, Local, Local, Local];
      const [vlo, vhi] = [f.v128(), f.v128()];
      if (act === 'relu') f.f32Const(0).f32x4Splat().set(vlo);
      if (act === 'clamp') {
        f.get(ps[7]!).f32ReinterpretI32().f32x4Splat().set(vlo);
        f.get(ps[8]!).f32ReinterpretI32().f32x4Splat().set(vhi);
      }
      channelMap(f, rows, c, (p, q) => {
        f.get(out).get(p).i32Add();
        if (act === 'clamp') f.get(vhi).get(vlo);
        f.get(x).get(p).i32Add().v128Load().get(mean).get(q).i32Add().v128Load().f32x4Sub();
        f.get(scale).get(q).i32Add().v128Load().f32x4Mul();
        f.get(shift).get(q).i32Add().v128Load().f32x4Add();
        if (act === 'relu') f.get(vlo).i32x4MaxS();
        if (act === 'clamp') f.f32x4Pmax().f32x4Pmin();
        f.v128Store();
      });
    },
  };
}
const bnApply = bnApplySpec('linear');

/** col_scale(x, s, out, rows, c): out[r, ch] = x[r, ch]·s[ch] (a folded BN's filter, fold-weights.ts) */
const colScale: FnSpec = {
  name: 'col_scale',
  nParams: 5,
  build(f) {
    const [x, sc, out, rows, c] = paramList(f, 5) as [Local, Local, Local, Local, Local];
    channelMap(f, rows, c, (p, q) => {
      f.get(out).get(p).i32Add();
      f.get(x).get(p).i32Add().v128Load().get(sc).get(q).i32Add().v128Load().f32x4Mul();
      f.v128Store();
    });
  },
};

/** bn_grad_apply(x, dy, mean, a, k, b, out, rows, c): out[r, ch] = dy[r, ch]·a[ch] + ((x[r, ch] − mean[ch])·k[ch] + b[ch]) */
const bnGradApply: FnSpec = {
  name: 'bn_grad_apply',
  nParams: 9,
  build(f) {
    const [x, dy, mean, a, k, b, out, rows, c] = paramList(f, 9) as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
    channelMap(f, rows, c, (p, q) => {
      f.get(out).get(p).i32Add();
      f.get(dy).get(p).i32Add().v128Load().get(a).get(q).i32Add().v128Load().f32x4Mul();
      f.get(x).get(p).i32Add().v128Load().get(mean).get(q).i32Add().v128Load().f32x4Sub();
      f.get(k).get(q).i32Add().v128Load().f32x4Mul();
      f.get(b).get(q).i32Add().v128Load().f32x4Add();
      f.f32x4Add();
      f.v128Store();
    });
  },
};

/** clip_grad(x, dy, out, n, lo, hi): out[i] = lo ≤ x[i] ≤ hi ? dy[i] : 0, NaN x gives 0 (lo, hi: float32 bit patterns) */
const clipGrad: FnSpec = {
  name: 'clip_grad',
  nParams: 6,
  build(f) {
    const [x, dy, out, n, lo, hi] = paramList(f, 6) as [Local, Local, Local, Local, Local, Local];
    const off = f.i32();
    const end16 = f.i32();
    const vlo = f.v128();
    const vhi = f.v128();
    const xv = f.v128();
    const xs = f.f32();
    f.get(lo).i32x4Splat().set(vlo);
    f.get(hi).i32x4Splat().set(vhi);
    vectorLoop(
      f, off, end16,
      () => f.get(n).i32Const(2).i32Shl(),
      () => {
        f.get(out).get(off).i32Add();
        f.get(dy).get(off).i32Add().v128Load();
        f.get(x).get(off).i32Add().v128Load().set(xv);
        f.get(xv).get(vlo).f32x4Ge().get(xv).get(vhi).f32x4Le().v128And();
        f.v128And().v128Store();
      },
      () => {
        f.get(out).get(off).i32Add();
        f.get(dy).get(off).i32Add().f32Load();
        f.f32Const(0);
        f.get(x).get(off).i32Add().f32Load().set(xs);
        f.get(xs).get(lo).f32ReinterpretI32().f32Ge();
        f.get(xs).get(hi).f32ReinterpretI32().f32Le();
        f.i32And();
        f.select().f32Store();
      },
    );
  },
};

export const PROGRAMS: FnSpec[] = [
  gemmSpec('gemm_r4'),
  gemmSpec('gemm_r1', { ...GEMM_TUNED, blocks: [1] }),
  gemmTn,
  reluGrad,
  biasAdd,
  colSum,
  maxPoolGrad,
  im2colT,
  convBpfDirect(1),
  convBpfDirect(2),
  ...ADAM_PROGRAMS,
  ...DEPTHWISE_PROGRAMS,
  ...CONV_PROGRAMS,
  bnSum,
  bnSqdev,
  bnGradSumsSpec(false),
  bnGradSumsSpec(true),
  clipGradSum,
  foldGrad,
  colScale,
  bnFold,
  bnApply,
  bnApplySpec('relu'),
  bnApplySpec('clamp'),
  bnGradApply,
  clipGrad,
  ...COL2IM_PROGRAMS,
  ...EPILOGUE_PROGRAMS,
  ...MAXPOOL_PROGRAMS,
  ...DIRECT_CONV_PROGRAMS,
  ...SUM_PROGRAMS,
  ...UNARY_PROGRAMS,
  ...COPY_PROGRAMS,
];

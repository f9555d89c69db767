/**
 * A very small WebAssembly (+SIMD) code emitter: enough to write tight loops over the tfjs wasm heap in a
 * C-like style. The module imports its memory (env.memory), so its functions read and write tfjs tensors in place.
 * Every function takes i32 parameters (byte pointers and counts) and returns nothing.
 */

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

const F32_BUF = new Float32Array(1);
const F32_BYTES = new Uint8Array(F32_BUF.buffer);

/** A local variable handle (index into the function's params + locals). */
export type Local = number & { readonly __local: unique symbol };

/**
 * Body builder for one function. Values are pushed on the wasm stack by the emitting methods, in order, as in
 * the text format (`f.get(a); f.get(b); f.i32Add();`). Structured helpers (`forRange`, `ifThen`) keep loops readable.
 */
export class FnBuilder {
  readonly code: number[] = [];
  private readonly localTypes: number[] = [];

  /**
   * @param fma emit `madd` as one fused f32x4.relaxed_madd (relaxed SIMD; one rounding) instead of f32x4.mul then
   *   f32x4.add (two roundings). Chosen once per module (simd/fma.ts), so every program, on every thread, rounds alike.
   */
  constructor(readonly nParams: number, readonly fma = false) {}

  param(i: number): Local {
    if (i >= this.nParams) throw new Error(`param ${i} out of range`);
    return i as Local;
  }

  private local(type: number): Local {
    this.localTypes.push(type);
    return (this.nParams + this.localTypes.length - 1) as Local;
  }
  i32(): Local {
    return this.local(I32);
  }
  f32(): Local {
    return this.local(F32);
  }
  v128(): Local {
    return this.local(V128);
  }

  // Bytes are appended one at a time (no rest arguments, no temporary arrays): emission runs once per process,
  // cold, so its cost is the interpreter's and every spread or small array counts (see runtime.ts).
  private op(b0: number, b1 = -1, b2 = -1): this {
    const c = this.code;
    c.push(b0);
    if (b1 >= 0) c.push(b1);
    if (b2 >= 0) c.push(b2);
    return this;
  }
  private uleb(n: number): this {
    let v = n >>> 0;
    const c = this.code;
    for (;;) {
      const b = v & 0x7f;
      v >>>= 7;
      if (v === 0) {
        c.push(b);
        return this;
      }
      c.push(b | 0x80);
    }
  }
  private sleb(n: number): this {
    let v = n | 0;
    const c = this.code;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        c.push(b);
        return this;
      }
      c.push(b | 0x80);
    }
  }
  private simd(opcode: number): this {
    return this.op(0xfd).uleb(opcode);
  }
  /** a SIMD memory op: opcode, alignment, offset */
  private simdMem(opcode: number, align: number, offset: number): this {
    return this.simd(opcode).op(align).uleb(offset);
  }

  get(l: Local): this {
    return this.op(0x20).uleb(l);
  }
  set(l: Local): this {
    return this.op(0x21).uleb(l);
  }
  tee(l: Local): this {
    return this.op(0x22).uleb(l);
  }
  i32Const(v: number): this {
    return this.op(0x41).sleb(v);
  }
  f32Const(v: number): this {
    F32_BUF[0] = v;
    return this.op(0x43, F32_BYTES[0]!, F32_BYTES[1]!).op(F32_BYTES[2]!, F32_BYTES[3]!);
  }
  i32Add(): this {
    return this.op(0x6a);
  }
  i32Sub(): this {
    return this.op(0x6b);
  }
  i32Mul(): this {
    return this.op(0x6c);
  }
  i32Shl(): this {
    return this.op(0x74);
  }
  i32And(): this {
    return this.op(0x71);
  }
  /** unsigned a < b: for `0 <= a < b` in one compare */
  i32LtU(): this {
    return this.op(0x49);
  }
  i32LtS(): this {
    return this.op(0x48);
  }
  i32GeS(): this {
    return this.op(0x4e);
  }
  i32GtS(): this {
    return this.op(0x4a);
  }
  i32LeS(): this {
    return this.op(0x4c);
  }
  /** signed division, truncating toward zero */
  i32DivS(): this {
    return this.op(0x6d);
  }
  /** raw structured-control opcode with an empty block type (0x02 block, 0x03 loop) */
  op0(opcode: 0x02 | 0x03): this {
    return this.op(opcode, 0x40);
  }
  end(): this {
    return this.op(0x0b);
  }
  br(depth: number): this {
    return this.op(0x0c).uleb(depth);
  }
  brIf(depth: number): this {
    return this.op(0x0d).uleb(depth);
  }
  i32Eqz(): this {
    return this.op(0x45);
  }
  /** select(a, b, cond): a if cond != 0 else b */
  select(): this {
    return this.op(0x1b);
  }
  /** max(a, b) of two signed i32 expressions (each pushed twice: keep them to locals and constants) */
  i32MaxS(a: () => void, b: () => void): this {
    a();
    b();
    a();
    b();
    return this.i32GtS().select();
  }
  /** min(a, b) of two signed i32 expressions (each pushed twice) */
  i32MinS(a: () => void, b: () => void): this {
    a();
    b();
    a();
    b();
    return this.i32LtS().select();
  }
  i32Load(offset = 0): this {
    return this.op(0x28, 2).uleb(offset);
  }
  f32Load(offset = 0): this {
    return this.op(0x2a, 0).uleb(offset);
  }
  f32Store(offset = 0): this {
    return this.op(0x38, 0).uleb(offset);
  }
  f32Add(): this {
    return this.op(0x92);
  }
  f32Gt(): this {
    return this.op(0x5e);
  }
  f32Lt(): this {
    return this.op(0x5d);
  }
  f32Ge(): this {
    return this.op(0x60);
  }
  f32Le(): this {
    return this.op(0x5f);
  }
  f32ReinterpretI32(): this {
    return this.op(0xbe);
  }
  f32Mul(): this {
    return this.op(0x94);
  }
  f32Div(): this {
    return this.op(0x95);
  }
  f32Sqrt(): this {
    return this.op(0x91);
  }
  v128Load(offset = 0): this {
    return this.simdMem(0x00, 0, offset);
  }
  /** v128.load32_splat: one f32 (4 bytes at addr + offset) into all four lanes */
  v128Load32Splat(offset = 0): this {
    return this.simdMem(0x09, 2, offset);
  }
  v128Store(offset = 0): this {
    return this.simdMem(0x0b, 0, offset);
  }
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  f32x4Splat(): this {
    return this.simd(0x13);
  }
  i32x4Eq(): this {
    return this.simd(0x37);
  }
  f32x4Gt(): this {
    return this.simd(0x44);
  }
  f32x4Ge(): this {
    return this.simd(0x46);
  }
  f32x4Le(): this {
    return this.simd(0x45);
  }
  v128And(): this {
    return this.simd(0x4e);
  }
  /** v128.andnot(a, b) = a & ~b */
  v128AndNot(): this {
    return this.simd(0x4f);
  }
  v128Or(): this {
    return this.simd(0x50);
  }
  /** bitselect(a, b, mask): bits of a where mask is 1, of b elsewhere */
  v128Bitselect(): this {
    return this.simd(0x52);
  }
  f32x4Add(): this {
    return this.simd(0xe4);
  }
  /** f32x4.pmax(a, b) = a < b ? b : a, lane-wise (XNNPACK's clamp on x86: pmax(0, x) is 0 for NaN and −0) */
  f32x4Pmax(): this {
    return this.simd(0xeb);
  }
  /** i32x4.max_s, lane-wise signed (on float bits: XNNPACK's wasm relu, max(bits, 0)) */
  i32x4MaxS(): this {
    return this.simd(0xb8);
  }
  /** f32x4.pmin(a, b) = b < a ? b : a, lane-wise */
  f32x4Pmin(): this {
    return this.simd(0xea);
  }
  /** f32x4.relaxed_madd(a, b, c) = a·b + c (fused where the engine has FMA); only inside `madd` */
  private f32x4RelaxedMadd(): this {
    return this.simd(0x105);
  }
  /**
   * acc = acc + a·b (f32x4): with `fma` one fused multiply-add (a(); b(); acc; relaxed_madd), else the bytes
   * `acc; a(); b(); mul; add` (the float32 operations of the programs before FMA, bit for bit).
   */
  madd(acc: Local, a: () => void, b: () => void): this {
    if (this.fma) {
      a();
      b();
      return this.get(acc).f32x4RelaxedMadd().set(acc);
    }
    this.get(acc);
    a();
    b();
    return this.f32x4Mul().f32x4Add().set(acc);
  }
  f32x4Sub(): this {
    return this.simd(0xe5);
  }
  f32x4Mul(): this {
    return this.simd(0xe6);
  }
  f32x4Div(): this {
    return this.simd(0xe7);
  }
  f32x4Sqrt(): this {
    return this.simd(0xe3);
  }
  /** memory.fill(dest, value, byteCount) */
  memoryFill(): this {
    return this.op(0xfc).uleb(11).op(0x00);
  }
  /** memory.copy(dest, src, byteCount) */
  memoryCopy(): this {
    return this.op(0xfc).uleb(10).op(0x00, 0x00);
  }

  /** `i = from; while (i < to) { body(); i += step; }` (signed compare; from/to/step emit one i32 each). */
  forRange(i: Local, from: () => void, to: () => void, body: () => void, step: number | (() => void) = 1): this {
    from();
    this.set(i);
    this.op(0x02, 0x40); // block
    this.op(0x03, 0x40); // loop
    this.get(i);
    to();
    this.i32GeS();
    this.op(0x0d, 1); // br_if 1: leave the block
    body();
    this.get(i);
    if (typeof step === 'number') this.i32Const(step);
    else step();
    this.i32Add();
    this.set(i);
    this.op(0x0c, 0); // br 0 -> loop start
    this.op(0x0b); // end loop
    this.op(0x0b); // end block
    return this;
  }

  /** `if (cond) { then() } else { otherwise() }`: cond must already be on the stack. */
  ifElse(then: () => void, otherwise: () => void): this {
    this.op(0x04, 0x40);
    then();
    this.op(0x05);
    otherwise();
    return this.op(0x0b);
  }

  /** `if (cond) { then() }`: cond must already be on the stack. */
  ifThen(then: () => void): this {
    this.op(0x04, 0x40);
    then();
    return this.op(0x0b);
  }

  /** The encoded function body (locals + code + end). */
  encode(): Uint8Array {
    const head = uleb(this.localTypes.length);
    for (const t of this.localTypes) head.push(1, t);
    const size = head.length + this.code.length + 1;
    const len = uleb(size);
    const out = new Uint8Array(len.length + size);
    out.set(len, 0);
    out.set(head, len.length);
    out.set(this.code, len.length + head.length);
    out[out.length - 1] = 0x0b;
    return out;
  }
}

export interface FnSpec {
  name: string;
  nParams: number;
  build(f: FnBuilder): void;
}

/**
 * Pages (64 KiB) a shared memory may grow to: shared memories must declare a maximum (here 4 GiB, what
 * tfjs-backend-wasm's threaded build declares for its heap: an imported memory's maximum may not exceed it).
 */
export const SHARED_MAX_PAGES = 65536;

/**
 * A module of `fns` (each `(i32 × nParams) -> ()`), importing `env.memory`: non-shared with no maximum, or with
 * `shared` a shared memory of at most SHARED_MAX_PAGES (what worker threads instantiate the same programs against).
 */
export function emitModule(fns: FnSpec[], opts: { shared?: boolean; fma?: boolean } = {}): Uint8Array {
  const arities = [...new Set(fns.map((f) => f.nParams))];
  const types = arities.map((n) => [0x60, ...uleb(n), ...Array<number>(n).fill(I32), 0]);
  const limits = opts.shared ? [0x03, ...uleb(1), ...uleb(SHARED_MAX_PAGES)] : [0x00, ...uleb(1)];
  const imports = [[...name('env'), ...name('memory'), 0x02, ...limits]];
  const funcs = fns.map((f) => uleb(arities.indexOf(f.nParams)));
  const exports = fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  const head = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(funcs)),
    ...section(7, vec(exports)),
  ];
  const code = codeSection(fns, opts.fma === true);
  const out = new Uint8Array(head.length + code.length);
  out.set(head, 0);
  out.set(code, head.length);
  return out;
}

/**
 * The code section of `fns`, built once per list and FMA mode: the plain and the shared module differ only in their
 * import.
 */
const codeSections = new WeakMap<FnSpec[], Map<boolean, Uint8Array>>();

function codeSection(fns: FnSpec[], fma: boolean): Uint8Array {
  let byMode = codeSections.get(fns);
  if (byMode === undefined) codeSections.set(fns, (byMode = new Map()));
  const have = byMode.get(fma);
  if (have) return have;
  const bodies = fns.map((spec) => {
    const b = new FnBuilder(spec.nParams, fma);
    spec.build(b);
    return b.encode();
  });
  const count = uleb(bodies.length);
  const size = count.length + bodies.reduce((s, b) => s + b.length, 0);
  const head = [10, ...uleb(size), ...count];
  const out = new Uint8Array(head.length + size - count.length);
  out.set(head, 0);
  let at = head.length;
  for (const b of bodies) {
    out.set(b, at);
    at += b.length;
  }
  byMode.set(fma, out);
  return out;
}

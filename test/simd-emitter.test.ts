import { describe, expect, it } from 'vitest';
import { emitModule, type FnSpec } from '../src/kernels/simd/emitter.js';
import { PROGRAMS } from '../src/kernels/simd/programs.js';

/** Instantiates `fns` against a fresh plain memory. */
function instantiate(fns: FnSpec[]): { mem: WebAssembly.Memory; e: Record<string, (...a: number[]) => void> } {
  const mem = new WebAssembly.Memory({ initial: 1 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(emitModule(fns)), { env: { memory: mem } });
  return { mem, e: inst.exports as Record<string, (...a: number[]) => void> };
}

describe('SIMD program emitter', () => {
  it('encodes multi-byte immediates (LEB128 offsets and constants, f32 constants) that run as written', () => {
    const fns: FnSpec[] = [
      {
        name: 'store',
        nParams: 1,
        build(f) {
          const p = f.param(0);
          // mem[p + 300] = 1.5 (offset 300: two LEB bytes); mem[p + 4] = f32 bits of -100000 (a 3-byte signed LEB)
          f.get(p).f32Const(1.5).f32Store(300);
          f.get(p).i32Const(-100000).f32ReinterpretI32().f32Store(4);
          // v128 at p + 1040 = splat(2.25) (a SIMD store with a two-byte offset)
          f.get(p).f32Const(2.25).f32x4Splat().v128Store(1040);
        },
      },
    ];
    const { mem, e } = instantiate(fns);
    e['store']!(16);
    const f32 = new Float32Array(mem.buffer);
    const i32 = new Int32Array(mem.buffer);
    expect(f32[(16 + 300) / 4]).toBe(1.5);
    expect(i32[(16 + 4) / 4]).toBe(-100000);
    expect(Array.from(f32.subarray((16 + 1040) / 4, (16 + 1056) / 4))).toEqual([2.25, 2.25, 2.25, 2.25]);
  });

  it('emits every program into a module that compiles, plain and shared, the two differing only in the memory import', () => {
    const plain = emitModule(PROGRAMS);
    const shared = emitModule(PROGRAMS, { shared: true });
    const names = WebAssembly.Module.exports(new WebAssembly.Module(plain)).map((x) => x.name);
    expect(names).toEqual(PROGRAMS.map((p) => p.name));
    expect(WebAssembly.Module.exports(new WebAssembly.Module(shared)).map((x) => x.name)).toEqual(names);
    // the shared limits (flag 3, min 1, max 32768 = 3 LEB bytes) are 3 bytes longer than the plain ones (flag 0, min 1)
    expect(shared.length).toBe(plain.length + 3);
    // same code section (the tail), byte for byte
    const tail = 4000;
    expect(Buffer.from(shared.subarray(shared.length - tail)).equals(Buffer.from(plain.subarray(plain.length - tail)))).toBe(true);
    // emitting again gives the same bytes
    expect(Buffer.from(emitModule(PROGRAMS)).equals(Buffer.from(plain))).toBe(true);
  });
});

// Fused multiply-add in fastlr's SIMD programs (src/kernels/simd/fma.ts, emitter.ts madd): FASTLR_FMA=0 turns it
// off; with it off the gemm is one float32 multiply then one add per k (the programs' bits before FMA), with it on
// one fused, singly rounded multiply-add per k; the mode is recorded as `fma` in every JSON document.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emitModule, FnBuilder } from '../src/kernels/simd/emitter.js';
import { PROGRAMS } from '../src/kernels/simd/programs.js';
import { detectFma, fmaInUse, fmaState } from '../src/kernels/simd/fma.js';
import { expectedRuntime, runCli } from './helpers/cli.js';
import { values } from './helpers/kernels.js';

/** The gemm programs of a module emitted with or without FMA, on a fresh memory. */
function gemmModule(fma: boolean): { f32: () => Float32Array; r4: (...a: number[]) => void; r1: (...a: number[]) => void } {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(emitModule(PROGRAMS, { fma })), { env: { memory } });
  const e = inst.exports as Record<string, (...a: number[]) => void>;
  return { f32: () => new Float32Array(memory.buffer), r4: e['gemm_r4']!, r1: e['gemm_r1']! };
}

/** C = A·B by the definition, each step rounded as the mode says: fround(acc + fround(a·b)) or fround(acc + a·b). */
function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, fused: boolean): Float32Array {
  const c = new Float32Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) {
        const p = a[r * k + t]! * b[t * n + j]!; // exact in float64 (24 + 24 bits)
        acc = Math.fround(acc + (fused ? p : Math.fround(p)));
      }
      c[r * n + j] = acc;
    }
  }
  return c;
}

describe('FMA in the SIMD programs', () => {
  it('madd emits f32x4.mul, f32x4.add without FMA and one f32x4.relaxed_madd with it', () => {
    const bytes = (fma: boolean): number[] => {
      const f = new FnBuilder(1, fma);
      const acc = f.v128();
      const x = f.v128();
      f.madd(acc, () => f.get(x), () => f.get(x));
      return f.code;
    };
    // local.get acc, local.get x, local.get x, f32x4.mul (0xfd 0xe6 0x01), f32x4.add (0xfd 0xe4 0x01), local.set acc
    expect(bytes(false)).toEqual([0x20, 1, 0x20, 2, 0x20, 2, 0xfd, 0xe6, 0x01, 0xfd, 0xe4, 0x01, 0x21, 1]);
    // local.get x, local.get x, local.get acc, f32x4.relaxed_madd (0xfd 0x85 0x02), local.set acc
    expect(bytes(true)).toEqual([0x20, 2, 0x20, 2, 0x20, 1, 0xfd, 0x85, 0x02, 0x21, 1]);
  });

  it('FASTLR_FMA=0 turns it off; otherwise it is on exactly when the engine fuses (probe)', () => {
    expect(detectFma({ FASTLR_FMA: '0' })).toBe('off-env');
    expect(['on', 'unsupported']).toContain(detectFma({}));
    expect(fmaInUse()).toBe(fmaState() === 'on');
    if (process.env['FASTLR_FMA'] === '0') expect(fmaState()).toBe('off-env');
  });

  it('the gemm rounds each multiply-add as its mode says (67×300 · 300×136: row blocks of 4 and the leftover rows)', () => {
    const [m, k, n] = [67, 300, 136];
    const a = Float32Array.from(values(m * k, 11));
    const b = Float32Array.from(values(k * n, 12));
    const modes = fmaState() === 'on' ? [false, true] : [false];
    const outs: Float32Array[] = [];
    for (const fma of modes) {
      const g = gemmModule(fma);
      const [pa, pb, pc] = [0, 4 * m * k, 4 * (m * k + k * n)];
      g.f32().set(a, pa / 4);
      g.f32().set(b, pb / 4);
      const m4 = m - (m % 4);
      g.r4(pa, pb, pc, m4, k, n);
      g.r1(pa + 4 * m4 * k, pb, pc + 4 * m4 * n, m - m4, k, n);
      const got = g.f32().slice(pc / 4, pc / 4 + m * n);
      expect(Array.from(got), fma ? 'FMA on: one rounding per step' : 'FMA off: a multiply, then an add').toEqual(Array.from(reference(a, b, m, k, n, fma)));
      outs.push(got);
    }
    // the two modes really differ (else the test of the fused one would prove nothing)
    if (outs.length === 2) expect(outs[0]!.some((v, i) => v !== outs[1]![i])).toBe(true);
  });

  it('every JSON document and plan.json record `fma` (false with FASTLR_FMA=0 and with stock kernels)', async () => {
    const base = mkdtempSync(join(tmpdir(), 'fastlr-fma-'));
    const cfg = join(base, 'mlp.yaml');
    writeFileSync(cfg, `name: fma
seed: 3
backend: cpu
data:
  source: synthetic
  batch_size: 32
  synthetic: { task: classification, n: 128, features: 6, classes: 3, noise: 0.5 }
model:
  input: [6]
  layers: [{ dense: { units: 8, activation: relu } }, { dense: 3 }]
find: { num_it: 8 }
output: ${join(base, 'runs')}
`);
    const run = async (env: Record<string, string>): Promise<{ doc: { fma: unknown; run_dir: string }; plan: { fma: unknown } }> => {
      const res = await runCli(['find', cfg, '--json'], { env });
      expect(res.code, res.stderr).toBe(0);
      const doc = JSON.parse(res.stdout) as { fma: unknown; run_dir: string };
      return { doc, plan: JSON.parse(readFileSync(join(doc.run_dir, 'plan.json'), 'utf8')) as { fma: unknown } };
    };
    const off = await run({ FASTLR_FMA: '0' });
    expect([off.doc.fma, off.plan.fma]).toEqual([false, false]);
    const stock = await run({ FASTLR_KERNELS: 'stock' });
    expect([stock.doc.fma, stock.plan.fma]).toEqual([false, false]);
    const on = await run({});
    expect(typeof on.doc.fma).toBe('boolean');
    expect(on.plan.fma).toBe(on.doc.fma);
    // the CLI runs on this machine's engine: it fuses when this process does (same Node, same CPU)
    if (process.env['FASTLR_FMA'] !== '0') expect(on.doc.fma).toBe(expectedRuntime().kernels === 'fastlr' && detectFma({}) === 'on');
  });
});

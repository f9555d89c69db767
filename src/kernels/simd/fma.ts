/**
 * Whether fastlr's SIMD programs multiply-add with one fused, singly rounded f32x4.relaxed_madd (relaxed SIMD) or with
 * f32x4.mul then f32x4.add. Decided once per process, before the first module is compiled, and the same for every
 * program and every worker thread (they instantiate the same bytes, and V8 flags are per process), so results stay
 * bit-identical at any thread count. FASTLR_FMA=0 turns it off: the programs are then byte for byte those without FMA.
 *
 * Node ≥ 22 validates relaxed SIMD by default; Node 20 (V8 11.3) only with --experimental-wasm-relaxed-simd, which is
 * set here (v8.setFlagsFromString) when a probe module does not validate. FMA is used only when a probe computes
 * a·b + c with one rounding (V8 emits vfmadd on x64 with FMA3, else a multiply and an add: no gain, so off).
 */
import v8 from 'node:v8';

/** Why the programs do or do not use FMA (recorded as `fma` in every JSON document: true only for 'on'). */
export type FmaState = 'on' | 'off-env' | 'unsupported';

interface WasmProbeApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (mod: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
}

/**
 * A module importing env.memory whose f(p) stores relaxed_madd(load(p), load(p + 16), load(p + 32)) at p + 48.
 */
const PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00, // type (i32) -> ()
  0x02, 0x0f, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x01, // env.memory
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f"
  0x0a, 0x1f, 0x01, 0x1d, 0x00,
  0x20, 0x00,
  0x20, 0x00, 0xfd, 0x00, 0x04, 0x00,
  0x20, 0x00, 0xfd, 0x00, 0x04, 0x10,
  0x20, 0x00, 0xfd, 0x00, 0x04, 0x20,
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd
  0xfd, 0x0b, 0x04, 0x30,
  0x0b,
]);

/** true when the probe computes (1 + 2⁻¹²)² − 1 with one rounding: 2⁻¹¹ + 2⁻²⁴ (two roundings give 2⁻¹¹) */
function fusedProbe(wa: WasmProbeApi): boolean {
  try {
    const memory = new wa.Memory({ initial: 1 });
    const inst = new wa.Instance(new wa.Module(PROBE), { env: { memory } });
    const f = new Float32Array(memory.buffer);
    const a = 1 + 2 ** -12;
    f.set([a, a, a, a, a, a, a, a, -1, -1, -1, -1]);
    (inst.exports['f'] as (p: number) => void)(0);
    const want = 2 ** -11 + 2 ** -24;
    return f[12] === want && f[13] === want && f[14] === want && f[15] === want;
  } catch {
    return false;
  }
}

/** The decision for an environment (pure but for the probe and the V8 flag; exported for tests). */
export function detectFma(env: Record<string, string | undefined> = process.env): FmaState {
  if (env['FASTLR_FMA'] === '0') return 'off-env';
  const wa = (globalThis as unknown as { WebAssembly?: WasmProbeApi }).WebAssembly;
  if (wa === undefined) return 'unsupported';
  if (!wa.validate(PROBE)) {
    try {
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      return 'unsupported';
    }
    if (!wa.validate(PROBE)) return 'unsupported';
  }
  return fusedProbe(wa) ? 'on' : 'unsupported';
}

let state: FmaState | undefined;

/** This process's choice, made on first use (before fastlr compiles its first module) and then fixed. */
export function fmaState(): FmaState {
  state ??= detectFma();
  return state;
}

/** true when the programs use fused multiply-adds (the `fma` field of every JSON document) */
export function fmaInUse(): boolean {
  return fmaState() === 'on';
}

// GMAC/s of fastlr's gemm programs (src/kernels/simd/programs.ts) on MobileNetV2's and the MNIST MLP's shapes, one
// thread, by this process's CPU time (best of ROUNDS interleaved trials: the machine may be shared), with and
// without FMA (the module emitted both ways; FMA only where this engine fuses, see src/kernels/simd/fma.ts).
//
//   npm run build && node bench/tools/gemm-bench.mjs [ROUNDS]
//
// gemm: C[m, n] = A[m, k]·B[k, n] (gemm_r4 + gemm_r1 on the leftover rows, as tiles.ts calls them);
// gemm_tn: C[m, n] = Aᵀ·B with A stored [k, m] (a filter gradient xᵀ·dy), against gemm_r4 on a transposed copy.
import { emitModule } from '../../dist/kernels/simd/emitter.js';
import { PROGRAMS } from '../../dist/kernels/simd/programs.js';
import { fmaState } from '../../dist/kernels/simd/fma.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const SHAPES = [
  // [label, m, k, n]
  ['1x1 conv 8x112x112x16 -> 96', 8 * 112 * 112, 16, 96],
  ['1x1 conv 8x56x56x24 -> 144', 8 * 56 * 56, 24, 144],
  ['1x1 conv 8x56x56x144 -> 24', 8 * 56 * 56, 144, 24],
  ['1x1 conv 8x14x14x576 -> 96', 8 * 14 * 14, 576, 96],
  ['1x1 conv 8x7x7x320 -> 1280', 8 * 7 * 7, 320, 1280],
  ['MLP 64x784 . 784x256', 64, 784, 256],
  ['MLP dx 64x256 . 256x784', 64, 256, 784],
];
const TN_SHAPES = [
  ['dW 1x1 8x112x112x16 -> 96', 16, 8 * 112 * 112, 96],
  ['dW 1x1 8x56x56x144 -> 24', 144, 8 * 56 * 56, 24],
  ['dW 1x1 8x7x7x320 -> 1280', 320, 8 * 7 * 7, 1280],
  ['MLP dW 784x64 . 64x256', 784, 64, 256],
];

const modes = fmaState() === 'on' ? [false, true] : [false];
const memory = new WebAssembly.Memory({ initial: 16 });
const programs = modes.map((fma) => new WebAssembly.Instance(new WebAssembly.Module(emitModule(PROGRAMS, { fma })), { env: { memory } }).exports);

function reserve(bytes) {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
}
function fill(f32, from, count, seed) {
  for (let i = 0; i < count; i++) f32[from + i] = (((i + seed) * 7919) % 1000) / 1000 - 0.5;
}
/** best GMAC/s of each run, trials interleaved */
function best(runs, macs) {
  const reps = Math.max(1, Math.ceil(2e8 / macs));
  const out = runs.map(() => 0);
  for (const run of runs) for (let i = 0; i < 2; i++) run();
  for (let r = 0; r < ROUNDS; r++) {
    runs.forEach((run, i) => {
      const t0 = process.cpuUsage();
      for (let q = 0; q < reps; q++) run();
      const t = process.cpuUsage(t0);
      out[i] = Math.max(out[i], (macs * reps) / ((t.user + t.system) / 1e6) / 1e9);
    });
  }
  return out;
}
// the ceiling: 12 independent f32x4 multiply-add chains on registers, no memory traffic (peak(out, n): n passes)
const peakSpec = {
  name: 'peak',
  nParams: 2,
  build(f) {
    const [out, n] = [f.param(0), f.param(1)];
    const i = f.i32();
    const x = f.v128();
    const acc = Array.from({ length: 12 }, () => f.v128());
    f.f32Const(1.0000001).f32x4Splat().set(x);
    for (const a of acc) f.f32Const(0).f32x4Splat().set(a);
    f.forRange(i, () => f.i32Const(0), () => f.get(n), () => {
      for (const a of acc) f.madd(a, () => f.get(x), () => f.get(x));
    });
    acc.forEach((a, g) => f.get(out).get(a).v128Store(16 * g));
  },
};
const peaks = modes.map((fma) => new WebAssembly.Instance(new WebAssembly.Module(emitModule([peakSpec], { fma })), { env: { memory } }).exports.peak);
const head = modes.map((f) => (f ? 'FMA' : 'mul+add')).join(' / ');
console.log(`fma: ${fmaState()}; GMAC/s (${head}), best of ${ROUNDS}`);
console.log(`peak    ${'12 register chains, no loads'.padEnd(30)} ${best(peaks.map((p) => () => p(0, 1 << 22)), (1 << 22) * 48).map((g) => g.toFixed(2)).join(' / ')}`);
for (const [label, m, k, n] of SHAPES) {
  reserve(4 * (m * k + k * n + m * n));
  const f32 = new Float32Array(memory.buffer);
  const [pa, pb, pc] = [0, 4 * m * k, 4 * (m * k + k * n)];
  fill(f32, 0, m * k + k * n, 1);
  const m4 = m - (m % 4);
  const runs = programs.map((e) => () => {
    if (m4 > 0) e.gemm_r4(pa, pb, pc, m4, k, n);
    if (m4 < m) e.gemm_r1(pa + 4 * m4 * k, pb, pc + 4 * m4 * n, m - m4, k, n);
  });
  console.log(`gemm    ${label.padEnd(30)} ${best(runs, m * k * n).map((g) => g.toFixed(2)).join(' / ')}`);
}
for (const [label, m, k, n] of TN_SHAPES) {
  reserve(4 * (2 * m * k + k * n + m * n));
  const f32 = new Float32Array(memory.buffer);
  const [pa, pt, pb, pc] = [0, 4 * m * k, 8 * m * k, 4 * (2 * m * k + k * n)];
  fill(f32, 0, m * k, 1);
  fill(f32, pb / 4, k * n, 2);
  const m4 = m - (m % 4);
  const tn = programs.map((e) => () => e.gemm_tn(pa, pb, pc, m, k, n, m, n));
  // the transposing path: Aᵀ copied out (in JS here), then gemm_r4/gemm_r1
  const viaCopy = programs.map((e) => () => {
    const g = new Float32Array(memory.buffer);
    for (let t = 0; t < k; t++) for (let r = 0; r < m; r++) g[pt / 4 + r * k + t] = g[t * m + r];
    if (m4 > 0) e.gemm_r4(pt, pb, pc, m4, k, n);
    if (m4 < m) e.gemm_r1(pt + 4 * m4 * k, pb, pc + 4 * m4 * n, m - m4, k, n);
  });
  const g = best([...tn, ...viaCopy], m * k * n).map((x) => x.toFixed(2));
  console.log(`gemm_tn ${label.padEnd(30)} ${g.slice(0, modes.length).join(' / ')}   (transpose + gemm_r4: ${g.slice(modes.length).join(' / ')})`);
}

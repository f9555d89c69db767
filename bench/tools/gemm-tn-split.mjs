// Wall ms of gemm_tn (a 1x1 filter gradient xᵀ·dy) on MobileNetV2's batch-8 shapes at 1 and 2 threads, by split
// strategy (interleaved trials, best of ROUNDS: the machine may be shared). With FASTLR_POOL_CPU=1, the 2-thread
// figures are max(the longest call, the work / 2) by time on a core and (in brackets) the work (the pool's stats): what a free
// core per thread would see; the 1-thread figure is process CPU.
//   npm run build && FASTLR_POOL_CPU=1 node bench/tools/gemm-tn-split.mjs [ROUNDS]
// ALT=/path/to/module.mjs adds the splits it exports as `strategies` ({ name: (pa, pb, pc, m, k, n8, threads) => Call[] }),
// each checked for the same bits as gemmTnCalls.
import { privateHeap } from '../../dist/kernels/simd/runtime.js';
import { poolStats, setThreads } from '../../dist/kernels/simd/pool.js';
import { gemmTnCalls } from '../../dist/kernels/simd/tiles.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const B = 8;
// [hw, ci, co]
const SHAPES = [[112, 16, 96], [112, 32, 16], [56, 24, 144], [56, 144, 24], [56, 96, 24], [28, 32, 192], [28, 192, 32], [28, 144, 32],
  [14, 64, 384], [14, 384, 64], [14, 96, 576], [14, 576, 96], [14, 384, 96], [14, 192, 64], [7, 160, 960], [7, 960, 160], [7, 320, 1280], [7, 960, 320], [7, 576, 160]];
setThreads(2);
const heap = privateHeap();
const strategies = { main: (pa, pb, pc, m, k, n, t) => gemmTnCalls(pa, pb, pc, m, k, n, t) };
if (process.env.ALT) {
  const mod = await import(process.env.ALT);
  Object.assign(strategies, mod.strategies);
}
let tot = {};
for (const [hw, ci, co] of SHAPES) {
  const k = B * hw * hw;
  const pa = 0;
  const pb = 4 * k * ci;
  const pc = pb + 4 * k * co;
  heap.reserve(pc + 4 * ci * co * 2);
  const f = heap.f32();
  for (let i = 0; i < pc / 4; i++) f[i] = Math.sin(i * 0.37);
  const ref = new Float32Array(ci * co);
  const runs = [];
  for (const [name, fn] of Object.entries(strategies)) for (const t of [1, 2]) runs.push([`${name}/${t}`, () => heap.parallel(fn(pa, pb, pc, ci, k, co, t), t)]);
  const best = runs.map(() => Infinity);
  const work = runs.map(() => 0);
  for (const [, r] of runs) r();
  ref.set(heap.f32().subarray(pc / 4, pc / 4 + ci * co));
  for (let r = 0; r < ROUNDS; r++) runs.forEach(([name, run], i) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const p0 = poolStats();
    run();
    const p1 = poolStats();
    const c = process.cpuUsage(c0);
    const split = p1.splitRuns > p0.splitRuns && p1.splitBalancedCpuMs > 0;
    const ms = split ? p1.splitBalancedCpuMs - p0.splitBalancedCpuMs : process.env.FASTLR_POOL_CPU === '1' ? (c.user + c.system) / 1000 : performance.now() - t0;
    if (ms < best[i]) { best[i] = ms; work[i] = split ? p1.splitWorkCpuMs - p0.splitWorkCpuMs : ms; }
    const out = heap.f32().subarray(pc / 4, pc / 4 + ci * co);
    for (let q = 0; q < out.length; q++) if (Object.is(out[q], ref[q]) === false) throw new Error(`${name}: bits differ at ${q}`);
  });
  console.log(`${B}x${hw}x${hw} ${ci}->${co}: ` + runs.map(([n], i) => `${n} ${best[i].toFixed(2)} (${work[i].toFixed(2)})`).join('  '));
  runs.forEach(([n], i) => { tot[n] = (tot[n] ?? 0) + best[i]; tot[n + ' work'] = (tot[n + ' work'] ?? 0) + work[i]; });
}
console.log('total: ' + Object.entries(tot).map(([n, v]) => `${n} ${v.toFixed(1)}`).join('  '));
await heap.closeThreads();

#!/usr/bin/env node
// The worker pool alone (simd/pool.ts): what one wake + join round trip costs, and how a split gemm scales.
//   node bench/tools/pool-rtt.mjs [threads=2] [iters=2000]
// For an empty call and for gemm_r4 calls of ~K µs of work: µs per call on 1 thread vs split over N threads
// (wall and process CPU time). A development tool, not part of the bench table.
import os from 'node:os';
import { privateHeap } from '../../dist/kernels/simd/runtime.js';
import { setThreads } from '../../dist/kernels/simd/pool.js';
import { gemmCalls } from '../../dist/kernels/simd/tiles.js';
const threads = Number(process.argv[2] ?? 2);
const iters = Number(process.argv[3] ?? 2000);
const heap = privateHeap();
if (!heap) throw new Error('no SIMD');
setThreads(threads);
heap.reserve(64 << 20);
const f = heap.f32();
for (let i = 0; i < 8 << 20; i++) f[i] = (i % 17) / 17;
function time(fn, n) {
  for (let i = 0; i < Math.min(50, n); i++) fn();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  const wall = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / n };
}
const fmt = (r) => `${r.wall.toFixed(1).padStart(8)} µs wall ${r.cpu.toFixed(1).padStart(8)} µs CPU`;
console.log(`load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; threads ${threads}`);
// empty: a gemm of 0 rows on every thread
const empty = Array.from({ length: threads }, () => ({ fn: 'gemm_r4', args: [0, 0, 0, 0, 8, 8] }));
console.log(`empty call      1 thread ${fmt(time(() => heap.parallel([empty[0]]), iters))}`);
console.log(`empty call x${threads}     pool ${fmt(time(() => heap.parallel(empty), iters))}`);
// gemms: A at 0, B at 16 MB, C at 32 MB; m rows of k=256, n=64 (m*k*n MACs)
for (const m of [16, 64, 256, 1024, 4096]) {
  const k = 256, n = 64, pb = 16 << 20, pc = 32 << 20;
  const one = gemmCalls(0, pb, pc, m, k, n, 1).blocks;
  const split = [];
  const per = Math.ceil(m / 4 / threads) * 4;
  for (let r = 0; r < m; r += per) split.push({ fn: 'gemm_r4', args: [4 * r * k, pb, pc + 4 * r * n, Math.min(per, m - r), k, n] });
  const n1 = Math.max(20, Math.floor(iters * 64 / m));
  const a = time(() => heap.parallel(one), n1);
  const b = time(() => heap.parallel(split), n1);
  console.log(`gemm ${String(m).padStart(4)}x${k}x${n} (${(m * k * n / 1e6).toFixed(2)} MMAC)  1 thread ${fmt(a)} | ${split.length} threads ${fmt(b)} | speedup ${(a.wall / b.wall).toFixed(2)}x`);
}
await heap.closeThreads();

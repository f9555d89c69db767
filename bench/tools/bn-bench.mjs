// ms per call (the main thread's time on a core, with split runs counted as shared out evenly: FASTLR_POOL_CPU=1's
// pool stats, as bench/mobilenet.js --profile's "even" column) of fastlr's training-mode BatchNorm kernels (FastlrBatchNormTrain, FastlrBatchNormGradSums —
// linear and with relu6's mask — FastlrBatchNormGradInput, and a relu6-fused BN's whole gradient: BN_KINDS picks) on MobileNetV2 224²'s BN shapes at a batch size,
// on wasm at 1 and at THREADS threads, interleaved in one process (the machine may be shared: best of ROUNDS), and
// the sha256 of every output (the same at every thread count).
//
//   npm run build && FASTLR_POOL_CPU=1 [BN_SHAPES=112x32,...] node bench/tools/bn-bench.mjs [BATCH] [THREADS] [ROUNDS]
import { createHash } from 'node:crypto';
import { openSync, readSync } from 'node:fs';

const BATCH = Number(process.argv[2] ?? 8);
const THREADS = Number(process.argv[3] ?? 2);
const ROUNDS = Number(process.argv[4] ?? 5);
const lib = await import('../../dist/index.js');
const { setThreads, poolStats } = await import('../../dist/kernels/simd/pool.js');
if (process.env.FASTLR_POOL_CPU !== '1') console.log('(FASTLR_POOL_CPU=1 not set: wall times)');
let statFd;
const statBuf = Buffer.alloc(96);
/** ms the main thread has waited for a core so far (schedstat run_delay) */
function waited() {
  statFd ??= openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
  return Number(statBuf.toString('latin1', 0, readSync(statFd, statBuf, 0, statBuf.length, 0)).split(' ')[1]) / 1e6;
}
/** the critical path of `run` with a free core per thread, ms */
function evenMs(run) {
  const p0 = poolStats();
  const w0 = waited();
  const t0 = performance.now();
  run();
  const main = performance.now() - t0 - (waited() - w0);
  const p1 = poolStats();
  return main - (p1.splitMainOnCoreMs - p0.splitMainOnCoreMs) + (p1.splitBalancedCpuMs - p0.splitBalancedCpuMs);
}
const tf = await import('@tensorflow/tfjs');
await lib.initBackend('wasm', { threads: THREADS });
// [spatial size, channels, BN layers of that shape in MobileNetV2 α = 1]
const ALL_SHAPES = [
  [112, 32, 2], [112, 16, 1], [112, 96, 1], [56, 96, 1], [56, 24, 2], [56, 144, 3], [28, 144, 1], [28, 32, 3],
  [28, 192, 5], [14, 192, 1], [14, 64, 4], [14, 384, 8], [14, 96, 3], [14, 576, 5], [7, 576, 1], [7, 160, 3],
  [7, 960, 6], [7, 320, 1], [7, 1280, 1],
];
// BN_SHAPES=112x32,56x144: only those
const only = process.env.BN_SHAPES?.split(',') ?? null;
const SHAPES = only === null ? ALL_SHAPES : ALL_SHAPES.filter(([s, c]) => only.includes(`${s}x${c}`));
const wave = (n, k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7913 + k) * (1 + (i % 7) * 0.1));
const eng = tf.engine();
const hash = (ts) => {
  const h = createHash('sha256');
  for (const t of ts) h.update(Buffer.from(t.dataSync().buffer));
  return h.digest('hex').slice(0, 12);
};
const kinds = (process.env.BN_KINDS ?? 'train,sums,sums_relu6,input,grad_relu6').split(',');
const totals = Object.fromEntries(kinds.map((k) => [k, [0, 0]]));
const hashes = new Map();
for (const [s, c, count] of SHAPES) {
  const shape = [BATCH, s, s, c];
  const n = BATCH * s * s * c;
  const x = tf.tensor(wave(n, 0), shape);
  const dy = tf.tensor(wave(n, 1), shape);
  const scale = tf.tensor1d(wave(c, 2));
  const offset = tf.tensor1d(wave(c, 3));
  const [y, mean, variance] = eng.runKernel('FastlrBatchNormTrain', { x, scale, offset }, { varianceEpsilon: 1e-3 });
  const [ds, dof] = eng.runKernel('FastlrBatchNormGradSums', { x, dy, mean, variance }, { varianceEpsilon: 1e-3 });
  const run = {
    train: () => eng.runKernel('FastlrBatchNormTrain', { x, scale, offset }, { varianceEpsilon: 1e-3 }),
    sums: () => eng.runKernel('FastlrBatchNormGradSums', { x, dy, mean, variance }, { varianceEpsilon: 1e-3 }),
    sums_relu6: () => eng.runKernel('FastlrBatchNormGradSums', { x, dy, mean, variance, scale, offset }, { varianceEpsilon: 1e-3, activation: 'relu6' }),
    input: () => [eng.runKernel('FastlrBatchNormGradInput', { x, dy, scale, mean, variance, dscale: ds, doffset: dof }, { varianceEpsilon: 1e-3 })],
    // a relu6-fused BN's whole gradient (the masked sums, then dx): [dx, dscale, doffset]
    grad_relu6: () => tf.tidy(() => tf.grads((a, g, b) =>
      eng.runKernel('FastlrBatchNormTrain', { x: a, scale: g, offset: b }, { varianceEpsilon: 1e-3, activation: 'relu6' })[0].mul(dy).sum())([x, scale, offset])),
  };
  const reps = Math.max(2, Math.round(3e6 / n));
  const row = [];
  for (const k of kinds) {
    const best = [Infinity, Infinity];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, t] of [[0, 1], [1, THREADS]]) {
        setThreads(t);
        const outs = run[k]();
        const h = hash(outs);
        tf.dispose(outs);
        const key = `${k} ${s}x${c}`;
        if (!hashes.has(key)) hashes.set(key, h);
        else if (hashes.get(key) !== h) throw new Error(`${key}: ${t} thread(s) gave other bits`);
        best[i] = Math.min(best[i], evenMs(() => {
          for (let q = 0; q < reps; q++) tf.dispose(run[k]());
        }) / reps);
      }
    }
    totals[k][0] += best[0] * count;
    totals[k][1] += best[1] * count;
    row.push(`${k} ${best[0].toFixed(3)}/${best[1].toFixed(3)} (${hashes.get(`${k} ${s}x${c}`)})`);
  }
  console.log(`${s}x${s}x${c} ×${count}: ${row.join('  ')}`);
  tf.dispose([x, dy, scale, offset, y, mean, variance, ds, dof]);
}
for (const k of kinds) console.log(`${k}: ${totals[k][0].toFixed(2)} ms at 1 thread, ${totals[k][1].toFixed(2)} ms at ${THREADS}: ${(totals[k][0] / totals[k][1]).toFixed(2)}×`);

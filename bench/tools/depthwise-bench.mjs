// CPU ms of fastlr's depthwise programs (src/kernels/simd/depthwise-programs.ts) on MobileNetV2 224²'s seventeen
// depthwise layers at a batch size, one thread: the generic programs (dw_fwd, dw_bpi, dw_bpf) against the 3×3
// register programs (dw_fwd3, dw_bpi3s1 / dw_bpi3s2, dw_bpf3), best of ROUNDS interleaved trials (the machine may be
// shared), and whether the two give the same bits (they sum in the same order with the same multiply-add).
//
//   npm run build && node bench/tools/depthwise-bench.mjs [BATCH] [ROUNDS]
import { emitModule } from '../../dist/kernels/simd/emitter.js';
import { PROGRAMS } from '../../dist/kernels/simd/programs.js';
import { fmaInUse } from '../../dist/kernels/simd/fma.js';

const BATCH = Number(process.argv[2] ?? 8);
const ROUNDS = Number(process.argv[3] ?? 5);
// [input size (after Keras's ZeroPadding2D for stride 2), channels, stride, padding]: MobileNetV2 α = 1, 224²
const LAYERS = [
  [112, 32, 1, 'same'], [113, 96, 2, 'valid'], [56, 144, 1, 'same'], [57, 144, 2, 'valid'],
  [28, 192, 1, 'same'], [28, 192, 1, 'same'], [29, 192, 2, 'valid'],
  [14, 384, 1, 'same'], [14, 384, 1, 'same'], [14, 384, 1, 'same'], [14, 384, 1, 'same'],
  [14, 576, 1, 'same'], [14, 576, 1, 'same'], [15, 576, 2, 'valid'],
  [7, 960, 1, 'same'], [7, 960, 1, 'same'], [7, 960, 1, 'same'],
];

const memory = new WebAssembly.Memory({ initial: 16 });
const progs = new WebAssembly.Instance(new WebAssembly.Module(emitModule(PROGRAMS, { fma: fmaInUse() })), { env: { memory } }).exports;
function reserve(bytes) {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
}
function cpuMs(run, reps) {
  const t0 = process.cpuUsage();
  for (let q = 0; q < reps; q++) run();
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / 1000 / reps;
}

const kinds = [
  ['fwd', () => 'dw_fwd', () => 'dw_fwd3'],
  ['bpi', () => 'dw_bpi', (s) => `dw_bpi3s${s}`],
  ['bpf', () => 'dw_bpf', () => 'dw_bpf3'],
];
const totals = kinds.map(() => [0, 0]);
let same = true;
console.log(`fma: ${fmaInUse()}; batch ${BATCH}; CPU ms per call, best of ${ROUNDS} (generic / 3×3)`);
for (const [size, c, stride, pad] of LAYERS) {
  const o = pad === 'same' ? Math.ceil(size / stride) : Math.floor((size - 3) / stride) + 1;
  const total = pad === 'same' ? Math.max((o - 1) * stride + 3 - size, 0) : 0;
  const top = Math.floor(total / 2);
  const nx = BATCH * size * size * c;
  const ny = BATCH * o * o * c;
  const nw = 9 * c;
  // x | w | dy | out A | out B
  const px = 0;
  const pw = 4 * nx;
  const pdy = pw + 4 * nw;
  const pa = pdy + 4 * ny;
  const pb = pa + 4 * nx;
  reserve(pb + 4 * nx);
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < pa / 4; i++) f[i] = (((i * 7919) % 1000) / 1000 - 0.5) * Number(process.env.SCALE ?? 0.25);
  const geo = [BATCH, size, size, c, o, o, 3, 3, stride, stride, top, top];
  const row = [];
  kinds.forEach(([kind, generic, k3], ki) => {
    const [a, b, count] = kind === 'fwd' ? [px, pw, ny] : kind === 'bpi' ? [pdy, pw, nx] : [px, pdy, nw];
    const runs = [generic(stride), k3(stride)].map((name) => (out) => progs[name](a, b, out, ...geo));
    runs[0](pa);
    runs[1](pb);
    const g = new Float32Array(memory.buffer);
    for (let i = 0; i < count; i++) {
      if (Object.is(g[pa / 4 + i], g[pb / 4 + i])) continue;
      same = false;
      console.log(`  ${kind} ${size}x${c} s${stride}: differs at ${i}: ${g[pa / 4 + i]} vs ${g[pb / 4 + i]}`);
      break;
    }
    const reps = Math.max(1, Math.round(2e7 / (9 * ny)));
    const best = [Infinity, Infinity];
    for (let r = 0; r < ROUNDS; r++) {
      best[0] = Math.min(best[0], cpuMs(() => runs[0](pa), reps));
      best[1] = Math.min(best[1], cpuMs(() => runs[1](pb), reps));
    }
    totals[ki][0] += best[0];
    totals[ki][1] += best[1];
    row.push(`${kind} ${best[0].toFixed(2)} / ${best[1].toFixed(2)}`);
  });
  console.log(`${`${BATCH}x${size}x${size}x${c} s${stride} ${pad}`.padEnd(26)} ${row.join('   ')}`);
}
console.log(`total (ms per step)       ${kinds.map(([k], i) => `${k} ${totals[i][0].toFixed(1)} / ${totals[i][1].toFixed(1)}`).join('   ')}`);
console.log(same ? 'generic and 3×3 programs agree bit for bit' : 'MISMATCH between the generic and 3×3 programs');
process.exitCode = same ? 0 : 1;

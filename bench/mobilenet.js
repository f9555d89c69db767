// MobileNetV2 224×224 training steps for `npm run bench` (bench.js calls mobilenetSection), against torchvision's
// mobilenet_v2 (bench/torch_mobilenet.py).
//
//   node bench/mobilenet.js --worker BACKEND STAGE BATCH STEPS [THREADS]   one measurement, one JSON line (a child process)
//   node bench/mobilenet.js --profile BACKEND STAGE BATCH [THREADS]         one step's kernels by CPU time
//
// fastlr side: the Keras MobileNetV2 topology (keras.applications.mobilenet_v2, α = 1.0: Conv2D without bias,
// BatchNormalization ε 1e-3 momentum 0.999, ReLU(max_value 6), DepthwiseConv2D, ZeroPadding2D before every stride-2
// depthwise conv, Add when a block keeps its shape; GlobalAveragePooling2D + Dense 1000) built in code with
// tfjs-layers, random weights, trained by fastlr's Learner (its trainStep: forward in training mode, cross-entropy,
// tf.variableGrads of the trainable variables, fastai's Adam; the loss read back every step). Two groups, body |
// head (fastai's default split): STAGE `whole` trains everything, `whole_bn_inference` too with every BatchNorm in
// inference mode (model.bn_inference), `frozen` is fine_tune's first stage as the example runs it (the body frozen
// with bn_freeze and train_bn false: no gradient computed into it; the head trains).
// images/s = batch × steps / time, by wall clock and by this process's CPU time (process.cpuUsage: on a shared
// machine, time spent waiting for a core does not count), after two warm-up steps.
import { spawnSync } from 'node:child_process';
import { existsSync, openSync, readFileSync, readSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

/** keras.applications.mobilenet_v2._make_divisible */
function makeDivisible(v, divisor = 8) {
  const n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return n < 0.9 * v ? n + divisor : n;
}

/** The Keras MobileNetV2 graph (α = 1.0, 224×224×3 → `classes` logits), layer names as Keras gives them. */
export function buildMobileNetV2(tf, { classes = 1000, size = 224 } = {}) {
  const L = tf.layers;
  const bn = (name) => L.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name });
  const relu6 = (name) => L.reLU({ maxValue: 6, name });
  const input = tf.input({ shape: [size, size, 3], name: 'input_1' });
  let x = L.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1' }).apply(input);
  x = bn('bn_Conv1').apply(x);
  x = relu6('Conv1_relu').apply(x);
  const blocks = [
    [16, 1, 1],
    [24, 2, 6], [24, 1, 6],
    [32, 2, 6], [32, 1, 6], [32, 1, 6],
    [64, 2, 6], [64, 1, 6], [64, 1, 6], [64, 1, 6],
    [96, 1, 6], [96, 1, 6], [96, 1, 6],
    [160, 2, 6], [160, 1, 6], [160, 1, 6],
    [320, 1, 6],
  ];
  blocks.forEach(([filters, stride, expansion], id) => {
    const inputs = x;
    const inChannels = x.shape[x.shape.length - 1];
    const pointwise = makeDivisible(filters);
    let prefix = `block_${id}_`;
    if (id > 0) {
      x = L.conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` }).apply(x);
      x = bn(`${prefix}expand_BN`).apply(x);
      x = relu6(`${prefix}expand_relu`).apply(x);
    } else {
      prefix = 'expanded_conv_';
    }
    if (stride === 2) {
      // imagenet_utils.correct_pad for an even input size: ((0, 1), (0, 1))
      x = L.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `${prefix}pad` }).apply(x);
    }
    x = L.depthwiseConv2d({
      kernelSize: 3, strides: stride, padding: stride === 1 ? 'same' : 'valid', useBias: false, name: `${prefix}depthwise`,
    }).apply(x);
    x = bn(`${prefix}depthwise_BN`).apply(x);
    x = relu6(`${prefix}depthwise_relu`).apply(x);
    x = L.conv2d({ filters: pointwise, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` }).apply(x);
    x = bn(`${prefix}project_BN`).apply(x);
    if (inChannels === pointwise && stride === 1) x = L.add({ name: `${prefix}add` }).apply([inputs, x]);
  });
  x = L.conv2d({ filters: 1280, kernelSize: 1, useBias: false, name: 'Conv_1' }).apply(x);
  x = bn('Conv_1_bn').apply(x);
  x = relu6('out_relu').apply(x);
  x = L.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x);
  const out = L.dense({ units: classes, name: 'predictions' }).apply(x);
  return tf.model({ inputs: input, outputs: out, name: 'mobilenetv2_1.00_224' });
}

const CLASSES = 1000;

/**
 * The stages measured. `frozen` is fine_tune's first stage as configs/mobilenet-finetune.yaml runs it: body frozen
 * with train_bn false and bn_freeze true (its BatchNorm in inference mode, running statistics untouched), so no
 * gradient enters the body; `whole` trains every parameter with BatchNorm in training mode; `whole_bn_inference` is
 * the example's unfrozen stage (model.bn_inference: every BatchNorm in inference mode, gamma/beta training).
 */
export const STAGES = {
  whole: { label: 'whole net', learner: { trainBn: true } },
  frozen: { label: 'frozen body (bn_freeze) + head', learner: { trainBn: false, bnFreeze: true } },
  whole_bn_inference: { label: 'whole net, bn_inference', learner: { trainBn: true, bnInference: true } },
};

/** A Learner over the model (groups body | head), ready for trainStep; plus a batch of random images and labels. */
export async function setup(backend, stage, batch, threads = 1) {
  const lib = await import('../dist/index.js');
  const { layerParams } = await import('../dist/model/groups.js');
  const tf = await import('@tensorflow/tfjs');
  const info = await lib.initBackend(backend, { threads });
  const model = buildMobileNetV2(tf, { classes: CLASSES });
  const n = model.layers.length;
  const group = (from, to) => {
    const params = [];
    const layers = [];
    for (let i = from; i < to; i++) {
      layers.push(model.layers[i].name);
      params.push(...layerParams(model.layers[i], i));
    }
    return { params, layers };
  };
  const groups = [group(0, n - 1), group(n - 1, n)];
  const px = 224 * 224 * 3;
  const x = new Float32Array(batch * px);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.7913) * 0.9;
  const y = Float32Array.from({ length: batch }, (_, i) => (i * 37) % CLASSES);
  const data = {
    train: { x, y, n: batch },
    valid: { x: x.subarray(0, px), y: y.subarray(0, 1), n: 1 },
    inputShape: [224, 224, 3],
    task: 'classification',
    nClasses: CLASSES,
    targetDim: 1,
    classNames: Array.from({ length: CLASSES }, (_, i) => String(i)),
    source: 'random',
  };
  const learner = new lib.Learner({
    model, groups, data, loss: 'cross_entropy', metrics: [],
    optimizer: { type: 'adam', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 },
    batchSize: batch, shuffle: false, dropLast: false, seed: 42,
    ...STAGES[stage].learner,
  });
  if (stage === 'frozen') learner.freeze();
  const xs = tf.tensor4d(x, [batch, 224, 224, 3]);
  const ys = tf.tensor1d(y);
  const step = () => learner.trainStep(xs, ys, [1e-4, 1e-3]);
  return { tf, learner, step, backendName: tf.getBackend(), threads: info.threads, fma: info.fma, dispose: () => { tf.dispose([xs, ys]); model.dispose(); } };
}

async function worker(backend, stage, batch, steps, threads) {
  const s = await setup(backend, stage, batch, threads);
  // warm-up, two steps: kernels set up, weights and optimizer state allocated in the first; the second still writes
  // some outputs (the depthwise input gradients) to wasm heap pages never touched before, ~40 ms a layer once
  await s.step();
  await s.step();
  const w0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) await s.step();
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - w0) / 1000;
  const cpu = (c.user + c.system) / 1e6;
  const out = {
    backend: s.backendName, stage, batch, steps, threads: s.threads, fma: s.fma,
    trainable: s.learner.trainableVariables.length,
    images_per_s: (batch * steps) / wall,
    cpu_images_per_s: (batch * steps) / cpu,
    step_seconds: wall / steps,
    cpu_step_seconds: cpu / steps,
    tensors: s.tf.memory().numTensors,
  };
  s.dispose();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/**
 * One step's kernels by this process's CPU time (each registered kernel of the backend wrapped in
 * process.cpuUsage; a kernel that calls another through its own handle counts both), and tf.profile's wall times.
 */
/** ms the main thread has waited for a core so far (Linux schedstat run_delay; 0 elsewhere); one open file, re-read */
let statFd;
const statBuf = Buffer.alloc(96);
function waited() {
  try {
    statFd ??= openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
    return Number(statBuf.toString('latin1', 0, readSync(statFd, statBuf, 0, statBuf.length, 0)).split(' ')[1]) / 1e6;
  } catch {
    return 0;
  }
}

async function profile(backend, stage, batch, threads) {
  const s = await setup(backend, stage, batch, threads);
  const stats = process.env.FASTLR_POOL_CPU === '1' ? await import('../dist/kernels/simd/pool.js') : null;
  await s.step();
  await s.step(); // two warm-up steps, as the timed runs (the second touches fresh heap pages)
  const tf = s.tf;
  const name = tf.getBackend();
  const by = new Map();
  const detail = process.env.PROFILE_KERNEL ?? '';
  const configs = tf.getKernelsForBackend(name);
  // the wrapper's own time (cpuUsage, schedstat and pool reads, ~1200 calls a step) is neither kernel nor the step's
  // JS: measured and left out of "outside"; a kernel run from inside another counts once
  let wrapperMs = 0;
  let outerMain = 0;
  let outerCrit = 0;
  let depth = 0;
  for (const config of configs) {
    const f = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, name);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        const e0 = performance.now();
        const c0 = process.cpuUsage();
        const p0 = stats?.poolStats() ?? null;
        const w0 = waited();
        const t0 = performance.now();
        depth++;
        try {
          return f(args);
        } finally {
          depth--;
          const t1 = performance.now();
          const c = process.cpuUsage(c0);
          const e = by.get(config.kernelName) ?? { ms: 0, n: 0, main: 0, crit: 0 };
          e.ms += (c.user + c.system) / 1000;
          const w1 = waited();
          const main = t1 - t0 - (w1 - w0);
          e.main += main;
          // with a free core per thread: the main thread's own time outside split runs, plus the split runs shared
          // out evenly (pool stats; FASTLR_POOL_CPU=1)
          const p1 = p0 === null ? null : stats.poolStats();
          const crit = p1 === null ? main : main - (p1.splitMainOnCoreMs - p0.splitMainOnCoreMs) + (p1.splitBalancedCpuMs - p0.splitBalancedCpuMs);
          e.crit += crit;
          e.n += 1;
          if (depth === 0) {
            outerMain += main;
            outerCrit += crit;
          }
          if (detail === config.kernelName) {
            const shapes = Object.values(args.inputs).filter((t) => t != null).map((t) => t.shape.join('x')).join(' ');
            console.log(`    ${config.kernelName} ${shapes} ${JSON.stringify(args.attrs?.inputShape ?? args.attrs?.filterShape ?? '')} ${((c.user + c.system) / 1000).toFixed(2)} ms`);
          }
          by.set(config.kernelName, e);
          if (depth === 0) wrapperMs += performance.now() - e0 - (t1 - t0);
        }
      },
    });
  }
  const c0 = process.cpuUsage();
  const ws0 = waited();
  const ts0 = performance.now();
  await s.step();
  const wall = performance.now() - ts0;
  const waitedStep = waited() - ws0;
  const c = process.cpuUsage(c0);
  const rows = [...by].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((a, [, e]) => a + e.ms, 0);
  console.log(`${name} ${stage} batch ${batch}, ${threads} thread(s): step CPU ${((c.user + c.system) / 1000).toFixed(0)} ms, in kernels ${total.toFixed(0)} ms`);
  const main = outerMain;
  const crit = outerCrit;
  const outside = wall - waitedStep - wrapperMs - main;
  console.log(`  (kernel, process CPU, main thread's wall time in it less its waits for a core, and the same with the split runs shared out evenly (a free core per thread): kernels ${main.toFixed(0)} / ${crit.toFixed(0)} ms of a ${wall.toFixed(0)} ms step, ${outside.toFixed(0)} ms outside kernels (less waits and this profile's own ${wrapperMs.toFixed(0)} ms of reads); critical path ${(outside + crit).toFixed(0)} ms)`);
  for (const [k, e] of rows.slice(0, 30)) console.log(`  ${k.padEnd(40)} ${e.ms.toFixed(1).padStart(9)} ms ${e.main.toFixed(1).padStart(9)} ms main ${e.crit.toFixed(1).padStart(9)} ms even  ×${e.n}`);
  s.dispose();
}

// ------------------------------------------------------------------------------------------------- the bench row
function runWorker(backend, stage, batch, steps, threads) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', backend, stage, String(batch), String(steps), String(threads)], {
    cwd: root, encoding: 'utf8', env: { ...process.env, FASTLR_BACKEND: '' }, maxBuffer: 16 << 20,
  });
  const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) return { backend, stage, threads, error: (r.stderr || '').trim().split('\n').slice(-2).join(' | ') || `exit ${r.status}` };
  return JSON.parse(line);
}

/** Debian's python3-torch with OpenBLAS: the pthread build of OpenBLAS when it is installed (as bench.js's MLP/CNN rows). */
function blasEnv() {
  const dir = '/usr/lib/x86_64-linux-gnu/openblas-pthread';
  if (!existsSync(dir)) return {};
  return { LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}

function runTorch(python, batch, steps, threads) {
  const env = { ...process.env, ...blasEnv(), OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const r = spawnSync(python, [path.join(here, 'torch_mobilenet.py'), '--batch', String(batch), '--steps', String(steps), '--threads', String(threads), '--stages', ORDER.join(',')], {
    encoding: 'utf8', env, maxBuffer: 16 << 20,
  });
  const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) return { error: (r.stderr || '').trim().split('\n').slice(-2).join(' | ') || `exit ${r.status}` };
  return JSON.parse(line);
}

const best = (runs, key) => runs.filter((r) => !r.error).reduce((a, r) => (a === null || r[key] > a[key] ? r : a), null);

/** The stages of the row, in table order; PyTorch runs the same three (bench/torch_mobilenet.py). */
const ORDER = ['whole', 'whole_bn_inference', 'frozen'];

/**
 * The MobileNetV2 rows at `threads` threads: fastlr (each backend × whole | whole_bn_inference | frozen) and PyTorch
 * (the same stages, torch.set_num_threads(threads)), best of `rounds` alternating runs by CPU time. `python`: an
 * interpreter with torch + torchvision, or null.
 */
export function mobilenetSection({ backends, python, rounds = 1, batch = 8, steps = 3, threads = 1, log = () => {} }) {
  const fastlr = [];
  const torch = [];
  for (let round = 1; round <= rounds; round++) {
    for (const b of backends) {
      for (const stage of ORDER) {
        log(`  round ${round}/${rounds}: fastlr MobileNetV2 ${stage} on ${b}, ${threads} thread(s) ...`);
        fastlr.push(runWorker(b, stage, batch, steps, threads));
      }
    }
    if (python) {
      log(`  round ${round}/${rounds}: PyTorch MobileNetV2, ${threads} thread(s) ...`);
      torch.push(runTorch(python, batch, steps, threads));
    }
  }
  const rows = [];
  for (const b of backends) {
    for (const stage of ORDER) {
      const runs = fastlr.filter((r) => r.stage === stage && (r.backend === b || r.error));
      const f = best(runs, 'cpu_images_per_s') ?? runs[0];
      const tRuns = torch.filter((t) => !t.error && t[stage]).map((t) => t[stage]);
      const t = tRuns.length ? tRuns.reduce((a, r) => (r.cpu_images_per_s > a.cpu_images_per_s ? r : a)) : null;
      rows.push({ backend: b, stage, fastlr: f, torch: t });
    }
  }
  const torchInfo = torch.find((t) => !t.error) ?? torch[0] ?? null;
  const used = fastlr.find((r) => !r.error)?.threads;
  return {
    batch, steps, rows,
    ...(used !== undefined ? { threads: used } : {}),
    torch: torchInfo ? { version: torchInfo.torch, torchvision: torchInfo.torchvision, blas: torchInfo.blas, threads: torchInfo.threads, error: torchInfo.error } : null,
  };
}

const LABEL = {
  whole: 'whole net',
  whole_bn_inference: 'whole net, bn_inference',
  frozen: 'frozen stage (bn_freeze, train_bn false)',
};

export function mobilenetTable(section, fmt, table) {
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
  const rows = [['MobileNetV2 224², batch ' + section.batch, 'backend', 'fastlr img/s', 'PyTorch img/s', 'ratio', 'fastlr CPU', 'PyTorch CPU', 'ratio (CPU)']];
  for (const r of section.rows) {
    const f = r.fastlr;
    if (f.error) {
      rows.push([LABEL[r.stage] ?? r.stage, r.backend, `failed: ${f.error.slice(0, 60)}`, '', '', '', '', '']);
      continue;
    }
    rows.push([
      LABEL[r.stage] ?? r.stage,
      r.backend,
      fmt(f.images_per_s, 2), fmt(r.torch?.images_per_s ?? NaN, 2), ratio(f.images_per_s, r.torch?.images_per_s),
      fmt(f.cpu_images_per_s, 2), fmt(r.torch?.cpu_images_per_s ?? NaN, 2), ratio(f.cpu_images_per_s, r.torch?.cpu_images_per_s),
    ]);
  }
  // the issue's floors: fastlr >= 0.5x PyTorch at equal threads, the frozen stage >= 2x the whole net
  const notes = [];
  const backends = [...new Set(section.rows.map((r) => r.backend))];
  for (const b of backends) {
    const at = (stage) => section.rows.find((r) => r.backend === b && r.stage === stage);
    const w = at('whole');
    const fr = at('frozen');
    const speed = (x, key) => (x && !x.error ? x[key] : undefined);
    notes.push(
      `frozen stage vs whole net on ${b}: ${ratio(speed(fr?.fastlr, 'images_per_s'), speed(w?.fastlr, 'images_per_s'))} wall, ${ratio(speed(fr?.fastlr, 'cpu_images_per_s'), speed(w?.fastlr, 'cpu_images_per_s'))} CPU` +
        (w?.torch && fr?.torch ? ` (PyTorch ${ratio(fr.torch.images_per_s, w.torch.images_per_s)} wall, ${ratio(fr.torch.cpu_images_per_s, w.torch.cpu_images_per_s)} CPU)` : ''),
    );
  }
  const t = section.torch;
  if (t && !t.error) notes.push(`PyTorch ${t.version}, torchvision ${t.torchvision}, ${t.threads} thread(s), BLAS ${t.blas}`);
  else if (t?.error) notes.push(`PyTorch: ${t.error}`);
  return `${table(rows)}\n${notes.map((n) => `  ${n}`).join('\n')}`;
}

// ------------------------------------------------------------------------------------------------------- main
const argv = process.argv.slice(2);
if (argv[0] === '--worker') {
  await worker(argv[1], argv[2], Number(argv[3]), Number(argv[4]), Number(argv[5] ?? 1));
} else if (argv[0] === '--profile') {
  await profile(argv[1], argv[2] ?? 'whole', Number(argv[3] ?? 1), Number(argv[4] ?? 1));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.error(`usage: node bench/mobilenet.js --worker BACKEND STAGE BATCH STEPS [THREADS] | --profile BACKEND [STAGE] [BATCH] [THREADS]   (STAGE: ${ORDER.join(' | ')})`);
  console.error(`(${os.cpus().length} cores; npm run bench runs the MobileNetV2 rows through bench.js)`);
  process.exit(2);
}

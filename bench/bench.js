#!/usr/bin/env node
// `npm run bench`: fastlr's engine against plain PyTorch on this machine, one thread each.
//
//   node bench/bench.js [--json] [--backends wasm[,cpu]] [--python PATH] [--repeats N] [--no-torch]
//
// (cpu is opt-in: the pure-JS backend is ~15-40x slower than wasm and takes minutes here.)
//
// fastlr side: for each model (configs/mnist-mlp.yaml, configs/mnist-cnn.yaml as shipped: MNIST digits, batch 64,
// fastai Adam) and backend, a fresh child process opens a session with the library (openSession) and runs real
// range-test iterations with rangeTest() — batch slicing, forward, loss, gradients, fastlr's optimizer, the loss read
// back every step. steps/s = iterations / the engine loop's own time (best of --repeats runs of a quiet LR range,
// after one warm-up run). Then the configured `find:` (1e-7..10, 100 iterations, stop_div), timed in-process around
// the rangeTest() call: its first run in the process and the best warm one.
// PyTorch side: bench/torch_bench.py (same models, batch 64, Adam, loss.item() every step) with
// OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1; it is only run, never installed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const MODELS = [
  { id: 'mlp', label: 'MLP 784-256-10', config: 'configs/mnist-mlp.yaml', steps: 400 },
  { id: 'cnn', label: 'CNN conv16-pool-conv32-pool-dense10', config: 'configs/mnist-cnn.yaml', steps: 120 },
];

function parseArgs(argv) {
  const a = { json: false, backends: ['wasm'], python: null, repeats: 3, torch: true, worker: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--json') a.json = true;
    else if (k === '--backends') a.backends = next().split(',').filter(Boolean);
    else if (k === '--python') a.python = next();
    else if (k === '--repeats') a.repeats = Math.max(1, Number(next()) | 0);
    else if (k === '--no-torch') a.torch = false;
    else if (k === '--worker') a.worker = { backend: next(), model: next() };
    else if (k === '--help' || k === '-h') {
      console.log('usage: node bench/bench.js [--json] [--backends wasm[,cpu]] [--python PATH] [--repeats N] [--no-torch]');
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------------- worker
/** One backend × one model, in its own process; prints one JSON line. */
async function worker({ backend, model }, repeats) {
  const spec = MODELS.find((m) => m.id === model);
  if (!spec) throw new Error(`unknown model ${model}`);
  const { loadPlan, openSession, rangeTest } = await import('../dist/index.js');
  const { plan } = await loadPlan(path.join(root, spec.config), { env: {}, overrides: { backend } });
  const session = await openSession(plan);
  const learner = session.learner;
  // steps cpu: the cpu backend is far slower, a shorter run says as much
  const steps = backend === 'cpu' ? Math.ceil(spec.steps / 8) : spec.steps;
  // first: the configured find, cold (first range test in this process)
  const t0 = performance.now();
  const cold = await rangeTest(learner, plan.find);
  const coldSeconds = (performance.now() - t0) / 1000;
  // steady state: a quiet LR range (nothing diverges) for `steps` iterations
  const quiet = { start_lr: 1e-7, end_lr: 1e-5, num_it: steps, stop_div: true, suggest: 'valley' };
  await rangeTest(learner, { ...quiet, num_it: Math.min(steps, 30) });
  let best = 0;
  let msCpu = Infinity;
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const res = await rangeTest(learner, quiet);
    const c = process.cpuUsage(c0);
    best = Math.max(best, res.lrs.length / res.seconds);
    msCpu = Math.min(msCpu, (c.user + c.system) / 1000 / res.lrs.length);
  }
  let warm = Infinity;
  let warmRes = cold;
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    const res = await rangeTest(learner, plan.find);
    const s = (performance.now() - t) / 1000;
    if (s < warm) {
      warm = s;
      warmRes = res;
    }
  }
  const out = {
    model,
    backend: session.backend.name,
    steps_per_s: best,
    cpu_ms_per_step: msCpu,
    find: {
      iterations: cold.lrs.length,
      stop: cold.stop.reason,
      first_seconds: coldSeconds,
      warm_seconds: warm,
      warm_iterations: warmRes.lrs.length,
      suggested: cold.suggested,
    },
  };
  session.dispose();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

// ---------------------------------------------------------------------------------------------------- driver
function runWorker(backend, model, repeats) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', backend, model, '--repeats', String(repeats)], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, FASTLR_BACKEND: '' },
    maxBuffer: 16 << 20,
  });
  const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) {
    const why = (r.stderr || '').trim().split('\n').slice(-3).join(' | ') || `exit ${r.status}`;
    return { model, backend, error: why };
  }
  return JSON.parse(line);
}

/** The first interpreter that imports torch: --python, FASTLR_PYTHON, python3, /usr/bin/python3, python. */
function findTorchPython(explicit) {
  const candidates = [explicit, process.env.FASTLR_PYTHON, 'python3', '/usr/bin/python3', 'python'].filter(Boolean);
  const tried = [];
  for (const py of [...new Set(candidates)]) {
    const r = spawnSync(py, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python: py, version: r.stdout.trim() };
    tried.push(py);
    if (explicit && py === explicit) break;
  }
  return { python: null, tried };
}

/** Debian's libblas3 (netlib reference BLAS): what python3-torch falls back to when no optimised BLAS is installed. */
function isReferenceBlas(blas) {
  return typeof blas === 'string' && /\/blas\/libblas\.so/.test(blas) && !/openblas|mkl|blis|atlas/i.test(blas);
}
const REFERENCE_BLAS_NOTE =
  'note: this PyTorch uses the unoptimised reference BLAS (libblas3), which makes its dense layers several times ' +
  'slower than usual (MLP ~80 instead of ~500 steps/s here). For the usual baseline install OpenBLAS ' +
  '(`apt-get install libopenblas0-pthread`) or point LD_LIBRARY_PATH at its openblas-pthread directory.';

const THREAD_ENV = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

async function runTorch(python) {
  const { loadMnist, writeMnistBin } = await import('./mnist-data.js');
  const data = loadMnist();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastlr-bench-'));
  const file = path.join(dir, 'mnist.bin');
  try {
    writeMnistBin(file, data);
    const r = spawnSync(python, [path.join(here, 'torch_bench.py'), file, String(data.n)], {
      encoding: 'utf8',
      env: { ...process.env, ...THREAD_ENV },
      maxBuffer: 16 << 20,
    });
    const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (r.status !== 0 || !line) return { error: (r.stderr || '').trim().split('\n').slice(-2).join(' | ') || `exit ${r.status}` };
    return JSON.parse(line);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '—');

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('   ');
      return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('   ')}` : line;
    })
    .join('\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.worker) return worker(args.worker, args.repeats);

  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    loadavg_before: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
  };
  if (!args.json) {
    console.log(`fastlr bench: MNIST digits, batch 64, Adam, one thread per side`);
    console.log(`machine: ${machine.cores} × ${machine.cpu}, node ${machine.node}, load average ${machine.loadavg_before.join(' ')} before the run`);
  }
  const fastlr = [];
  for (const m of MODELS) {
    for (const b of args.backends) {
      if (!args.json) process.stderr.write(`  fastlr ${m.id} on ${b} ...\n`);
      fastlr.push(runWorker(b, m.id, args.repeats));
    }
  }
  let torch = null;
  let torchNote = null;
  if (args.torch) {
    const found = findTorchPython(args.python);
    if (found.python) {
      if (!args.json) process.stderr.write(`  PyTorch ${found.version} (${found.python}) ...\n`);
      const res = await runTorch(found.python);
      if (res.error) torchNote = `PyTorch run failed: ${res.error}`;
      else torch = { ...res, python: found.python };
    } else {
      torchNote =
        `PyTorch not found (tried ${found.tried.join(', ')}): install it with \`apt-get install python3-torch\` ` +
        `(Debian/Ubuntu) or point --python / FASTLR_PYTHON at an interpreter that has torch and numpy. fastlr's numbers alone:`;
    }
  } else torchNote = 'PyTorch skipped (--no-torch).';
  const blasNote = torch && isReferenceBlas(torch.blas) ? REFERENCE_BLAS_NOTE : null;
  const machineAfter = os.loadavg().map((x) => Number(x.toFixed(2)));

  const torchSteps = (id) => (torch ? torch[`${id}_steps_per_s`] : undefined);
  const torchFind = (id) => (torch ? torch[`${id}_find`] : undefined);
  const results = fastlr.map((r) => {
    const ts = torchSteps(r.model);
    return { ...r, torch_steps_per_s: ts ?? null, ratio: ts && r.steps_per_s ? r.steps_per_s / ts : null };
  });

  if (args.json) {
    const doc = {
      command: 'bench',
      machine: { ...machine, loadavg_after: machineAfter },
      torch: torch ? { version: torch.torch, threads: torch.threads, blas: torch.blas, python: torch.python, env: THREAD_ENV } : null,
      torch_note: torchNote,
      blas_note: blasNote,
      results,
      find: MODELS.map((m) => ({
        model: m.id,
        fastlr: results.filter((r) => r.model === m.id && r.find).map((r) => ({ backend: r.backend, ...r.find })),
        torch: torchFind(m.id) ?? null,
      })),
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }

  if (torch) {
    console.log(`PyTorch ${torch.torch} (${torch.python}), ${torch.threads} thread, OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`);
    console.log(`PyTorch BLAS: ${torch.blas}`);
    if (blasNote) console.log(blasNote);
  } else console.log(torchNote);
  console.log('');
  console.log('Training steps (batch, forward, loss, gradients, Adam, loss read back):');
  const rows = [['model', 'backend', 'fastlr steps/s', 'ms/step', 'PyTorch steps/s', 'fastlr / PyTorch']];
  for (const r of results) {
    const label = MODELS.find((m) => m.id === r.model).label;
    if (r.error) rows.push([label, r.backend, `failed: ${r.error.slice(0, 60)}`, '', '', '']);
    else
      rows.push([
        label,
        r.backend,
        fmt(r.steps_per_s),
        fmt(1000 / r.steps_per_s, 2),
        fmt(r.torch_steps_per_s ?? NaN),
        r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
      ]);
  }
  console.log(table(rows));
  console.log('');
  console.log('LR range test, in-process seconds (find: 1e-7..10, 100 iterations, stop_div; fastlr = the rangeTest() call):');
  const frows = [['model', 'backend', 'iterations', 'fastlr first', 'fastlr warm', 'PyTorch', 'stop']];
  for (const m of MODELS) {
    for (const r of results.filter((x) => x.model === m.id && x.find)) {
      const tf = torchFind(m.id);
      frows.push([
        m.label,
        r.backend,
        String(r.find.iterations),
        `${fmt(r.find.first_seconds, 3)} s`,
        `${fmt(r.find.warm_seconds, 3)} s`,
        tf ? `${fmt(tf.seconds, 3)} s (${tf.iters} it)` : '—',
        r.find.stop,
      ]);
    }
  }
  console.log(table(frows));
  console.log('');
  console.log(`load average ${machineAfter.join(' ')} after the run (${machine.cores} cores; above ~1 the timings are shared with other work)`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

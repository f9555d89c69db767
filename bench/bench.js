#!/usr/bin/env node
// `npm run bench`: fastlr's engine against plain PyTorch on this machine, side by side at equal thread counts.
//
//   node bench/bench.js [--json] [--quick] [--threads 1,all] [--backends wasm[,cpu]] [--python PATH] [--rounds N]
//                       [--repeats N] [--no-torch] [--no-cli] [--rows ID,...|--no-rows]
//
// --threads: the thread counts both sides run at (default `1,all`: one thread, then every available core,
// os.availableParallelism()); PyTorch gets torch.set_num_threads(N) + OMP/OpenBLAS N; fastlr gets `threads: N`,
// except that the all-cores count runs as `threads: auto`, what a user gets by default (every core, each kernel call
// site measured and kept on one thread where splitting does not pay: the row's note lists those sites).
// --explicit-threads: fastlr gets `threads: N` for every count (every large-enough kernel split, no measuring).
// --quick: one round, one timed run, shorter runs (about two minutes in all).
//
// (cpu is opt-in: with fastlr's kernels the cpu backend is ~2-3x slower than wasm; without them, ~20-40x.)
//
// fastlr side: for each model (configs/mnist-mlp.yaml, configs/mnist-cnn.yaml as shipped: MNIST digits, batch 64,
// fastai Adam) and backend, a fresh child process opens a session with the library (openSession) and runs real
// range-test iterations with rangeTest() — batch slicing, forward, loss, gradients, fastlr's optimizer, the loss read
// back every step. steps/s = iterations / the engine loop's own time (best of --repeats runs of a quiet LR range,
// after one warm-up run). Then the configured `find:` (1e-7..10, 100 iterations, stop_div), timed in-process around
// the rangeTest() call: its first run in the process and the best warm one.
// PyTorch side: bench/torch_bench.py (same models, batch 64, Adam, loss.item() every step) with
// OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1; it is only run, never installed. Its range test runs in a process that
// has already trained (warm), timed from model creation.
// The machine may be shared: --rounds (default 2) alternate the fastlr and PyTorch runs, and every figure is the
// best over rounds and --repeats (default 3) timed runs inside each.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmt, table } from './format.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const MODELS = [
  { id: 'mlp', label: 'MLP 784-256-10', config: 'configs/mnist-mlp.yaml', steps: 400 },
  { id: 'cnn', label: 'CNN conv16-pool-conv32-pool-dense10', config: 'configs/mnist-cnn.yaml', steps: 120 },
];

function parseArgs(argv) {
  const a = { json: false, backends: ['wasm'], python: null, repeats: 3, rounds: 2, torch: true, worker: null, threads: null, quick: false, rows: null, cli: true, explicit: false };
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
    else if (k === '--rounds') a.rounds = Math.max(1, Number(next()) | 0);
    else if (k === '--no-torch') a.torch = false;
    else if (k === '--quick') a.quick = true;
    else if (k === '--rows') a.rows = next().split(',').filter(Boolean);
    else if (k === '--no-rows') a.rows = [];
    else if (k === '--no-cli') a.cli = false;
    else if (k === '--threads') a.threads = next();
    else if (k === '--explicit-threads') a.explicit = true;
    else if (k === '--worker') a.worker = { backend: next(), model: next(), threads: Number(next()), quick: false };
    else if (k === '--help' || k === '-h') {
      console.log('usage: node bench/bench.js [--json] [--quick] [--threads 1,all] [--backends wasm[,cpu]] [--python PATH] [--rounds N] [--repeats N] [--no-torch] [--no-cli] [--rows ID,...|--no-rows] [--explicit-threads]');
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (a.worker) {
    a.worker.quick = a.quick;
    a.worker.explicit = a.explicit;
  }
  if (a.quick) {
    a.rounds = 1;
    a.repeats = 1;
  }
  const all = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  a.threadList = [...new Set((a.threads ?? '1,all').split(',').filter(Boolean).map((t) => (t === 'all' ? all : Math.max(1, Number(t) | 0))))];
  return a;
}

// ---------------------------------------------------------------------------------------------------- worker
/** One backend × one model, in its own process; prints one JSON line. */
async function worker({ backend, model, threads, quick, explicit }, repeats) {
  const spec = MODELS.find((m) => m.id === model);
  if (!spec) throw new Error(`unknown model ${model}`);
  const { loadPlan, openSession, rangeTest } = await import('../dist/index.js');
  const { adaptiveChoices, adaptiveSteps } = await import('../dist/kernels/simd/adaptive.js');
  // every core: the default a user gets (threads: auto); fewer: that count, as --threads N gives it
  const all = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  const setting = !explicit && threads > 1 && threads === all ? 'auto' : threads;
  const { plan } = await loadPlan(path.join(root, spec.config), { env: {}, overrides: { backend, threads: setting } });
  const session = await openSession(plan);
  const learner = session.learner;
  // steps cpu: the cpu backend is far slower, a shorter run says as much
  const steps = Math.ceil((backend === 'cpu' ? spec.steps / 8 : spec.steps) / (quick ? 3 : 1));
  // first: the configured find, cold (first range test in this process)
  const t0 = performance.now();
  const cold = await rangeTest(learner, plan.find);
  const coldSeconds = (performance.now() - t0) / 1000;
  // steady state: a quiet LR range (nothing diverges) for `steps` iterations
  const quiet = { start_lr: 1e-7, end_lr: 1e-5, num_it: steps, stop_div: true, suggest: 'valley' };
  await rangeTest(learner, { ...quiet, num_it: Math.min(steps, 30) });
  let best = 0;
  let bestCpu = 0;
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const res = await rangeTest(learner, quiet);
    const c = process.cpuUsage(c0);
    best = Math.max(best, res.lrs.length / res.seconds);
    // the whole rangeTest call (with its snapshot and restore): slightly pessimistic
    bestCpu = Math.max(bestCpu, res.lrs.length / ((c.user + c.system) / 1e6));
  }
  let warm = Infinity;
  let warmRes = cold;
  // one warm find on cpu: a CNN range test takes about a minute there
  for (let r = 0; r < (backend === 'cpu' || quick ? 1 : repeats); r++) {
    const t = performance.now();
    const res = await rangeTest(learner, plan.find);
    const s = (performance.now() - t) / 1000;
    if (s < warm) {
      warm = s;
      warmRes = res;
    }
  }
  const sites = adaptiveChoices();
  const out = {
    model,
    backend: session.backend.name,
    threads: session.backend.threads,
    // fastlr's SIMD programs on fused multiply-adds (FASTLR_FMA=0: off)
    fma: session.backend.fma,
    setting,
    // threads: auto — the kernel call sites that can split, and those it measured faster on one thread
    ...(setting === 'auto' ? { auto_sites: { split: sites.filter((x) => x.threads === 'split').map((x) => x.key), one: sites.filter((x) => x.threads === 'one').map((x) => x.key) } } : {}),
    // threads: auto — whole steps: the sites' choices against one thread everywhere (fastest recent step, ms)
    ...(setting === 'auto' ? { auto_steps: adaptiveSteps() } : {}),
    steps_per_s: best,
    cpu_steps_per_s: bestCpu,
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
function runWorker(backend, model, repeats, threads, quick) {
  const argv = [fileURLToPath(import.meta.url), '--worker', backend, model, String(threads), '--repeats', String(repeats), ...(quick ? ['--quick'] : []), ...(explicitThreads ? ['--explicit-threads'] : [])];
  const r = spawnSync(process.execPath, argv, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, FASTLR_BACKEND: '' },
    maxBuffer: 16 << 20,
  });
  const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) {
    const why = (r.stderr || '').trim().split('\n').slice(-3).join(' | ') || `exit ${r.status}`;
    return { model, backend, threads, error: why };
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
  'note: this PyTorch uses the unoptimised reference BLAS (libblas3): its dense layers run several times slower ' +
  'than with OpenBLAS (the MLP ~6-10x), so the MLP ratio flatters fastlr. For the usual baseline install OpenBLAS ' +
  '(`apt-get install libopenblas0-pthread`) or point LD_LIBRARY_PATH at its openblas-pthread directory.';

const threadEnv = (n) => ({ OMP_NUM_THREADS: String(n), OPENBLAS_NUM_THREADS: String(n), MKL_NUM_THREADS: String(n) });

/** Debian's python3-torch with OpenBLAS: prefer the pthread build of OpenBLAS when it is installed. */
function blasEnv() {
  const dir = '/usr/lib/x86_64-linux-gnu/openblas-pthread';
  if (!existsSync(dir)) return {};
  return { LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}

async function runTorch(python, repeats, threads, quick) {
  const { loadMnist, writeMnistBin } = await import('./mnist-data.js');
  const data = loadMnist();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastlr-bench-'));
  const file = path.join(dir, 'mnist.bin');
  try {
    writeMnistBin(file, data);
    const steps = quick ? ['--steps-mlp', '100', '--steps-cnn', '40'] : [];
    const r = spawnSync(python, [path.join(here, 'torch_bench.py'), file, String(data.n), '--repeats', String(repeats), '--threads', String(threads), ...steps], {
      encoding: 'utf8',
      env: { ...process.env, ...blasEnv(), ...threadEnv(threads) },
      maxBuffer: 16 << 20,
    });
    const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (r.status !== 0 || !line) return { error: (r.stderr || '').trim().split('\n').slice(-2).join(' | ') || `exit ${r.status}` };
    return JSON.parse(line);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Best of every round: highest steps/s, lowest seconds (each fastlr round is a fresh process: "first" stays cold). */
function mergeFastlr(rounds) {
  return rounds[0].map((first, i) => {
    const all = rounds.map((r) => r[i]).filter((r) => !r.error);
    if (all.length === 0) return first;
    const best = (f, pick) => all.reduce((a, r) => pick(a, f(r)), f(all[0]));
    return {
      ...all[0],
      rounds: all.length,
      steps_per_s: best((r) => r.steps_per_s, Math.max),
      cpu_steps_per_s: best((r) => r.cpu_steps_per_s, Math.max),
      find: {
        ...all[0].find,
        first_seconds: best((r) => r.find.first_seconds, Math.min),
        warm_seconds: best((r) => r.find.warm_seconds, Math.min),
      },
    };
  });
}

function mergeTorch(a, b) {
  if (a === null) return b;
  const faster = (x, y) => (y.seconds < x.seconds ? y : x);
  return {
    ...b,
    mlp: { wall: Math.max(a.mlp.wall, b.mlp.wall), cpu: Math.max(a.mlp.cpu, b.mlp.cpu) },
    cnn: { wall: Math.max(a.cnn.wall, b.cnn.wall), cpu: Math.max(a.cnn.cpu, b.cnn.cpu) },
    mlp_find: faster(a.mlp_find, b.mlp_find),
    cnn_find: faster(a.cnn_find, b.cnn_find),
  };
}


/** `fastlr find CONFIG --threads N --json` as a user runs it: the process's wall time and the document's own timing. */
function runCliFind(model, backend, threads) {
  const spec = MODELS.find((m) => m.id === model);
  const out = mkdtempSync(path.join(os.tmpdir(), 'fastlr-bench-cli-'));
  try {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [path.join(root, 'bin/fastlr.js'), 'find', spec.config, '--out', out, '--backend', backend, '--threads', String(threads), '--json', '--quiet'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, FASTLR_BACKEND: '', FASTLR_THREADS: '' },
      maxBuffer: 64 << 20,
    });
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0) return { model, backend, threads, error: (r.stderr || '').trim().split('\n').slice(-2).join(' | ') || `exit ${r.status}` };
    const doc = JSON.parse(r.stdout);
    return { model, backend: doc.backend, threads: doc.threads, iterations: doc.lrs.length, seconds: doc.seconds, process_seconds: wall };
  } catch (e) {
    return { model, backend, threads, error: e instanceof Error ? e.message : String(e) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** fastai's own lr_find on the same models (bench/fastai_find.py), when `python` imports fastai; else a reason. */
async function runFastai(python, threads) {
  const { loadMnist, writeMnistBin } = await import('./mnist-data.js');
  const probe = spawnSync(python, ['-c', 'import fastai; print(fastai.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return { note: `fastai is not importable in ${python} (${(probe.stderr || '').trim().split('\n').pop()}): its lr_find was not timed.` };
  const data = loadMnist();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastlr-bench-fastai-'));
  const file = path.join(dir, 'mnist.bin');
  let r;
  try {
    writeMnistBin(file, data);
    r = spawnSync(python, [path.join(here, 'fastai_find.py'), file, String(data.n), '--threads', String(threads)], {
      encoding: 'utf8',
      env: { ...process.env, ...blasEnv(), ...threadEnv(threads) },
      maxBuffer: 16 << 20,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) return { note: `fastai lr_find failed: ${(r.stderr || '').trim().split('\n').slice(-2).join(' | ')}` };
  return { version: probe.stdout.trim(), ...JSON.parse(line) };
}

/** Row modules in bench/rows/ (see bench/rows/README.md), in file-name order; `only`: ids to keep (null: all). */
async function discoverRows(only) {
  const dir = path.join(here, 'rows');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.js')).sort() : [];
  const rows = [];
  for (const f of files) {
    const m = await import(pathToFileURL(path.join(dir, f)).href);
    if (typeof m.run !== 'function') continue;
    const id = m.id ?? f.replace(/\.js$/, '');
    if (only === null || only.includes(id)) rows.push({ id, run: m.run });
  }
  return rows;
}

/** --explicit-threads: every fastlr worker gets its count as `threads: N` (no `auto` for the all-cores count) */
let explicitThreads = false;

async function main() {
  const args = parseArgs(process.argv.slice(2));
  explicitThreads = args.explicit;
  if (args.worker) return worker(args.worker, args.repeats);

  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    available_parallelism: os.availableParallelism ? os.availableParallelism() : cpus.length,
    loadavg_before: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
  };
  const threadList = args.threadList;
  if (!args.json) {
    console.log(
      `fastlr bench: MNIST digits, batch 64, Adam, at ${threadList.join(' and ')} thread(s) per side; best of ${args.rounds} round(s) × ${args.repeats} run(s)${args.quick ? ' (--quick)' : ''}`,
    );
    console.log(`machine: ${machine.cores} × ${machine.cpu}, node ${machine.node}, load average ${machine.loadavg_before.join(' ')} before the run`);
  }
  // Rounds alternate fastlr and PyTorch so both sides see the same machine load; each number is the best of all.
  const rounds = [];
  const torchBy = new Map();
  let torchNote = null;
  const found = args.torch ? findTorchPython(args.python) : null;
  if (!args.torch) torchNote = 'PyTorch skipped (--no-torch).';
  else if (!found.python) {
    torchNote =
      `PyTorch not found (tried ${found.tried.join(', ')}): install it with \`apt-get install python3-torch libopenblas0-pthread\` ` +
      `(Debian/Ubuntu) or point --python / FASTLR_PYTHON at an interpreter that has torch and numpy. fastlr's numbers alone:`;
  }
  for (let round = 1; round <= args.rounds; round++) {
    const fastlr = [];
    for (const threads of threadList) {
      for (const m of MODELS) {
        for (const b of args.backends) {
          if (!args.json) process.stderr.write(`  round ${round}/${args.rounds}: fastlr ${m.id} on ${b}, ${threads} thread(s) ...\n`);
          fastlr.push(runWorker(b, m.id, args.repeats, threads, args.quick));
        }
      }
      if (found?.python && torchNote === null) {
        if (!args.json) process.stderr.write(`  round ${round}/${args.rounds}: PyTorch ${found.version} (${found.python}), ${threads} thread(s) ...\n`);
        const res = await runTorch(found.python, args.repeats, threads, args.quick);
        if (res.error) torchNote = `PyTorch run failed: ${res.error}`;
        else torchBy.set(threads, mergeTorch(torchBy.get(threads) ?? null, { ...res, python: found.python }));
      }
    }
    rounds.push(fastlr);
  }
  // find through the CLI, as a user runs it (one run each: a fresh process, cold by nature)
  const cli = [];
  if (args.cli) {
    for (const threads of threadList) {
      for (const m of MODELS) {
        for (const b of args.backends) {
          if (!args.json) process.stderr.write(`  fastlr find ${m.config} --threads ${threads} (CLI, ${b}) ...\n`);
          cli.push(runCliFind(m.id, b, threads));
        }
      }
    }
  }
  // fastai's lr_find, when the PyTorch interpreter has fastai
  const fastaiBy = new Map();
  if (found?.python) {
    for (const threads of threadList) {
      if (!args.json) process.stderr.write(`  fastai lr_find, ${threads} thread(s) ...\n`);
      const res = await runFastai(found.python, threads);
      fastaiBy.set(threads, res);
      if (res.note) break;
    }
  }
  const fastaiNote = [...fastaiBy.values()].find((r) => r.note)?.note ?? (found?.python ? null : 'fastai not timed: no PyTorch interpreter.');
  // rows from bench/rows/ (MobileNetV2, ...)
  const extra = [];
  for (const row of await discoverRows(args.rows)) {
    if (!args.json) process.stderr.write(`  row ${row.id} ...\n`);
    try {
      extra.push({ id: row.id, ...(await row.run({ threadList, backends: args.backends, python: found?.python ?? null, quick: args.quick, rounds: args.rounds, log: (l) => args.json || process.stderr.write(`${l}\n`) })) });
    } catch (e) {
      extra.push({ id: row.id, title: row.id, note: `failed: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  if (torchNote !== null && torchNote.startsWith('PyTorch run failed')) torchBy.clear();
  const fastlr = mergeFastlr(rounds);
  const anyTorch = torchBy.values().next().value ?? null;
  const blasNote = anyTorch && isReferenceBlas(anyTorch.blas) ? REFERENCE_BLAS_NOTE : null;
  const machineAfter = os.loadavg().map((x) => Number(x.toFixed(2)));

  const torchAt = (threads) => torchBy.get(threads);
  const results = fastlr.map((r) => {
    const ts = torchAt(r.threads)?.[r.model];
    const one = fastlr.find((x) => x.model === r.model && x.backend === r.backend && x.threads === 1 && !x.error);
    const torchOne = torchAt(1)?.[r.model];
    return {
      ...r,
      torch_steps_per_s: ts?.wall ?? null,
      torch_cpu_steps_per_s: ts?.cpu ?? null,
      ratio: ts && r.steps_per_s ? r.steps_per_s / ts.wall : null,
      ratio_cpu: ts && r.cpu_steps_per_s ? r.cpu_steps_per_s / ts.cpu : null,
      scaling: one && r.steps_per_s ? r.steps_per_s / one.steps_per_s : null,
      torch_scaling: ts && torchOne ? ts.wall / torchOne.wall : null,
    };
  });

  if (args.json) {
    const doc = {
      command: 'bench',
      quick: args.quick,
      threads: threadList,
      machine: { ...machine, loadavg_after: machineAfter },
      torch: [...torchBy].map(([threads, t]) => ({ threads, version: t.torch, torch_threads: t.threads, blas: t.blas, python: t.python, env: threadEnv(threads) })),
      torch_note: torchNote,
      blas_note: blasNote,
      results,
      cli_find: cli,
      fastai: { note: fastaiNote, runs: [...fastaiBy].filter(([, r]) => !r.note).map(([threads, r]) => ({ threads, ...r })) },
      rows: extra,
      find: threadList.flatMap((threads) =>
        MODELS.map((m) => ({
          model: m.id,
          threads,
          fastlr: results.filter((r) => r.model === m.id && r.threads === threads && r.find).map((r) => ({ backend: r.backend, ...r.find })),
          torch: torchAt(threads)?.[`${m.id}_find`] ?? null,
        })),
      ),
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }

  if (anyTorch) {
    console.log(`PyTorch ${anyTorch.torch} (${anyTorch.python}), torch.set_num_threads(N) with OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=N`);
    console.log(`PyTorch BLAS: ${anyTorch.blas}`);
    if (blasNote) console.log(blasNote);
  } else console.log(torchNote);
  console.log('');
  console.log('Training steps per second (batch, forward, loss, gradients, Adam, loss read back), by wall-clock time;');
  console.log('CPU = steps per CPU-second of the whole process (all its threads): what a shared machine cannot take away.');
  console.log('scaling = steps/s at N threads over steps/s at 1 thread, same side.');
  const rows = [['model', 'backend', 'threads', 'fastlr', 'PyTorch', 'ratio', 'fastlr scaling', 'PyTorch scaling', 'fastlr CPU', 'PyTorch CPU', 'ratio (CPU)']];
  const ratio = (x) => (x === null ? '—' : `${x.toFixed(2)}×`);
  for (const r of results) {
    const label = MODELS.find((m) => m.id === r.model).label;
    if (r.error) rows.push([label, r.backend, String(r.threads), `failed: ${r.error.slice(0, 60)}`, '', '', '', '', '', '', '']);
    else
      rows.push([
        label,
        r.backend,
        r.setting === 'auto' ? `${r.threads} (auto)` : String(r.threads),
        fmt(r.steps_per_s),
        fmt(r.torch_steps_per_s ?? NaN),
        ratio(r.ratio),
        r.threads === 1 ? '' : ratio(r.scaling),
        r.threads === 1 ? '' : ratio(r.torch_scaling),
        fmt(r.cpu_steps_per_s),
        fmt(r.torch_cpu_steps_per_s ?? NaN),
        ratio(r.ratio_cpu),
      ]);
  }
  console.log(table(rows));
  for (const r of results.filter((x) => !x.error && x.auto_sites)) {
    const { split, one } = r.auto_sites;
    const label = MODELS.find((m) => m.id === r.model).label;
    console.log(
      `note: ${label}, ${r.backend}, ${r.threads} (auto): ${split.length} of ${split.length + one.length} splittable kernel call sites measured faster split` +
        (one.length ? `; kept on one thread: ${one.map((k) => k.replace(/\|\d+$/, '')).join(', ')}` : '') +
        (r.auto_steps ? `; whole steps: one thread ${r.auto_steps.oneMs.toFixed(2)} ms, the sites' choices ${r.auto_steps.splitMs.toFixed(2)} ms → ${r.auto_steps.split ? "the sites' choices" : 'one thread everywhere'}` : '') +
        ' (--explicit-threads splits them all)',
    );
  }
  console.log('');
  console.log('LR range test, in-process seconds (find: 1e-7..10, 100 iterations, stop_div). fastlr: the rangeTest() call,');
  console.log("first = the process's first range test (cold), warm = a later one; PyTorch: warm, from model creation.");
  const frows = [['model', 'backend', 'threads', 'iterations', 'fastlr first', 'fastlr warm', 'PyTorch', 'stop']];
  for (const threads of threadList) {
    for (const m of MODELS) {
      for (const r of results.filter((x) => x.model === m.id && x.threads === threads && x.find)) {
        const tf = torchAt(threads)?.[`${m.id}_find`];
        frows.push([
          m.label,
          r.backend,
          String(threads),
          String(r.find.iterations),
          `${fmt(r.find.first_seconds, 3)} s`,
          `${fmt(r.find.warm_seconds, 3)} s`,
          tf ? `${fmt(tf.seconds, 3)} s (${tf.iters} it)` : '—',
          r.find.stop,
        ]);
      }
    }
  }
  console.log(table(frows));
  console.log('');
  if (cli.length > 0) {
    console.log('find through the CLI (`fastlr find CONFIG --threads N --json`, one fresh process each): it/s = iterations over');
    console.log("the document's seconds (the range test, first iterations cold); process = the whole command, start to exit.");
    const crows = [['model', 'backend', 'threads', 'iterations', 'seconds', 'it/s', 'process']];
    for (const c of cli) {
      const label = MODELS.find((m) => m.id === c.model).label;
      if (c.error) crows.push([label, c.backend, String(c.threads), `failed: ${c.error.slice(0, 60)}`, '', '', '']);
      else crows.push([label, c.backend, String(c.threads), String(c.iterations), `${fmt(c.seconds, 3)} s`, fmt(c.iterations / c.seconds), `${fmt(c.process_seconds, 2)} s`]);
    }
    console.log(table(crows));
    console.log('');
  }
  const fastaiRuns = [...fastaiBy].filter(([, r]) => !r.note);
  if (fastaiRuns.length > 0) {
    console.log(`fastai ${fastaiRuns[0][1].version} lr_find (in process, warm; same models, data, batch 64, Adam):`);
    const arows = [['model', 'threads', 'fastai lr_find', 'fastlr warm', 'ratio']];
    for (const [threads, r] of fastaiRuns) {
      for (const m of MODELS) {
        const ours = results.find((x) => x.model === m.id && x.threads === threads && x.find);
        const theirs = r[m.id];
        arows.push([m.label, String(threads), theirs ? `${fmt(theirs.seconds, 3)} s (${theirs.iters} it)` : '—', ours ? `${fmt(ours.find.warm_seconds, 3)} s` : '—', theirs && ours ? `${(theirs.seconds / ours.find.warm_seconds).toFixed(2)}×` : '—']);
      }
    }
    console.log(table(arows));
  } else console.log(fastaiNote);
  console.log('');
  for (const e of extra) {
    console.log(e.title);
    console.log(e.text ?? e.note);
    console.log('');
  }
  console.log(`load average ${machineAfter.join(' ')} after the run (${machine.cores} cores; above ~1 the timings are shared with other work)`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

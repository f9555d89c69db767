#!/usr/bin/env node
// Why do (or don't) 2 threads pay off? A training step at several thread settings, in alternating child processes.
//   node bench/tools/step-threads.mjs [cnn|mlp|mobilenet] [settings=1,2,auto] [rounds=3] [steps=60]
// (mobilenet: MobileNetV2 224x224 whole net, batch 8, bench/mobilenet.js; use a few steps, e.g. 3)
// Per run: steps/s by wall clock; CPU ms per step of the whole process (all threads) and of the main thread alone
// (/proc/self/task/<pid>/schedstat: its run time, and the time it waited for a core), the pool's split runs per
// step and their wall time, and with `auto`, what each call site chose (simd/adaptive.ts). The load average is
// printed with every run: on a shared machine a 2-thread speedup can only show when a core is free.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '../..');
const args = process.argv.slice(2);

function mainThread() {
  const [run, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { run: run / 1e6, wait: wait / 1e6 };
}

if (args[0] === '--child') {
  const [, model, setting, stepsArg] = args;
  const steps = Number(stepsArg);
  const { poolStats } = await import('../../dist/kernels/simd/pool.js');
  const { adaptiveChoices, adaptiveSteps } = await import('../../dist/kernels/simd/adaptive.js');
  const threads = setting === 'auto' ? 'auto' : Number(setting);
  let measure;
  let dispose;
  let threadsUsed;
  if (model === 'mobilenet') {
    // MobileNetV2 224x224, whole net (BatchNorm training), batch 8: the bench's row (bench/mobilenet.js)
    const { setup } = await import('../mobilenet.js');
    const s = await setup('wasm', 'whole', 8, threads);
    await s.step();
    await s.step();
    threadsUsed = (await import('../../dist/kernels/simd/pool.js')).threadCount();
    measure = async () => {
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) await s.step();
      return { n: steps, seconds: (performance.now() - t0) / 1000 };
    };
    dispose = () => s.dispose();
  } else {
    const { loadPlan, openSession, rangeTest } = await import('../../dist/index.js');
    const { plan } = await loadPlan(path.join(root, `configs/mnist-${model}.yaml`), { env: {}, overrides: { backend: 'wasm', threads } });
    const session = await openSession(plan);
    const quiet = { start_lr: 1e-7, end_lr: 1e-5, num_it: steps, stop_div: true, suggest: 'valley' };
    await rangeTest(session.learner, { ...quiet, num_it: 20 });
    threadsUsed = session.backend.threads;
    measure = async () => {
      const res = await rangeTest(session.learner, quiet);
      return { n: res.lrs.length, seconds: res.seconds };
    };
    dispose = () => session.dispose();
  }
  poolStats(true);
  const m0 = mainThread();
  const c0 = process.cpuUsage();
  const res = await measure();
  const c = process.cpuUsage(c0);
  const m1 = mainThread();
  const p = poolStats(true);
  const n = res.n;
  const out = {
    setting, threads: threadsUsed, load: os.loadavg()[0],
    split_longest_cpu_ms: p.splitLongestCpuMs / n, split_work_cpu_ms: p.splitWorkCpuMs / n, split_balanced_cpu_ms: p.splitBalancedCpuMs / n,
    steps_per_s: n / res.seconds, cpu_ms: (c.user + c.system) / 1000 / n,
    main_ms: (m1.run - m0.run) / n, main_wait_ms: (m1.wait - m0.wait) / n,
    split_runs: p.splitRuns / n, split_ms: p.splitMs / n, runs: p.runs / n, split_longest_ms: p.splitLongestMs / n, split_work_ms: p.splitWorkMs / n,
    sites: setting === 'auto' ? [(({ steps, oneMs, splitMs, split }) => `whole steps (${steps}): one thread ${oneMs.toFixed(2)} / sites' choices ${splitMs.toFixed(2)} ms → ${split ? "sites' choices" : 'one thread'}`)(adaptiveSteps()), ...adaptiveChoices().map((s) => `${s.key} → ${s.threads} (one ${s.oneMs.toFixed(2)} / split ${s.splitMs.toFixed(2)} ms)`)] : [],
  };
  dispose();
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

const [model = 'cnn', settings = '1,2,auto', rounds = '3', steps = '60'] = args;
const list = settings.split(',');
const all = new Map(list.map((s) => [s, []]));
for (let r = 0; r < Number(rounds); r++) {
  for (const s of r % 2 === 0 ? list : [...list].reverse()) {
    const p = spawnSync(process.execPath, [here, '--child', model, s, steps], { cwd: root, encoding: 'utf8', env: { ...process.env, FASTLR_BACKEND: '', FASTLR_POOL_CPU: '1' } });
    if (p.status !== 0) throw new Error(p.stderr);
    const o = JSON.parse(p.stdout.trim().split('\n').pop());
    all.get(s).push(o);
    console.log(`${model} threads ${s.padEnd(4)} load ${o.load.toFixed(2)}: ${o.steps_per_s.toFixed(1).padStart(6)} steps/s, CPU ${o.cpu_ms.toFixed(2)} ms/step (main thread ${o.main_ms.toFixed(2)}, waited for a core ${o.main_wait_ms.toFixed(2)}), pool: ${o.split_runs.toFixed(1)} split runs/step taking ${o.split_ms.toFixed(2)} ms (their work ${o.split_work_ms.toFixed(2)} ms, longest call each ${o.split_longest_ms.toFixed(2)} ms; by thread CPU time: work ${o.split_work_cpu_ms.toFixed(2)}, busiest thread ${o.split_longest_cpu_ms.toFixed(2)}, balanced ${o.split_balanced_cpu_ms.toFixed(2)})`);
    if (r === Number(rounds) - 1) for (const line of o.sites) console.log(`    ${line}`);
  }
}
console.log('best of rounds:');
const one = all.has('1') ? Math.min(...all.get('1').map((o) => o.main_ms)) : null;
for (const [s, os_] of all) {
  const b = os_.reduce((a, o) => (o.steps_per_s > a.steps_per_s ? o : a));
  const cpu = Math.min(...os_.map((o) => o.main_ms));
  // with a free core per thread: the one-thread step, less the split calls' work, plus their critical path
  // by each thread's CPU time (a call's time waiting for a core not counted): the run with the least split work
  const o = os_.reduce((a, x) => (x.split_work_cpu_ms < a.split_work_cpu_ms ? x : a));
  const w = o.split_work_cpu_ms;
  const l = o.split_longest_cpu_ms;
  const bal = o.split_balanced_cpu_ms;
  // the split runs as they ran here (the busiest thread), and as the threads would share them with a free core each
  const est = one !== null && w > 0 ? ` ; idle-machine estimate (thread CPU) ${one.toFixed(2)} - ${w.toFixed(2)} + busiest ${l.toFixed(2)} = ${(one - w + l).toFixed(2)} ms/step (${(one / (one - w + l)).toFixed(2)}x), + balanced ${bal.toFixed(2)} = ${(one - w + bal).toFixed(2)} ms/step (${(one / (one - w + bal)).toFixed(2)}x)` : '';
  console.log(`  threads ${s.padEnd(4)} ${b.steps_per_s.toFixed(1)} steps/s (load ${b.load.toFixed(2)}), min main-thread CPU ${cpu.toFixed(2)} ms/step${est}`);
}

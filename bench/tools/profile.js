#!/usr/bin/env node
// Per-kernel profile of fastlr's training step (tf.profile): node bench/tools/profile.js [mlp|cnn] [backend] [threads] [steps]
// Prints, per kernel name, calls per step and ms per step (kernel wall time as tfjs measures it), and the
// process CPU time per step. A development tool, not part of the bench table.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [model = 'cnn', backend = 'wasm', threads = '1', stepsArg = '30'] = process.argv.slice(2);
const steps = Number(stepsArg);
const { loadPlan, openSession, rangeTest } = await import('../../dist/index.js');
const tf = await import('@tensorflow/tfjs');
const { plan } = await loadPlan(path.join(root, `configs/mnist-${model}.yaml`), { env: {}, overrides: { backend, threads: Number(threads) } });
const session = await openSession(plan);
const quiet = { start_lr: 1e-7, end_lr: 1e-5, num_it: steps, stop_div: true, suggest: 'valley' };
await rangeTest(session.learner, { ...quiet, num_it: 10 });
const c0 = process.cpuUsage();
const t0 = performance.now();
const res = await rangeTest(session.learner, quiet);
const wall = performance.now() - t0;
const c = process.cpuUsage(c0);
const info = await tf.profile(async () => {
  await rangeTest(session.learner, quiet);
});
// the main thread's time in each kernel less its waits for a core (Linux schedstat run_delay): the critical path
// on a machine with a free core per thread, whatever the load now
const waited = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
const crit = new Map();
// "outside kernels" is the sum of the gaps between one (outermost) kernel call's wrapper and the next, less the waits
// for a core in them: the wrapper's own schedstat reads (two a call, ~15 us each) are neither kernel nor the step's JS.
// A kernel run from inside another (through the registry) counts once.
let outerMs = 0;
let depth = 0;
let gapMs = 0;
let lastEnd = null;
let lastWait = 0;
const beName = tf.getBackend();
for (const config of tf.getKernelsForBackend(beName)) {
  const f = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, beName);
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      const e0 = performance.now();
      const w0 = waited();
      if (depth === 0 && lastEnd !== null) gapMs += e0 - lastEnd - (w0 - lastWait);
      const t0 = performance.now();
      depth++;
      try {
        return f(args);
      } finally {
        depth--;
        const t1 = performance.now();
        const w1 = waited();
        const ms = t1 - t0 - (w1 - w0);
        crit.set(config.kernelName, (crit.get(config.kernelName) ?? 0) + ms);
        if (depth === 0) {
          outerMs += ms;
          lastEnd = performance.now();
          lastWait = w1;
        }
      }
    },
  });
}
const w0 = waited();
const tc0 = performance.now();
lastEnd = tc0;
lastWait = w0;
await rangeTest(session.learner, quiet);
const tc1 = performance.now();
const w1 = waited();
gapMs += tc1 - lastEnd - (w1 - lastWait);
const own = tc1 - tc0 - (w1 - w0) - outerMs - gapMs;
const by = new Map();
for (const k of info.kernels) {
  const e = by.get(k.name) ?? { calls: 0, ms: 0 };
  e.calls++;
  e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  by.set(k.name, e);
}
const rows = [...by].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((s, [, e]) => s + e.ms, 0);
console.log(`${model} on ${session.backend.name}, ${session.backend.threads} thread(s): ${(res.lrs.length / (wall / 1000)).toFixed(1)} steps/s wall, ${((c.user + c.system) / 1000 / res.lrs.length).toFixed(2)} ms CPU/step, ${(info.kernels.length / steps).toFixed(1)} kernels/step, kernel sum ${(total / steps).toFixed(2)} ms/step`);
console.log(`main thread less its waits for a core: in kernels ${(outerMs / steps).toFixed(2)} ms/step, outside ${(gapMs / steps).toFixed(2)} (between the kernel calls, less waits; this tool's own reads ${(own / steps).toFixed(2)} left out)`);
for (const [name, e] of rows) console.log(`${name.padEnd(36)} ${(e.calls / steps).toFixed(1).padStart(6)} ×  ${(e.ms / steps).toFixed(3).padStart(8)} ms  main ${((crit.get(name) ?? 0) / steps).toFixed(3).padStart(8)} ms`);
session.dispose();

#!/usr/bin/env node
// Per-kernel profile of fastlr's training step (tf.profile): node bench/tools/profile.js [mlp|cnn] [backend] [threads] [steps]
// Prints, per kernel name, calls per step and ms per step (kernel wall time as tfjs measures it), and the
// process CPU time per step. A development tool, not part of the bench table.
import { openSync, readSync } from 'node:fs';
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
// on a machine with a free core per thread, whatever the load now (one open file, re-read: ~5 µs a read)
const statFd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
const statBuf = Buffer.alloc(96);
const waited = () => Number(statBuf.toString('latin1', 0, readSync(statFd, statBuf, 0, statBuf.length, 0)).split(' ')[1]) / 1e6;
const crit = new Map();
// the wrapper's own time (two schedstat reads a call) is neither kernel nor the step's JS: measured, left out of
// "outside"; a kernel run from inside another (through the registry) counts once
let wrapperMs = 0;
let outerMs = 0;
let depth = 0;
const beName = tf.getBackend();
for (const config of tf.getKernelsForBackend(beName)) {
  const f = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, beName);
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      const e0 = performance.now();
      const w0 = waited();
      const t0 = performance.now();
      depth++;
      try {
        return f(args);
      } finally {
        depth--;
        const t1 = performance.now();
        const ms = t1 - t0 - (waited() - w0);
        crit.set(config.kernelName, (crit.get(config.kernelName) ?? 0) + ms);
        if (depth === 0) {
          outerMs += ms;
          wrapperMs += performance.now() - e0 - (t1 - t0);
        }
      }
    },
  });
}
const w0 = waited();
const tc0 = performance.now();
await rangeTest(session.learner, quiet);
const critWall = performance.now() - tc0 - (waited() - w0) - wrapperMs;
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
console.log(`main thread less its waits for a core and this tool's own reads (${(wrapperMs / steps).toFixed(2)} ms/step): ${(critWall / steps).toFixed(2)} ms/step, in kernels ${(outerMs / steps).toFixed(2)}, outside ${((critWall - outerMs) / steps).toFixed(2)}`);
for (const [name, e] of rows) console.log(`${name.padEnd(36)} ${(e.calls / steps).toFixed(1).padStart(6)} ×  ${(e.ms / steps).toFixed(3).padStart(8)} ms  main ${((crit.get(name) ?? 0) / steps).toFixed(3).padStart(8)} ms`);
session.dispose();

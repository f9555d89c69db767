import * as tf from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import path from 'node:path';
const mode = process.argv[2] ?? 'threaded';
class FakeWorker {
  constructor() { this.l = { message: [], error: [] }; }
  on(ev, fn) { (this.l[ev] ??= []).push(fn); return this; }
  postMessage(m) { if (m && m.cmd === 'load') setImmediate(() => this.l.message.forEach((f) => f({ cmd: 'loaded' }))); else if (m && m.cmd) throw new Error('pthread asked: ' + m.cmd); }
  unref() {} ref() {} terminate() { return Promise.resolve(0); }
}
wasm.setWasmPaths(path.resolve('node_modules/@tensorflow/tfjs-backend-wasm/dist') + '/');
if (mode === 'threaded') {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(1);
  Object.defineProperty(globalThis, 'Worker', { get: () => FakeWorker, set: () => {}, configurable: true });
}
await tf.setBackend('wasm');
await tf.ready();
if (mode === 'threaded') delete globalThis.Worker;
const b = tf.backend();
const mem = b.wasm.wasmMemory ?? b.wasm.asm?.memory;
console.log(mode, 'memory', mem?.buffer?.constructor?.name, mem?.buffer?.byteLength, 'threads', b.wasm.tfjs.getThreadsCount());
const x = tf.randomNormal([64, 13, 13, 16], 0, 1, 'float32', 1); const w = tf.randomNormal([3,3,16,32], 0, 1, 'float32', 2);
const y = tf.conv2d(x, w, 1, 'valid'); const d = y.dataSync();
let h = 0; for (let i = 0; i < d.length; i++) h = (h * 31 + (new Uint32Array(d.buffer, i*4, 1)[0])) >>> 0;
console.log('hash', h);
for (let r = 0; r < 3; r++) { const t0 = performance.now(); for (let i = 0; i < 50; i++) tf.conv2d(x, w, 1, 'valid').dispose(); console.log('ms/conv', ((performance.now() - t0) / 50).toFixed(3)); }
console.log('simd', await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
process.exit(0);

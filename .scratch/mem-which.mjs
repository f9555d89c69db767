import * as tf from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import path from 'node:path';
class FakeWorker { constructor() { this.l = { message: [] }; } on(ev, fn) { (this.l[ev] ??= []).push(fn); return this; }
  postMessage(m) { if (m && m.cmd === 'load') setImmediate(() => this.l.message.forEach((f) => f({ cmd: 'loaded' }))); } unref() {} terminate() {} }
wasm.setWasmPaths(path.resolve('node_modules/@tensorflow/tfjs-backend-wasm/dist') + '/');
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true); wasm.setThreadsCount(1);
Object.defineProperty(globalThis, 'Worker', { get: () => FakeWorker, set: () => {}, configurable: true });
await tf.setBackend('wasm'); delete globalThis.Worker;
const b = tf.backend();
console.log('asm.memory', b.wasm.asm?.memory?.buffer?.constructor?.name, 'wasmMemory', b.wasm.wasmMemory?.buffer?.constructor?.name, typeof globalThis.Worker);

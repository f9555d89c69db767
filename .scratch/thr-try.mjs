import * as tf from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import path from 'node:path';
wasm.setWasmPaths(path.resolve('node_modules/@tensorflow/tfjs-backend-wasm/dist') + '/');
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
wasm.setThreadsCount(1);
try {
  await tf.setBackend('wasm');
  await tf.ready();
  const b = tf.backend();
  const mem = b.wasm.asm?.memory ?? b.wasm.wasmMemory;
  console.log('backend', tf.getBackend(), Object.keys(b.wasm).filter(k=>/mem|asm|HEAP/i.test(k)).slice(0,20), mem && mem.buffer.constructor.name, mem && mem.buffer.byteLength);
  const x = tf.randomNormal([64, 13, 13, 16]); const w = tf.randomNormal([3,3,16,32]);
  console.log(tf.conv2d(x, w, 1, 'valid').sum().dataSync());
} catch (e) { console.log('ERR', e); }
process.exit(0);

/**
 * tfjs-backend-wasm's threaded build, loaded in Node for its SHARED heap (not for its threads).
 *
 * tfjs-backend-wasm ships a threaded SIMD build (its heap a shared WebAssembly.Memory) but never selects it in
 * Node (its WASM_HAS_MULTITHREAD_SUPPORT flag is false there). fastlr selects it because worker threads can then run
 * fastlr's SIMD programs on tensor data in place (src/kernels/simd/runtime.ts backendRunner): no copy of inputs and
 * outputs into a private shared memory and back, which ate most of what a second thread gained.
 *
 * XNNPACK's own thread pool stays at ONE thread (setThreadsCount(1)): tfjs's kernels run as in the plain build,
 * the same XNNPACK code, the same bits (test/threads.test.ts, the fidelity tests). Emscripten still preallocates a
 * pool of 8 pthread workers at start-up (each loading the 5 MB module) that one-thread XNNPACK never uses; while
 * the backend initialises, `Worker` resolves to a stand-in that answers their "load" and runs nothing.
 *
 * FASTLR_WASM_SHARED_HEAP=0 loads the plain SIMD build instead (before/after measurements).
 */
import * as tf from '@tensorflow/tfjs';

interface WasmPackage {
  setThreadsCount?(n: number): void;
}

/** A pthread worker that is never used: acknowledges its "load" and refuses to run anything. */
class IdleWorker {
  private readonly listeners = new Map<string, ((data: unknown) => void)[]>();

  on(event: string, fn: (data: unknown) => void): this {
    const l = this.listeners.get(event) ?? [];
    l.push(fn);
    this.listeners.set(event, l);
    return this;
  }

  postMessage(message: { cmd?: string } | null): void {
    const cmd = message?.cmd;
    if (cmd === 'load') {
      setImmediate(() => {
        for (const f of this.listeners.get('message') ?? []) f({ cmd: 'loaded' });
      });
    } else if (cmd !== undefined) {
      throw new Error(`tfjs-backend-wasm asked for a pthread (${cmd}); fastlr runs XNNPACK on one thread`);
    }
  }

  unref(): void {}
  ref(): void {}
  terminate(): Promise<number> {
    return Promise.resolve(0);
  }
}

function threadedBuildUsable(): boolean {
  if (process.env['FASTLR_WASM_SHARED_HEAP'] === '0') return false;
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const WA = (globalThis as unknown as { WebAssembly?: { validate(b: Uint8Array): boolean } }).WebAssembly;
  // a module importing a shared memory and using SIMD (what the threaded build needs)
  const probe = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 2, 11, 1, 3, 101, 110, 118, 1, 109, 2, 3, 1, 1, 3, 2, 1, 0, 10,
    9, 1, 7, 0, 65, 0, 253, 15, 26, 11,
  ]);
  try {
    return WA !== undefined && WA.validate(probe);
  } catch {
    return false;
  }
}

/**
 * Makes the next initialisation of the wasm backend use the threaded build (one XNNPACK thread), when this Node
 * can run it; returns a function to call after the backend has initialised (successfully or not).
 */
export function preferSharedHeap(wasm: WasmPackage): () => void {
  if (!threadedBuildUsable() || typeof wasm.setThreadsCount !== 'function') return () => {};
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(1);
  const g = globalThis as Record<string, unknown>;
  const had = Object.getOwnPropertyDescriptor(g, 'Worker');
  // emscripten assigns `Worker = require('worker_threads').Worker` while it initialises: keep the stand-in
  Object.defineProperty(g, 'Worker', { get: () => IdleWorker, set: () => {}, configurable: true });
  return () => {
    delete g['Worker'];
    if (had) Object.defineProperty(g, 'Worker', had);
  };
}

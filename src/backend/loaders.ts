/**
 * One loader per backend: make it available to OUR tfjs-core instance and select it, or throw with a reason.
 * Native packages are optionalDependencies, loaded by guarded dynamic import.
 */
import * as tf from '@tensorflow/tfjs';
import { withStdoutToStderr } from './quiet.js';
import { wasmBinaryDir } from './wasm-paths.js';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** A load failure with a one-line reason for the user. */
export class BackendUnavailable extends Error {}

/** `import(spec)` of a package that may be absent; missing -> BackendUnavailable('not installed (...)'). */
async function importOptional(spec: string): Promise<unknown> {
  try {
    return await withStdoutToStderr(() => import(spec) as Promise<unknown>);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      if (String((e as Error).message).includes(spec)) throw new BackendUnavailable(`${spec} is not installed`);
    }
    throw new BackendUnavailable(`${spec} failed to load: ${firstLine(e)}`);
  }
}

export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

async function select(name: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new BackendUnavailable(`initialisation failed: ${firstLine(e)}`);
  }
  if (!ok) throw new BackendUnavailable('initialisation failed');
  await tf.ready();
}

/** tfjs-node(-gpu) registers the 'tensorflow' backend; it must land in our tfjs-core instance. */
async function loadNative(spec: string): Promise<void> {
  await importOptional(spec);
  if (tf.findBackendFactory('tensorflow') == null) {
    throw new BackendUnavailable(`${spec} loaded but registered no backend with this copy of @tensorflow/tfjs`);
  }
  await select('tensorflow');
}

let wasmPathsSet = false;

async function loadWasm(): Promise<void> {
  const wasm = (await importOptional('@tensorflow/tfjs-backend-wasm')) as {
    setWasmPaths(prefix: string): void;
  };
  if (!wasmPathsSet) {
    try {
      wasm.setWasmPaths(wasmBinaryDir());
    } catch (e) {
      throw new BackendUnavailable(`cannot locate the .wasm binaries: ${firstLine(e)}`);
    }
    wasmPathsSet = true;
  }
  if (tf.findBackendFactory('wasm') == null) {
    throw new BackendUnavailable('@tensorflow/tfjs-backend-wasm registered no backend with this copy of @tensorflow/tfjs');
  }
  await select('wasm');
}

export const LOADERS: Record<BackendName, () => Promise<void>> = {
  'tensorflow-gpu': () => loadNative('@tensorflow/tfjs-node-gpu'),
  tensorflow: () => loadNative('@tensorflow/tfjs-node'),
  wasm: loadWasm,
  cpu: () => select('cpu'),
};

/** `auto` tries these in order. */
export const AUTO_ORDER: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

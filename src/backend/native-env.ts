/**
 * The process environment a native tfjs package (tfjs-node, tfjs-node-gpu 4.22) needs, set before it loads:
 *  - Node >= 23 removed util.isNullOrUndefined and the other util.is* helpers, which tfjs-node 4.22 calls while
 *    running ops: put the missing ones back (same definitions Node had).
 *  - NVIDIA_TF32_OVERRIDE=0 unless config `precision: tf32`: TensorFlow uses TF32 matmuls/convolutions on Ampere
 *    and newer GPUs by default, which changes results at the 1e-4 level (fastai's fidelity numbers no longer hold).
 */
import util from 'node:util';

const LEGACY_UTIL: Record<string, (v: unknown) => boolean> = {
  isNullOrUndefined: (v) => v === null || v === undefined,
  isNull: (v) => v === null,
  isUndefined: (v) => v === undefined,
  isBoolean: (v) => typeof v === 'boolean',
  isNumber: (v) => typeof v === 'number',
  isString: (v) => typeof v === 'string',
  isSymbol: (v) => typeof v === 'symbol',
  isFunction: (v) => typeof v === 'function',
  isObject: (v) => v !== null && typeof v === 'object',
  isPrimitive: (v) => v === null || (typeof v !== 'object' && typeof v !== 'function'),
  isArray: (v) => Array.isArray(v),
  isBuffer: (v) => Buffer.isBuffer(v),
  isDate: (v) => v instanceof Date,
  isError: (v) => v instanceof Error,
  isRegExp: (v) => v instanceof RegExp,
};

/** Define the util.is* helpers this Node lacks on `target` (node:util by default); returns the names added. */
export function polyfillLegacyUtil(target: Record<string, unknown> = util as unknown as Record<string, unknown>): string[] {
  const added: string[] = [];
  for (const [name, f] of Object.entries(LEGACY_UTIL)) {
    if (typeof target[name] === 'function') continue;
    target[name] = f;
    added.push(name);
  }
  return added;
}

/** Before importing tfjs-node(-gpu): the util polyfill, and TF32 off unless `precision` is tf32. */
export function prepareNativeEnv(precision: 'fp32' | 'tf32', env: NodeJS.ProcessEnv = process.env): void {
  polyfillLegacyUtil();
  if (precision === 'fp32') env.NVIDIA_TF32_OVERRIDE = '0';
}

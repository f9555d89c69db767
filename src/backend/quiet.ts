/**
 * Keeps tfjs chatter off stdout: tfjs-backend-cpu's "Hi, looks like you are running TensorFlow.js in Node.js"
 * banner (console.warn on its first tensor write) and anything a native binding prints while loading.
 */
import * as tf from '@tensorflow/tfjs';

/** Mark the cpu backend as already greeted (its banner fires on the first write of an instance). */
export function silenceCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu && typeof cpu.firstUse === 'boolean') cpu.firstUse = false;
}

/** Run `f` with console.log/info redirected to stderr (library code must never write to stdout). */
export async function withStdoutToStderr<T>(f: () => Promise<T>): Promise<T> {
  const { log, info } = console;
  console.log = (...args: unknown[]) => console.error(...args);
  console.info = (...args: unknown[]) => console.error(...args);
  try {
    return await f();
  } finally {
    console.log = log;
    console.info = info;
  }
}

/**
 * Run `f` (a native package's import) without tfjs's "kernel/backend ... already registered" console warnings: a
 * package loaded after another one failed half-way re-registers what that one left (see forgetNative).
 */
export async function withoutRegistrationWarnings<T>(f: () => Promise<T>): Promise<T> {
  const { warn } = console;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && /already registered/.test(args[0])) return;
    warn(...args);
  };
  try {
    return await f();
  } finally {
    console.warn = warn;
  }
}

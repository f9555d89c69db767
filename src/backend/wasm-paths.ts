/** Where tfjs-backend-wasm's .wasm binaries are on disk (resolved from node_modules: works offline). */
import { createRequire } from 'node:module';
import path from 'node:path';

export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return path.join(path.dirname(pkg), 'dist') + path.sep;
}

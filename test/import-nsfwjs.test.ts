import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadModelDir } from '../src/model/io.js';
import { ROOT } from './helpers/cli.js';

const require = createRequire(import.meta.url);
// by absolute path: the test does not depend on the directory vitest was started from
const SCRIPT = path.join(ROOT, 'scripts', 'import-nsfwjs.mjs');

describe('scripts/import-nsfwjs.mjs', () => {
  it('writes a plain float32 model folder that loads: 2,619,461 params, out_relu [null, 7, 7, 1280], weights = tfjs dequantising the shipped uint8', async () => {
    await tf.setBackend('cpu');
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'fastlr-nsfw-'));
    onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
    const out = path.join(tmp, 'mnv2');
    const stdout = execFileSync(process.execPath, [SCRIPT, out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stdout).toMatch(/2,619,461 params/);
    const json = JSON.parse(readFileSync(path.join(out, 'model.json'), 'utf8'));
    expect(json.weightsManifest[0].weights.every((w: { quantization?: unknown; dtype: string }) => !w.quantization && w.dtype === 'float32')).toBe(true);
    expect(json.userDefinedMetadata.fastlr.preprocessing).toEqual({ scale: [0, 1], normalize: null });
    // a second run refuses to overwrite without --force
    const again = spawnSync(process.execPath, [SCRIPT, out], { encoding: 'utf8' });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/exists; choose another folder or add --force/);

    const model = await loadModelDir(out);
    expect(model.countParams()).toBe(2_619_461);
    expect(model.getLayer('out_relu').outputShape).toEqual([null, 7, 7, 1280]);
    expect(model.inputs[0]!.shape).toEqual([null, 224, 224, 3]);
    expect(model.layers.length).toBe(162);

    // the reference: tfjs's own loader dequantising the shipped uint8 weights
    const dir = path.join(path.dirname(require.resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');
    const shipped = require(path.join(dir, 'model.min.js'));
    const b64: string = require(path.join(dir, 'group1-shard1of1.min.js'));
    const bytes = Buffer.from(b64, 'base64');
    const ref = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: shipped.modelTopology,
        weightSpecs: shipped.weightsManifest[0].weights,
        weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      }),
    );
    // (weights are compared by name: model.weights lists trainable ones first, and the import made every layer trainable)
    const refByName = new Map(ref.weights.map((w) => [w.originalName, w]));
    expect(model.weights.length).toBe(refByName.size);
    let differ = 0;
    for (const w of model.weights) {
      const r = refByName.get(w.originalName);
      expect(r, w.originalName).toBeDefined();
      const x = w.read().dataSync();
      const y = r!.read().dataSync();
      expect(x.length).toBe(y.length);
      for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) differ++;
    }
    expect(differ).toBe(0);
    model.dispose();
    ref.dispose();
  });
});

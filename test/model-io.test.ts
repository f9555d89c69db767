import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { FastlrError } from '../src/errors.js';
import {
  buildModel,
  loadModelDir,
  modelDirHandler,
  saveModelDir,
  type DataShape,
  type ModelPlan,
} from '../src/model/index.js';

const shape: DataShape = { inputShape: [6, 6, 1], task: 'classification', nClasses: 3, targetDim: 1 };
const plan: ModelPlan = {
  seed: 5,
  loss: 'cross_entropy',
  model: {
    layers: [
      { type: 'conv2d', filters: 2, kernel: 3, activation: 'relu' },
      { type: 'batchnorm' },
      { type: 'flatten' },
      { type: 'dropout', rate: 0.1 },
      { type: 'dense', units: 3 },
    ],
  },
};

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'fastlr-model-'));
}

function bytesOf(m: tf.LayersModel): Map<string, Buffer> {
  return new Map(m.weights.map((w) => [w.originalName, Buffer.from((w.read().dataSync() as Float32Array).slice().buffer)]));
}

async function savedModel(): Promise<{ dir: string; model: tf.LayersModel }> {
  const model = buildModel(plan, shape);
  // move the weights away from their initial values, batchnorm statistics included
  tf.tidy(() => {
    for (const w of model.weights) w.write(tf.randomNormal(w.shape as number[], 0, 1, 'float32', 11).add(w.read()));
  });
  const dir = path.join(tmp(), 'model');
  await saveModelDir(model, dir);
  return { dir, model };
}

async function expectFastlrError(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FastlrError);
  expect((err as FastlrError).exitCode).toBe(2);
  for (const part of parts) {
    if (typeof part === 'string') expect((err as Error).message).toContain(part);
    else expect((err as Error).message).toMatch(part);
  }
}

describe('saveModelDir / loadModelDir', () => {
  it('round trip: bit-identical weights, same topology and predictions; tfjs folder format', async () => {
    const { dir, model } = await savedModel();
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.modelTopology.class_name).toBe('Sequential');
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    const names = json.weightsManifest[0].weights.map((w: { name: string }) => w.name);
    expect(names).toContain('l1_batchnorm/moving_mean');
    const total = model.weights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    expect(readFileSync(path.join(dir, 'weights.bin')).byteLength).toBe(total * 4);

    const loaded = await loadModelDir(dir);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    const a = bytesOf(model);
    const b = bytesOf(loaded);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, v] of a) expect(b.get(k)!.equals(v)).toBe(true);
    const x = tf.randomUniform([2, 6, 6, 1], 0, 1, 'float32', 3);
    const [p, q] = [model, loaded].map((m) => m.predict(x) as tf.Tensor);
    expect(Buffer.from((p!.dataSync() as Float32Array).buffer).equals(Buffer.from((q!.dataSync() as Float32Array).buffer))).toBe(true);
    tf.dispose([x, p!, q!]);

    // tfjs' own loader with our IOHandler
    const viaTf = await tf.loadLayersModel(modelDirHandler(dir));
    expect(viaTf).toBeInstanceOf(tf.Sequential);
    const c = bytesOf(viaTf);
    for (const [k, v] of a) expect(c.get(k)!.equals(v)).toBe(true);

    // saving again over the folder replaces both files and leaves no temp files
    await saveModelDir(loaded, dir);
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    for (const m of [model, loaded, viaTf]) m.dispose();
  });

  it('reads a tfjs-node style manifest with ./ paths and sharded weights', async () => {
    const { dir, model } = await savedModel();
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const bin = readFileSync(path.join(dir, 'weights.bin'));
    const half = Math.floor(bin.byteLength / 8) * 4;
    writeFileSync(path.join(dir, 'group1-shard1of2.bin'), bin.subarray(0, half));
    writeFileSync(path.join(dir, 'group1-shard2of2.bin'), bin.subarray(half));
    rmSync(path.join(dir, 'weights.bin'));
    json.weightsManifest[0].paths = ['./group1-shard1of2.bin', 'group1-shard2of2.bin'];
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    const loaded = await loadModelDir(dir);
    const a = bytesOf(model);
    const b = bytesOf(loaded);
    for (const [k, v] of a) expect(b.get(k)!.equals(v)).toBe(true);
    model.dispose();
    loaded.dispose();
  });

  it('bad folders → FastlrError naming the path', async () => {
    const missing = path.join(tmp(), 'nothing-here');
    await expectFastlrError(loadModelDir(missing), missing, /not found/);

    const empty = tmp();
    await expectFastlrError(loadModelDir(empty), path.join(empty, 'model.json'), /not found/);

    const { dir, model } = await savedModel();
    model.dispose();
    const jsonPath = path.join(dir, 'model.json');
    const binPath = path.join(dir, 'weights.bin');
    const goodJson = readFileSync(jsonPath, 'utf8');
    const goodBin = readFileSync(binPath);

    writeFileSync(binPath, goodBin.subarray(0, goodBin.byteLength - 4));
    await expectFastlrError(loadModelDir(dir), binPath, /truncated/);
    writeFileSync(binPath, Buffer.concat([goodBin, Buffer.alloc(8)]));
    await expectFastlrError(loadModelDir(dir), binPath, /describes/);
    rmSync(binPath);
    await expectFastlrError(loadModelDir(dir), binPath, /weights file not found/);
    writeFileSync(binPath, goodBin);

    writeFileSync(jsonPath, goodJson.slice(0, goodJson.length / 2));
    await expectFastlrError(loadModelDir(dir), jsonPath, /malformed JSON/);
    writeFileSync(jsonPath, JSON.stringify({ hello: 1 }));
    await expectFastlrError(loadModelDir(dir), jsonPath, /no modelTopology/);

    const escape = JSON.parse(goodJson);
    escape.weightsManifest[0].paths = ['../weights.bin'];
    writeFileSync(path.join(dir, '..', 'weights.bin'), goodBin);
    writeFileSync(jsonPath, JSON.stringify(escape));
    await expectFastlrError(loadModelDir(dir), jsonPath, /"..\/weights.bin" points outside the model folder/);
    escape.weightsManifest[0].paths = [path.resolve(dir, '..', 'weights.bin')];
    writeFileSync(jsonPath, JSON.stringify(escape));
    await expectFastlrError(loadModelDir(dir), jsonPath, /must be relative/);
    escape.weightsManifest[0].paths = ['sub/../../weights.bin'];
    writeFileSync(jsonPath, JSON.stringify(escape));
    await expectFastlrError(loadModelDir(dir), jsonPath, /outside the model folder/);

    const broken = JSON.parse(goodJson);
    broken.modelTopology.config.layers[0].class_name = 'NoSuchLayer';
    writeFileSync(jsonPath, JSON.stringify(broken));
    await expectFastlrError(loadModelDir(dir), jsonPath, /layer "l0_conv2d" has class NoSuchLayer, which tfjs-layers 4.22.0 cannot build/);

    const renamed = JSON.parse(goodJson);
    renamed.weightsManifest[0].weights[0].name = 'other/kernel';
    writeFileSync(jsonPath, JSON.stringify(renamed));
    await expectFastlrError(loadModelDir(dir), jsonPath);

    writeFileSync(jsonPath, goodJson);
    (await loadModelDir(dir)).dispose();
    expect(existsSync(dir)).toBe(true);
  });
});

#!/usr/bin/env node
// Turn the MobileNetV2 that the npm package nsfwjs 4.4.0 (MIT, Infinite Red) ships into a plain tfjs model folder
// that `model.from` (and tf.loadLayersModel) reads:
//
//   node scripts/import-nsfwjs.mjs <out-dir> [--force]
//
// nsfwjs keeps the model as two UMD modules under dist/models/mobilenet_v2/: model.min.js exports the model.json
// object ({ modelTopology, weightsManifest }; Keras 2.2.4, 162 layers) and group1-shard1of1.min.js exports the weights
// as one base64 string, uint8-quantised (value = min + scale · q per tensor). This script:
// - reads both with require() (nothing is fetched; nsfwjs is a devDependency of fastlr),
// - dequantises every weight to float32 exactly as tfjs's weights loader does (q · scale + min, rounded to float32),
// - sets `trainable: true` on every layer (nsfwjs saved its own training's freeze flags; fastlr decides what trains
//   from model.groups and the finetune stages),
// - writes <out-dir>/model.json + <out-dir>/weights.bin (atomic: a temp folder renamed into place), with
//   userDefinedMetadata.fastlr.preprocessing = the input range nsfwjs feeds it (x / 255, i.e. data.images.scale [0, 1]).
import { createRequire } from 'node:module';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'));

const require = createRequire(import.meta.url);
const NSFWJS_VERSION = '4.4.0';

function fail(message, code = 2) {
  process.stderr.write(`import-nsfwjs: ${message}\n`);
  process.exit(code);
}

/** The nsfwjs model.json object and its weight bytes (base64-decoded), read from the installed package. */
export function readNsfwjs() {
  let dir;
  try {
    dir = path.dirname(require.resolve('nsfwjs'));
  } catch {
    throw new Error('the npm package nsfwjs is not installed (it is a devDependency: run npm install)');
  }
  // the package's "exports" hide package.json: walk up from its entry point
  while (!existsSync(path.join(dir, 'package.json')) || readJson(path.join(dir, 'package.json')).name !== 'nsfwjs') {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the package.json of nsfwjs');
    dir = up;
  }
  const pkg = readJson(path.join(dir, 'package.json'));
  if (pkg.version !== NSFWJS_VERSION) {
    throw new Error(`expected nsfwjs ${NSFWJS_VERSION}, found ${pkg.version}`);
  }
  const base = path.join(dir, 'dist', 'models', 'mobilenet_v2');
  const model = require(path.join(base, 'model.min.js'));
  const manifest = model.weightsManifest;
  if (!model.modelTopology || !Array.isArray(manifest) || manifest.length !== 1) {
    throw new Error(`${base}/model.min.js: not the expected model.json (one weights group)`);
  }
  const chunks = manifest[0].paths.map((p) => {
    const name = p.replace(/-/g, '_');
    const b64 = require(path.join(base, `${p}.min.js`));
    if (typeof b64 !== 'string') throw new Error(`${base}/${p}.min.js does not export a base64 string (${name})`);
    return Buffer.from(b64, 'base64');
  });
  return { version: pkg.version, model, weightData: Buffer.concat(chunks) };
}

const BYTES = { uint8: 1, uint16: 2, float16: 2 };

/** Dequantise one group's weights into float32 specs + one buffer (tfjs io/weights_loader's arithmetic). */
export function dequantise(specs, data) {
  const out = [];
  const parts = [];
  let offset = 0;
  let params = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const q = s.quantization;
    let values;
    if (!q) {
      if (s.dtype !== 'float32') throw new Error(`${s.name}: dtype ${s.dtype} is not supported`);
      values = new Float32Array(data.buffer.slice(data.byteOffset + offset, data.byteOffset + offset + 4 * n));
      offset += 4 * n;
    } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      const width = BYTES[q.dtype];
      const raw = data.subarray(offset, offset + width * n);
      if (raw.byteLength !== width * n) throw new Error(`${s.name}: weight data is truncated`);
      values = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = width === 1 ? raw[i] : raw[2 * i] | (raw[2 * i + 1] << 8);
        values[i] = v * q.scale + q.min;
      }
      offset += width * n;
    } else {
      throw new Error(`${s.name}: quantisation ${q.dtype} is not supported by this script`);
    }
    out.push({ name: s.name, shape: s.shape, dtype: 'float32' });
    parts.push(Buffer.from(values.buffer));
    params += n;
  }
  if (offset !== data.byteLength) throw new Error(`weight data has ${data.byteLength} bytes, the manifest describes ${offset}`);
  return { specs: out, weights: Buffer.concat(parts), params };
}

/** Every layer trainable (recursively through nested models' configs). */
function allTrainable(topology) {
  const visit = (layers) => {
    for (const l of layers ?? []) {
      if (l.config && 'trainable' in l.config) l.config.trainable = true;
      if (l.config && Array.isArray(l.config.layers)) visit(l.config.layers);
    }
  };
  visit(topology.model_config?.config?.layers ?? topology.config?.layers);
  return topology;
}

/** Write the plain model folder; returns { params, layers }. */
export async function importNsfwjs(outDir, { force = false } = {}) {
  const target = path.resolve(outDir);
  const exists = await stat(target).then(() => true, () => false);
  if (exists && !force) throw new Error(`${target} exists; choose another folder or add --force`);
  const { version, model, weightData } = readNsfwjs();
  const { specs, weights, params } = dequantise(model.weightsManifest[0].weights, weightData);
  const modelJSON = {
    format: 'layers-model',
    generatedBy: model.generatedBy ?? 'keras v2.2.4',
    convertedBy: `fastlr scripts/import-nsfwjs.mjs from nsfwjs ${version} (uint8 weights dequantised to float32)`,
    modelTopology: allTrainable(structuredClone(model.modelTopology)),
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
    userDefinedMetadata: {
      fastlr: {
        preprocessing: { scale: [0, 1], normalize: null },
        source: `npm nsfwjs@${version} dist/models/mobilenet_v2 (MIT, Infinite Red)`,
      },
    },
  };
  const tmp = `${target}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(path.join(tmp, 'weights.bin'), weights);
  await writeFile(path.join(tmp, 'model.json'), JSON.stringify(modelJSON));
  if (exists) await rm(target, { recursive: true, force: true });
  await mkdir(path.dirname(target), { recursive: true });
  await rename(tmp, target);
  const layers = (modelJSON.modelTopology.model_config?.config?.layers ?? []).length;
  return { dir: target, params, layers, tensors: specs.length, bytes: weights.byteLength };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (isMain) {
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const rest = args.filter((a) => a !== '--force');
  if (rest.length !== 1 || rest[0].startsWith('-')) fail('usage: node scripts/import-nsfwjs.mjs <out-dir> [--force]');
  try {
    const r = await importNsfwjs(rest[0], { force });
    process.stdout.write(
      `wrote ${r.dir}: MobileNetV2 from nsfwjs ${NSFWJS_VERSION}, ${r.layers} layers, ${r.tensors} weight tensors, ` +
        `${r.params.toLocaleString('en-US')} params (float32, ${(r.bytes / 1e6).toFixed(1)} MB)\n` +
        `input [224, 224, 3] in [0, 1] (data.images.scale: [0, 1]); cut it at out_relu ([7, 7, 1280])\n`,
    );
  } catch (e) {
    fail(e.message);
  }
}

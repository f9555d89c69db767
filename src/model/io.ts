/**
 * The tfjs LayersModel folder format — `model.json` + `weights.bin`, as tfjs-node's `file://` handler writes and
 * reads it — through our own tf.io.IOHandler (no tfjs-node). Writes are atomic per file (write-file-atomic:
 * temp file + rename), weights.bin first, then model.json, so a crash leaves either the old model.json or a
 * complete new one; a model.json paired with weights of another size is caught by the size check on load.
 * Loading checks everything a bad folder can get wrong and throws FastlrError naming the path.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import writeFileAtomic from 'write-file-atomic';
import { FastlrError } from '../errors.js';
import { normalizeTopology, topologyLayers } from './keras-json.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
const QUANT_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

/** Bytes a weight takes in the binary file, or null when it cannot be known (string weights). */
function specBytes(spec: tf.io.WeightsManifestEntry): number | null {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization) {
    const q = QUANT_BYTES[spec.quantization.dtype];
    return q === undefined ? null : n * q;
  }
  const b = DTYPE_BYTES[spec.dtype];
  return b === undefined ? null : n * b;
}

function fail(where: string, message: string): FastlrError {
  return new FastlrError(`${where}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Resolve a manifest path inside `dir`; absolute paths, URLs and anything escaping the folder are refused. */
function weightsPath(dir: string, p: unknown, jsonPath: string): string {
  if (typeof p !== 'string' || p === '') throw fail(jsonPath, `weightsManifest has a bad path ${JSON.stringify(p)}`);
  if (path.isAbsolute(p) || /^[a-z][a-z0-9+.-]*:/i.test(p) || p.includes('\0')) {
    throw fail(jsonPath, `weightsManifest path "${p}" must be relative to the model folder`);
  }
  const resolved = path.resolve(dir, p);
  const rel = path.relative(dir, resolved);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw fail(jsonPath, `weightsManifest path "${p}" points outside the model folder`);
  }
  return resolved;
}

export interface ModelJsonFile {
  /** path of model.json (named in errors) */
  jsonPath: string;
  /** the parsed file, its topology normalised to the Keras 2 form tfjs reads (see keras-json.ts) */
  json: tf.io.ModelJSON;
  /** every weight file of the manifest, resolved inside the folder, per manifest group */
  groups: { files: string[]; specs: tf.io.WeightsManifestEntry[] }[];
  /** true when the file lists at least one weight */
  hasWeights: boolean;
}

/**
 * Read and check `dir/model.json` without touching the weight files: the folder, the JSON, the layers-model format,
 * the manifest's shape and paths (nothing may leave the folder), and every layer class tfjs-layers can build.
 */
export async function readModelJson(where: string): Promise<ModelJsonFile> {
  let isFile = false;
  try {
    const st = await stat(where);
    isFile = st.isFile() && where.toLowerCase().endsWith('.json');
    if (!st.isDirectory() && !isFile) throw fail(where, 'not a folder (a saved model is a folder with model.json)');
  } catch (e) {
    if (e instanceof FastlrError) throw e;
    throw fail(where, 'model folder not found');
  }
  // a folder holding model.json, or the model.json file itself (any name ending .json): weights are found beside it
  const dir = isFile ? path.dirname(where) : where;
  const jsonPath = isFile ? where : path.join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fail(jsonPath, code === 'ENOENT' ? 'not found' : (e as Error).message);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail(jsonPath, `malformed JSON: ${(e as Error).message}`);
  }
  if (!isObject(json) || !isObject(json.modelTopology)) {
    throw fail(jsonPath, 'not a tfjs layers model (no modelTopology object)');
  }
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw fail(jsonPath, `format "${String(json.format)}" is not a layers model`);
  }
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw fail(jsonPath, 'weightsManifest must be a list');
  const groups: ModelJsonFile['groups'] = [];
  for (const group of manifest) {
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw fail(jsonPath, 'each weightsManifest entry needs `paths` and `weights` lists');
    }
    for (const w of group.weights) {
      if (!isObject(w) || typeof w.name !== 'string' || !Array.isArray(w.shape) || typeof w.dtype !== 'string') {
        throw fail(jsonPath, 'a weight spec needs name, shape and dtype');
      }
    }
    const files = group.paths.map((p: unknown) => weightsPath(dir, p, jsonPath));
    groups.push({ files, specs: group.weights as tf.io.WeightsManifestEntry[] });
  }
  const topology = normalizeTopology(json.modelTopology);
  const layers = topologyLayers(topology);
  if (!layers) throw fail(jsonPath, 'modelTopology has no layer list (model_config.config.layers)');
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const l of layers) {
    if (!(l.className in known)) {
      const where = l.parents.length ? ` (inside ${l.parents.join(' › ')})` : '';
      throw fail(
        jsonPath,
        `layer "${l.name}"${where} has class ${l.className}, which tfjs-layers ${tf.version_layers} cannot build; remove or replace that layer before converting the model`,
      );
    }
  }
  const normalized = { ...json, modelTopology: topology } as unknown as tf.io.ModelJSON;
  return { jsonPath, json: normalized, groups, hasWeights: groups.some((g) => g.specs.length > 0) };
}

/** Bytes each manifest group's files must hold together (null when it cannot be known: string weights). */
function groupBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | null {
  const sizes = specs.map(specBytes);
  return sizes.every((s) => s !== null) ? (sizes as number[]).reduce((a, b) => a + b, 0) : null;
}

function sizeProblem(files: readonly string[], have: number, need: number): FastlrError {
  const f = files.join(', ');
  return fail(
    f,
    have < need
      ? `truncated: ${have} bytes, model.json describes ${need}`
      : `${have} bytes, but model.json describes ${need} (weights of another model?)`,
  );
}

/** Check the weight files exist with the sizes model.json describes, reading only their sizes (`fastlr check`). */
export async function checkWeightFiles(file: ModelJsonFile): Promise<void> {
  for (const g of file.groups) {
    let have = 0;
    for (const f of g.files) {
      try {
        have += (await stat(f)).size;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw fail(f, code === 'ENOENT' ? 'weights file not found' : (e as Error).message);
      }
    }
    const need = groupBytes(g.specs);
    if (need !== null && have !== need) throw sizeProblem(g.files, have, need);
  }
}

const NO_WEIGHTS =
  'has no weights (no weightsManifest): fastlr does not fine-tune from random weights; set model.reinit: true to train this architecture from fresh seeded weights';

async function loadArtifacts(dir: string, opts: LoadOptions = {}): Promise<tf.io.ModelArtifacts> {
  const file = await readModelJson(dir);
  if (opts.topologyOnly) {
    // no manifest: tfjs builds the layers with their initialisers and loads nothing
    const { weightsManifest: _manifest, ...rest } = file.json;
    void _manifest;
    return tf.io.getModelArtifactsForJSON(rest as tf.io.ModelJSON, async () => [[], new ArrayBuffer(0)]);
  }
  if (!file.hasWeights) throw fail(file.jsonPath, NO_WEIGHTS);
  return tf.io.getModelArtifactsForJSON(file.json, async () => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of file.groups) {
      let have = 0;
      for (const f of group.files) {
        let bytes: Buffer;
        try {
          bytes = await readFile(f);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          throw fail(f, code === 'ENOENT' ? 'weights file not found' : (e as Error).message);
        }
        have += bytes.byteLength;
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      }
      const need = groupBytes(group.specs);
      if (need !== null && have !== need) throw sizeProblem(group.files, have, need);
      specs.push(...group.specs);
    }
    return [specs, buffers];
  });
}

async function saveArtifacts(dir: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new FastlrError(`${dir}: only layers models (JSON topology) can be saved`);
  }
  await mkdir(dir, { recursive: true });
  const weights = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
  await writeFileAtomic(path.join(dir, WEIGHTS_BIN), Buffer.from(weights));
  const modelJSON: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology ?? {},
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
  };
  if (artifacts.trainingConfig != null) modelJSON.trainingConfig = artifacts.trainingConfig;
  if (artifacts.signature != null) modelJSON.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata != null) modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
  await writeFileAtomic(path.join(dir, MODEL_JSON), JSON.stringify(modelJSON));
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON({ ...artifacts, weightData: weights }) };
}

/**
 * A tf.io.IOHandler over a model folder: `model.save(modelDirHandler(dir))`, `tf.loadLayersModel(modelDirHandler(dir))`.
 */
export function modelDirHandler(dir: string, opts: LoadOptions = {}): tf.io.IOHandler {
  const abs = path.resolve(dir);
  return {
    save: (artifacts) => saveArtifacts(abs, artifacts),
    load: () => loadArtifacts(abs, opts),
  };
}

export interface LoadOptions {
  /**
   * Build the architecture only, with tfjs's own (unseeded) initial weights; the weight files are not read and a
   * model.json without weights is accepted. For `model.reinit` (the caller re-seeds every weight) and `check`.
   */
  topologyOnly?: boolean;
}

/** Save `model` (topology + weights, no optimizer) to `dir`, creating it; atomic per file. */
export async function saveModelDir(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(modelDirHandler(dir));
}

/**
 * Load a model saved by `saveModelDir` (or by tfjs-node's file:// handler). A missing folder, a missing or
 * truncated weights file, a malformed model.json, a manifest path leaving the folder, or a topology tfjs cannot
 * rebuild → FastlrError naming the path (exit 2).
 */
export async function loadModelDir(dir: string, opts: LoadOptions = {}): Promise<tf.LayersModel> {
  const abs = path.resolve(dir);
  try {
    return await tf.loadLayersModel(modelDirHandler(abs, opts));
  } catch (e) {
    if (e instanceof FastlrError) throw e;
    throw fail(path.join(abs, MODEL_JSON), `cannot rebuild the model: ${(e as Error).message}`);
  }
}

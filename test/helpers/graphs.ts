/**
 * Small models with the topologies users bring, built with the tfjs layers API (names as Keras gives them):
 * a MobileNetV2-shaped graph (residual Add, ZeroPadding2D, DepthwiseConv2D, BN, ReLU(max 6)), an Inception-like
 * block (Concatenate), a squeeze-excite branch (Multiply), a MobileNet-v1 chain and a Teachable-Machine-style nested
 * export. Sizes are tiny (16×16×3 input, a few channels) so the CLI tests stay fast. Weights are perturbed with a
 * seeded normal so no weight equals its initial value (a copied weight is told from a fresh one).
 */
import * as tf from '@tensorflow/tfjs';

type S = tf.SymbolicTensor;
const ap = (l: tf.layers.Layer, x: S | S[]): S => l.apply(x) as S;
const relu6 = (name: string) => tf.layers.reLU({ maxValue: 6, name });
const bn = (name: string) => tf.layers.batchNormalization({ name, momentum: 0.999, epsilon: 1e-3 });

export const INPUT: [number, number, number] = [16, 16, 3];

/** Every weight += a seeded normal (BN moving variance kept positive). */
export function perturb(model: tf.LayersModel, seed = 3): void {
  tf.tidy(() => {
    model.weights.forEach((w, i) => {
      const noise = tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', seed + i);
      const v = w.originalName.endsWith('moving_variance') ? tf.add(w.read(), tf.abs(noise)) : tf.add(w.read(), noise);
      w.write(v);
    });
  });
}

function invertedResidual(x: S, id: string, expand: number, out: number, stride: 1 | 2): S {
  const inC = x.shape[3] as number;
  let h = ap(tf.layers.conv2d({ filters: inC * expand, kernelSize: 1, useBias: false, name: `${id}_expand` }), x);
  h = ap(relu6(`${id}_expand_relu`), ap(bn(`${id}_expand_BN`), h));
  if (stride === 2) h = ap(tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `${id}_pad` }), h);
  h = ap(tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false, name: `${id}_depthwise` }), h);
  h = ap(relu6(`${id}_depthwise_relu`), ap(bn(`${id}_depthwise_BN`), h));
  h = ap(tf.layers.conv2d({ filters: out, kernelSize: 1, useBias: false, name: `${id}_project` }), h);
  h = ap(bn(`${id}_project_BN`), h);
  if (stride === 1 && inC === out) h = ap(tf.layers.add({ name: `${id}_add` }), [x, h]);
  return h;
}

/** Keras-MobileNetV2-shaped: Conv1 → blocks (two residual Adds) → Conv_1 → out_relu → GAP → Dense(10). */
export function mobileNetV2Like(classes = 10): tf.LayersModel {
  const input = tf.input({ shape: INPUT, name: 'input_1' });
  let x = ap(tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'Conv1_pad' }), input);
  x = ap(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, useBias: false, name: 'Conv1' }), x);
  x = ap(relu6('Conv1_relu'), ap(bn('bn_Conv1'), x));
  x = invertedResidual(x, 'block_1', 2, 8, 1); // Add
  x = invertedResidual(x, 'block_2', 2, 12, 2); // stride 2, pad
  x = invertedResidual(x, 'block_3', 2, 12, 1); // Add
  x = ap(tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false, name: 'Conv_1' }), x);
  x = ap(relu6('out_relu'), ap(bn('Conv_1_bn'), x));
  x = ap(tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d_1' }), x);
  const out = ap(tf.layers.dense({ units: classes, name: 'Logits' }), x);
  return tf.model({ inputs: input, outputs: out, name: 'mobilenetv2_like' });
}

/** An Inception-like block (1×1, 3×3 and pool branches → Concatenate) with a squeeze-excite Multiply after it. */
export function inceptionSeLike(classes = 10): tf.LayersModel {
  const input = tf.input({ shape: INPUT, name: 'input_img' });
  const stem = ap(tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'stem' }), input);
  const b1 = ap(tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu', name: 'mixed0_1x1' }), stem);
  const b2a = ap(tf.layers.conv2d({ filters: 3, kernelSize: 1, activation: 'relu', name: 'mixed0_3x3_reduce' }), stem);
  const b2 = ap(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'mixed0_3x3' }), b2a);
  const b3a = ap(tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'mixed0_pool' }), stem);
  const b3 = ap(tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu', name: 'mixed0_pool_proj' }), b3a);
  const mixed = ap(tf.layers.concatenate({ axis: -1, name: 'mixed0' }), [b1, b2, b3]);
  // squeeze-excite: GAP → Dense → Dense(sigmoid) → Reshape → Multiply
  let s = ap(tf.layers.globalAveragePooling2d({ name: 'se_squeeze' }), mixed);
  s = ap(tf.layers.dense({ units: 3, activation: 'relu', name: 'se_reduce' }), s);
  s = ap(tf.layers.dense({ units: 12, activation: 'sigmoid', name: 'se_expand' }), s);
  s = ap(tf.layers.reshape({ targetShape: [1, 1, 12], name: 'se_reshape' }), s);
  const excited = ap(tf.layers.multiply({ name: 'se_excite' }), [mixed, s]);
  const bnx = ap(tf.layers.batchNormalization({ name: 'mixed0_bn' }), excited);
  const pooled = ap(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }), bnx);
  const out = ap(tf.layers.dense({ units: classes, name: 'predictions' }), pooled);
  return tf.model({ inputs: input, outputs: out, name: 'inception_se_like' });
}

/** A tfjs-models MobileNet-v1-shaped chain: conv1 → (conv_dw_k, conv_pw_k)×3 → GAP → reshape → conv_preds. */
export function mobileNetV1Like(classes = 10): tf.LayersModel {
  const layers: tf.layers.Layer[] = [
    tf.layers.conv2d({ inputShape: INPUT, filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv1' }),
    tf.layers.batchNormalization({ name: 'conv1_bn', momentum: 0.99, epsilon: 1e-3 }),
    tf.layers.activation({ activation: 'relu6', name: 'conv1_relu' }),
  ];
  const channels = [8, 8, 12];
  channels.forEach((c, k) => {
    const i = k + 1;
    const stride = i === 2 ? 2 : 1;
    if (stride === 2) layers.push(tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `conv_pad_${i}` }));
    layers.push(
      tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false, name: `conv_dw_${i}` }),
      tf.layers.batchNormalization({ name: `conv_dw_${i}_bn`, momentum: 0.99, epsilon: 1e-3 }),
      tf.layers.activation({ activation: 'relu6', name: `conv_dw_${i}_relu` }),
      tf.layers.conv2d({ filters: c, kernelSize: 1, useBias: false, name: `conv_pw_${i}` }),
      tf.layers.batchNormalization({ name: `conv_pw_${i}_bn`, momentum: 0.99, epsilon: 1e-3 }),
      tf.layers.activation({ activation: 'relu6', name: `conv_pw_${i}_relu` }),
    );
  });
  layers.push(
    tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d_1' }),
    tf.layers.reshape({ targetShape: [1, 1, 12], name: 'reshape_1' }),
    tf.layers.dropout({ rate: 0.001, name: 'dropout' }),
    tf.layers.conv2d({ filters: classes, kernelSize: 1, name: 'conv_preds' }),
    tf.layers.reshape({ targetShape: [classes], name: 'reshape_2' }),
  );
  return tf.sequential({ layers, name: 'mobilenet_1.00_16' });
}

/**
 * A Teachable Machine image export: Sequential[ Sequential[ truncated MobileNetV2 (functional, cut at out_relu),
 * GlobalAveragePooling2D ], Sequential[ Dense(relu), Dense(classes, softmax, no bias) ] ].
 */
export function teachableMachineLike(classes = 3): tf.LayersModel {
  const mnv2 = mobileNetV2Like();
  const truncated = tf.model({ inputs: mnv2.inputs, outputs: mnv2.getLayer('out_relu').output, name: 'model1' });
  const body = tf.sequential({ name: 'sequential_1', layers: [truncated, tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d_GlobalAveragePooling2D1' })] });
  const head = tf.sequential({
    name: 'sequential_3',
    layers: [
      tf.layers.dense({ inputShape: [16], units: 10, activation: 'relu', name: 'dense_Dense1' }),
      tf.layers.dense({ units: classes, activation: 'softmax', useBias: false, name: 'dense_Dense2' }),
    ],
  });
  return tf.sequential({ name: 'sequential_4', layers: [body, head] });
}

// ------------------------------------------------------------------------------------------------ saved-file forms
type Json = Record<string, unknown>;

/**
 * A tfjs-written model.json rewritten the way Keras 3 (TF ≥ 2.16, tensorflowjs_converter) writes it: InputLayer
 * `batch_shape` (not `batch_input_shape`), dtypes as DTypePolicy objects, `module`/`registered_name` on every layer,
 * inbound nodes as `{ args, kwargs }` of `__keras_tensor__`s, single input/output endpoints unwrapped.
 */
export function toKeras3(modelJson: Json): Json {
  const j = JSON.parse(JSON.stringify(modelJson)) as Json;
  const topo = j['modelTopology'] as Json;
  topo['keras_version'] = '3.3.3';
  const cfg = topo['config'] as Json;
  const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const shapes = new Map<string, unknown>();
  for (const l of cfg['layers'] as Json[]) {
    const c = l['config'] as Json;
    l['module'] = 'keras.layers';
    l['registered_name'] = null;
    c['dtype'] = policy;
    if (l['class_name'] === 'InputLayer') {
      c['batch_shape'] = c['batch_input_shape'];
      delete c['batch_input_shape'];
      shapes.set(String(c['name']), c['batch_shape']);
    }
    const tensor = (ref: unknown[]) => ({ class_name: '__keras_tensor__', config: { shape: shapes.get(String(ref[0])) ?? null, dtype: 'float32', keras_history: [ref[0], ref[1], ref[2]] } });
    l['inbound_nodes'] = (l['inbound_nodes'] as unknown[][][]).map((node) => ({
      args: node.length === 1 ? [tensor(node[0]!)] : [node.map(tensor)],
      kwargs: {},
    }));
  }
  for (const k of ['input_layers', 'output_layers']) {
    const v = cfg[k] as unknown[][];
    if (v.length === 1) cfg[k] = v[0];
  }
  return j;
}

export type QuantDtype = 'uint8' | 'uint16' | 'float16';

/** float32 → IEEE half bits, round to nearest even, subnormals and signed zero included (no NaN/Inf inputs here). */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const b = new Uint32Array(f.buffer)[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = ((b >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) {
    // below 2^-14: a subnormal half, |x| / 2^-24 rounded half to even (1024 is the smallest normal, encoded the same)
    const q = Math.abs(f[0]!) * 2 ** 24;
    let m = Math.floor(q);
    const r = q - m;
    if (r > 0.5 || (r === 0.5 && m & 1)) m++;
    return sign | m;
  }
  let mant = b & 0x7fffff;
  const round = mant & 0x1fff;
  mant >>>= 13;
  let h = sign | (exp << 10) | mant;
  if (round > 0x1000 || (round === 0x1000 && (mant & 1))) h++;
  return h;
}

/** IEEE half bits → its value (signed zero and subnormals included). */
function fromHalf(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const s = h & 0x8000 ? -1 : 1;
  return e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024);
}

/** Values at the edges of half precision, written over the first weights before a float16 quantisation. */
const HALF_EDGES = [-1e-9, 1e-9, -3e-7, 5.96e-8, -6.09e-5, 6.1e-5, 1e-4 + 1e-9, -65504];

/**
 * Rewrite the float32 weights of a saved model folder as tfjs-converter's quantised forms
 * (`--quantize_uint8/uint16/float16`): weights.bin holds the codes, the manifest a `quantization` entry per weight.
 * Returns the values tfjs must dequantise them to (uint: min + q·scale; float16: the half's value) by weight name,
 * computed here independently of tfjs.
 */
export function quantiseFolder(dir: string, dtype: QuantDtype, fs: { readFileSync: (p: string) => Buffer; writeFileSync: (p: string, d: string | Uint8Array) => void }): Map<string, Float32Array> {
  const jsonPath = `${dir}/model.json`;
  const j = JSON.parse(fs.readFileSync(jsonPath).toString('utf8')) as { weightsManifest: { paths: string[]; weights: (Json & { name: string; shape: number[] })[] }[] };
  const group = j.weightsManifest[0]!;
  const raw = fs.readFileSync(`${dir}/${group.paths[0]}`);
  const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const out: Uint8Array[] = [];
  const expected = new Map<string, Float32Array>();
  let off = 0;
  let edged = false;
  for (const w of group.weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const v = all.subarray(off, off + n);
    off += n;
    const want = new Float32Array(n);
    if (dtype === 'float16') {
      // the first weight large enough also carries the edge values: signed zeros, subnormals, the largest half
      if (!edged && n >= HALF_EDGES.length) {
        HALF_EDGES.forEach((x, i) => (v[i] = x));
        edged = true;
      }
      const codes = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        codes[i] = toHalf(v[i]!);
        want[i] = fromHalf(codes[i]!);
      }
      w['quantization'] = { dtype: 'float16' };
      out.push(new Uint8Array(codes.buffer));
    } else {
      const levels = dtype === 'uint8' ? 255 : 65535;
      let min = Infinity;
      let max = -Infinity;
      for (const x of v) {
        min = Math.min(min, x);
        max = Math.max(max, x);
      }
      const scale = max > min ? (max - min) / levels : 1;
      const codes = dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        codes[i] = Math.round((v[i]! - min) / scale);
        want[i] = Math.fround(codes[i]! * scale + min);
      }
      w['quantization'] = { dtype, scale, min };
      out.push(new Uint8Array(codes.buffer));
    }
    expected.set(w.name, want);
  }
  const bytes = Buffer.concat(out);
  fs.writeFileSync(`${dir}/${group.paths[0]}`, bytes);
  fs.writeFileSync(jsonPath, JSON.stringify(j));
  return expected;
}

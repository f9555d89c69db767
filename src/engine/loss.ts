import * as tf from '@tensorflow/tfjs';
import { fusedCrossEntropy } from '../kernels/cross-entropy.js';

export type LossName = 'cross_entropy' | 'binary_cross_entropy' | 'mse';
export type MetricName = 'accuracy' | 'error_rate' | 'mae' | 'rmse';

/** Mean loss over the batch, as fastai/PyTorch define it. `pred` are logits for the cross-entropies. */
export function lossTensor(name: LossName, pred: tf.Tensor, y: tf.Tensor): tf.Scalar {
  switch (name) {
    case 'cross_entropy':
      return crossEntropy(pred, y);
    case 'binary_cross_entropy': {
      // BCEWithLogits: max(z,0) - z*y + log(1 + exp(-|z|)), mean over every element.
      const z = pred;
      const t = tf.reshape(y, z.shape);
      return tf.mean(tf.add(tf.sub(tf.relu(z), tf.mul(z, t)), tf.log1p(tf.exp(tf.neg(tf.abs(z))))));
    }
    case 'mse':
      return tf.mean(tf.squaredDifference(pred, tf.reshape(y, pred.shape)));
  }
}

/**
 * PyTorch CrossEntropyLoss: mean over the batch of −log_softmax(logits)[y]. The forward is the plain op sequence;
 * the gradient is written out as PyTorch computes it, (softmax(z) − onehot(y))·dy/B, three kernels instead of
 * tfjs's chain back through neg, mean, sum, mul and logSoftmax (about a dozen).
 */
function crossEntropy(pred: tf.Tensor, y: tf.Tensor): tf.Scalar {
  // fastlr's kernels: the loss and its gradient as one kernel each (src/kernels/cross-entropy.ts)
  const fused = fusedCrossEntropy(pred, y);
  if (fused !== null) return fused;
  const onehot = tf.oneHot(y.toInt() as tf.Tensor1D, pred.shape[1] ?? 1);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const logits = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    save([logp, onehot]); // saved: kept alive until the backward pass (a captured tensor is disposed before it)
    const value = tf.neg(tf.mean(tf.sum(tf.mul(logp, onehot), 1))) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [lp, oh] = saved as [tf.Tensor, tf.Tensor];
        return tf.mul(tf.sub(tf.exp(lp), oh), tf.div(dy, lp.shape[0] ?? 1));
      },
    };
  });
  return f(pred) as tf.Scalar;
}

/**
 * Per-batch sums a metric needs, so epoch values are exact averages over every validation
 * item (fastai weights each batch's value by its size).
 */
export function metricSums(name: MetricName, pred: tf.Tensor, y: tf.Tensor, loss: LossName): tf.Scalar {
  switch (name) {
    case 'accuracy':
    case 'error_rate': {
      const hit =
        loss === 'binary_cross_entropy'
          ? tf.equal(tf.greater(pred, 0).toFloat(), tf.reshape(y, pred.shape))
          : tf.equal(tf.argMax(pred, -1).toInt(), y.toInt());
      const hits = tf.sum(hit.toFloat()) as tf.Scalar;
      return name === 'accuracy' ? hits : (tf.sub(tf.scalar(y.shape[0] ?? 0), hits) as tf.Scalar);
    }
    case 'mae':
      return tf.sum(tf.mean(tf.abs(tf.sub(pred, tf.reshape(y, pred.shape))), -1));
    case 'rmse':
      return tf.sum(tf.mean(tf.squaredDifference(pred, tf.reshape(y, pred.shape)), -1));
  }
}

/** Turn the summed metric over n items into the reported value. */
export function finishMetric(name: MetricName, sum: number, n: number): number {
  const mean = n > 0 ? sum / n : NaN;
  return name === 'rmse' ? Math.sqrt(mean) : mean;
}

export function metricsFor(loss: LossName, requested: MetricName[]): MetricName[] {
  const ok = loss === 'mse' ? ['mae', 'rmse'] : ['accuracy', 'error_rate'];
  // each once (a library caller's [accuracy, accuracy]): one column per name in metrics.csv and the epoch table
  return requested.filter((m, i) => ok.includes(m) && requested.indexOf(m) === i);
}

/**
 * The lab's cost and accuracy on the logits: what training minimizes and reports.
 * They live with the model, not the training loop, so that a training replica (and anything
 * else that scores logits) loads them without the loop, the evaluation or the figures.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../core/errors.ts";

/** A cost to minimize: from the logits [n, 2] and the one-hot labels [n, 2], a scalar. */
export type CostFunction = (logits: tf.Tensor2D, labels: tf.Tensor2D) => tf.Scalar;

/** The predicted class (0 or 1) of each row of the logits [n, 2]. */
export type PredictFunction = (logits: tf.Tensor2D) => tf.Tensor1D;

/**
 * The cost the lab trains with unless told otherwise: the mean softmax cross-entropy between the
 * one-hot labels and the logits, computed by TensorFlow.js in one numerically stable step (the
 * call notebook 02 names; the student's own `computeCost` is what its training minimizes).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { trainingCost } from "./loss.ts";
 * await tf.setBackend("cpu");
 * const cost = trainingCost({ logits: tf.tensor2d([[0, 0]]), labels: tf.tensor2d([[0, 1]]) });
 * if (Math.abs(cost.dataSync()[0] - Math.log(2)) > 1e-6) throw new Error("equal logits cost ln 2");
 * ```
 */
export function trainingCost(batch: { logits: tf.Tensor2D; labels: tf.Tensor2D }): tf.Scalar {
  return tf.tidy(() => tf.losses.softmaxCrossEntropy(batch.labels, batch.logits) as tf.Scalar);
}

/**
 * The lab's accuracy: the fraction of images whose predicted class (by default the largest
 * logit's) is the label's.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { computeAccuracy } from "./loss.ts";
 * await tf.setBackend("cpu");
 * const logits = tf.tensor2d([[2, 1], [0, 3], [1, 0]]);
 * const labels = tf.tensor2d([[1, 0], [0, 1], [0, 1]]);
 * const accuracy = computeAccuracy(logits, labels).dataSync()[0];
 * if (Math.abs(accuracy - 2 / 3) > 1e-6) throw new Error("2 of 3 right");
 * ```
 */
export function computeAccuracy(
  logits: tf.Tensor2D,
  labels: tf.Tensor2D,
  predict: PredictFunction = (rows) => tf.argMax(rows, 1),
): tf.Scalar {
  return tf.tidy(() => {
    const predicted = predict(logits);
    if (!(predicted instanceof tf.Tensor) || predicted.shape.join() !== `${logits.shape[0]}`) {
      throw new UsageError(
        `the prediction must be a tensor of shape [${logits.shape[0]}], one class per image; ` +
          `got ${predicted instanceof tf.Tensor ? `shape [${predicted.shape}]` : typeof predicted}`,
      );
    }
    return tf.mean(tf.cast(tf.equal(predicted, tf.argMax(labels, 1)), "float32")) as tf.Scalar;
  });
}

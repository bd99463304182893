/**
 * Predicting in batches: a forward pass over many full-size images at once needs gigabytes, so
 * the training loop's evaluations and the evaluation of a whole test set both go a batch at a
 * time, through here.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import * as tf from "@tensorflow/tfjs";
import type { PneumothoraxDetectionModel } from "./model.ts";

/** Images predicted per batch unless told otherwise. */
export const PREDICT_BATCH_SIZE = 16;

/** Throws a {@link UsageError} unless `batchSize` is a positive integer. */
export function checkBatchSize(batchSize: number): void {
  requireInteger("batch size", batchSize, { min: 1 });
}

/**
 * The logits `[n, 2]` of a batch of images, computed `batchSize` images at a time (a forward
 * pass over 100 full-size images at once needs gigabytes). The caller disposes the result.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createModel } from "./model.ts";
 * import { predictLogitsInBatches } from "./predict.ts";
 * await tf.setBackend("cpu");
 * const model = createModel({ width: 1, imageSize: 16 });
 * const logits = predictLogitsInBatches(model, tf.zeros([5, 16, 16, 1]), 2);
 * if (logits.shape.join() !== "5,2") throw new Error(`logits are ${logits.shape}`);
 * logits.dispose();
 * model.dispose();
 * ```
 */
export function predictLogitsInBatches(
  model: PneumothoraxDetectionModel,
  images: tf.Tensor4D,
  batchSize: number = PREDICT_BATCH_SIZE,
): tf.Tensor2D {
  checkBatchSize(batchSize);
  const n = images.shape[0];
  const parts: tf.Tensor2D[] = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      parts.push(tf.tidy(() => model.predictLogits(images.slice(start, size))));
    }
    return tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}

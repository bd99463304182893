/**
 * The lesion-map term: the radiologists' outline as supervision of the class activation map.
 *
 * A model trained on labels alone is free to find pneumothorax anywhere that predicts the label,
 * and on real films its maps peak as often on a side marker as on the lesion (docs/real_films.md).
 * Where a training image has a lesion mask, this term asks its map of pneumothorax to put its mass
 * inside the outline: the map over the `h x w` cells of `skip4` is read as a distribution (a
 * softmax over the cells), and the term is minus the log of the share that falls on cells the
 * lesion touches. Images without a lesion add nothing; the term is the mean over those with one.
 *
 * It is the only place the lab trains the map itself; the CAM the notebooks draw is the same map,
 * upsampled (lib/evaluation/cam.ts).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../core/errors.ts";

/** Log-share given to the cells outside the lesion before the log-sum: far below any real one. */
const OUTSIDE = -1e4;

/**
 * The lesion-map cost of a batch: `cams` `[n, h, w]` (the maps of pneumothorax at the feature
 * resolution, {@link PneumothoraxDetectionModel.predictWithCams}) against `masks` `[n, S, S, 1]`
 * (non-zero inside the lesion; `S` a multiple of `h`). Differentiable; 0 when no image of the
 * batch has a lesion.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { lesionMapCost } from "./lesion_maps.ts";
 * await tf.setBackend("cpu");
 * // A flat 2x2 map over a lesion that covers one of its four cells: minus log 1/4.
 * const mask = tf.tensor4d([1, 0, 0, 0], [1, 2, 2, 1]);
 * const cost = lesionMapCost(tf.zeros([1, 2, 2]), mask).dataSync()[0];
 * if (Math.abs(cost - Math.log(4)) > 1e-5) throw new Error("a flat map costs log 4 here");
 * ```
 */
export function lesionMapCost(cams: tf.Tensor3D, masks: tf.Tensor4D): tf.Scalar {
  const [n, h, w] = cams.shape;
  const [count, size, side, channels] = masks.shape;
  if (count !== n || size !== side || channels !== 1 || size % h !== 0 || h !== w) {
    throw new UsageError(
      `lesion masks [${masks.shape}] do not match maps [${cams.shape}]: expected [${n}, S, S, 1] ` +
        `with S a multiple of ${h}`,
    );
  }
  return tf.tidy(() => {
    const cell = size / h;
    const touched = tf.greater(tf.maxPool(masks, cell, cell, "valid"), 0).reshape([n, h * w]);
    const logShares = tf.logSoftmax(cams.reshape([n, h * w]));
    const logInside = tf.logSumExp(tf.where(touched, logShares, tf.fill([n, h * w], OUTSIDE)), 1);
    const hasLesion = tf.any(touched, 1).toFloat();
    const lesions = tf.maximum(hasLesion.sum(), 1);
    return tf.div(tf.neg(tf.sum(tf.mul(logInside, hasLesion))), lesions) as tf.Scalar;
  });
}

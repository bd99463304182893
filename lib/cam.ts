/**
 * Class Activation Maps (Zhou et al. 2016), the lab's section 5, with the lab's names. For a
 * model that ends in global average pooling and one dense layer, the class score is
 * `logit_k = mean_xy(fmap) . w[:, k] + b_k`, so the map `CAM_k = fmap (h*w x c) . w[:, k]`
 * shows where the evidence for class k lies.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "./errors.ts";
import type { PneumothoraxDetectionModel } from "./model.ts";

/** Column of the pneumothorax class in labels, logits and the dense kernel. */
export const PNEUMOTHORAX_CLASS = 1;

/** The final feature maps of one image and the dense kernel; the caller disposes them. */
export interface FeaturesWeights {
  /** `skip4` of the image, `[h, w, c]` (16 x 16 x 512 for the lab's model). */
  fmap: tf.Tensor3D;
  /** The dense layer's kernel, `[c, 2]`. */
  weights: tf.Tensor2D;
  /** The model's probabilities for the image, `[2]`. */
  probabilities: number[];
}

function asBatchOfOne(image: tf.Tensor): tf.Tensor4D {
  if (image.rank === 3) return image.expandDims(0) as tf.Tensor4D;
  if (image.rank === 4 && image.shape[0] === 1) return image as tf.Tensor4D;
  throw new UsageError(`expected one image [S, S, 1] or [1, S, S, 1], got [${image.shape}]`);
}

/**
 * The lab's `extract_features_weights`: runs `image` through `model` and returns its final
 * feature maps, the dense kernel and the probabilities.
 */
export function extractFeaturesWeights(
  model: PneumothoraxDetectionModel,
  image: tf.Tensor3D | tf.Tensor4D,
): FeaturesWeights {
  const batch = asBatchOfOne(image);
  const outputs = model.predictWithFeatures(batch);
  if (batch !== image) batch.dispose();
  const fmap = outputs.skip4.squeeze([0]) as tf.Tensor3D;
  const probabilities = Array.from(outputs.probabilities.dataSync());
  tf.dispose([outputs.logits, outputs.probabilities, outputs.skip4]);
  return { fmap, weights: model.denseKernel(), probabilities };
}

/**
 * The lab's `compute_cam`: the map of class `classIndex`, `fmap (h*w x c) . weights[:, k]`
 * reshaped to `[h, w]`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { computeCam } from "./cam.ts";
 * const fmap = tf.ones([2, 2, 3]) as tf.Tensor3D;
 * const weights = tf.tensor2d([[1, 0], [2, 0], [3, 1]]);
 * computeCam(1, fmap, weights).print(); // [[1, 1], [1, 1]]
 * ```
 */
export function computeCam(
  classIndex: number,
  fmap: tf.Tensor3D,
  weights: tf.Tensor2D,
): tf.Tensor2D {
  const [h, w, c] = fmap.shape;
  if (weights.shape[0] !== c) {
    throw new UsageError(`weights have ${weights.shape[0]} rows but fmap has ${c} channels`);
  }
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= weights.shape[1]) {
    throw new UsageError(`class index ${classIndex} is outside [0, ${weights.shape[1] - 1}]`);
  }
  return tf.tidy(() => {
    const column = weights.slice([0, classIndex], [c, 1]);
    return fmap.reshape([h * w, c]).matMul(column).reshape([h, w]) as tf.Tensor2D;
  });
}

/** The lab's `upsample`: bilinear resize of a map `[h, w]` to `[height, width]`. */
export function upsample(cam: tf.Tensor2D, size: [number, number]): tf.Tensor2D {
  return tf.tidy(() =>
    tf.image.resizeBilinear(cam.expandDims(2) as tf.Tensor3D, size, false, true)
      .squeeze([2]) as tf.Tensor2D
  );
}

/**
 * The reference answers of the graded questions, each shaped as the answer the notebook asks for
 * (its name, arguments and result). Only the grader and the tests import this module: `"lab"`
 * never exports it, the library does not run on it, and a class's handout holds
 * references_stand_in.ts in its place, so no function there is an answer a student could copy.
 * The library computes the same things in its own shapes (a batch of maps in one pass, the AUC
 * alone, the cost inside a training step), from the building blocks the notebooks name.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../core/errors.ts";
import { requireInteger } from "../core/validate.ts";
import type { FeaturesWeights } from "../evaluation/cam.ts";
import { auc, type Roc, rocCurve } from "../evaluation/roc.ts";
import type { MapPeak } from "../evaluation/tube_masks.ts";
import type { PneumothoraxDetectionModel } from "../model/model.ts";

/** Notebook 02, question `cost`: the mean softmax cross-entropy of `logits` against one-hot `labels`. */
export function computeCost(logits: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar);
}

/** Notebook 02, question `prediction`: the class with the largest logit, per row. */
export function predictClass(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.argMax(logits, 1);
}

/** Notebook 04, question `roc`: the ROC curve of the scores and the area under it. */
export function computeRoc(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): Roc {
  const { fpr, tpr } = rocCurve(yTrue, yScore);
  return { fpr, tpr, auroc: auc(fpr, tpr) };
}

/**
 * Notebook 05, question `features`: the final feature maps of one image `[1, S, S, 1]` (its
 * `skip4`, batch axis dropped), the dense kernel and the probabilities.
 */
export function extractFeaturesWeights(
  model: PneumothoraxDetectionModel,
  image: tf.Tensor4D,
): FeaturesWeights {
  const outputs = model.predictWithFeatures(image);
  const fmap = outputs.skip4.squeeze([0]) as tf.Tensor3D;
  const probabilities = Array.from(outputs.probabilities.dataSync());
  tf.dispose([outputs.logits, outputs.probabilities, outputs.skip4]);
  return { fmap, weights: model.denseKernel(), probabilities };
}

/** Notebook 05, question `cam`: `fmap (h*w x c) . weights[:, classIndex]`, reshaped to `[h, w]`. */
export function computeCam(
  classIndex: number,
  fmap: tf.Tensor3D,
  weights: tf.Tensor2D,
): tf.Tensor2D {
  const [h, w, c] = fmap.shape;
  if (weights.shape[0] !== c) {
    throw new UsageError(`weights have ${weights.shape[0]} rows but fmap has ${c} channels`);
  }
  requireInteger("class index", classIndex, { min: 0, max: weights.shape[1] - 1 });
  return tf.tidy(() => {
    const column = weights.slice([0, classIndex], [c, 1]);
    return fmap.reshape([h * w, c]).matMul(column).reshape([h, w]) as tf.Tensor2D;
  });
}

/** Notebook 05, question `upsample`: the map `[h, w]` resized bilinearly to `size`. */
export function upsample(cam: tf.Tensor2D, size: [number, number]): tf.Tensor2D {
  return tf.tidy(() =>
    tf.image.resizeBilinear(cam.expandDims(2) as tf.Tensor3D, size, false, true)
      .squeeze([2]) as tf.Tensor2D
  );
}

/**
 * Notebook 06, question `tube`: the share of `peaks` (as `localizeDataset` gives them in
 * `perImage`) that fall inside the region of their image in `masks` (n x size x size, non-zero
 * inside); 0 for no peaks.
 */
export function shareOnTube(peaks: readonly MapPeak[], masks: Uint8Array, size: number): number {
  if (peaks.length === 0) return 0;
  const hits = peaks.filter(({ index, x, y }) => masks[index * size * size + y * size + x] !== 0);
  return hits.length / peaks.length;
}

/**
 * Notebook 06, question `folds`: the fold (0 to `folds` - 1) of each image, all images of a
 * patient in one fold, patients dealt in turn so fold sizes stay close.
 */
export function groupedFolds(patientIds: readonly string[], folds: number): number[] {
  const patients = [...new Set(patientIds)];
  const foldOfPatient = new Map(patients.map((id, k) => [id, k % folds]));
  return patientIds.map((id) => foldOfPatient.get(id)!);
}

/**
 * What a class's handout holds as `lib/grading/references.ts` (`deno task release --handout`
 * writes this file there): the same exports, which say where the answers are instead of giving
 * them. The instructor's repository and the Gradescope bundle hold the real ones.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { LabError } from "../core/errors.ts";
import type { FeaturesWeights } from "../evaluation/cam.ts";
import type { Roc } from "../evaluation/roc.ts";
import type { MapPeak } from "../evaluation/tube_masks.ts";
import type { PneumothoraxDetectionModel } from "../model/model.ts";

function absent(name: string): never {
  throw new LabError(`${name}: the reference answer is not in the handout; write your own`);
}

/** Stands in for the reference of notebook 02's question `cost`. */
export function computeCost(_logits: tf.Tensor2D, _labels: tf.Tensor2D): tf.Scalar {
  return absent("computeCost");
}

/** Stands in for the reference of notebook 02's question `prediction`. */
export function predictClass(_logits: tf.Tensor2D): tf.Tensor1D {
  return absent("predictClass");
}

/** Stands in for the reference of notebook 04's question `roc`. */
export function computeRoc(_yTrue: ArrayLike<number>, _yScore: ArrayLike<number>): Roc {
  return absent("computeRoc");
}

/** Stands in for the reference of notebook 05's question `features`. */
export function extractFeaturesWeights(
  _model: PneumothoraxDetectionModel,
  _image: tf.Tensor4D,
): FeaturesWeights {
  return absent("extractFeaturesWeights");
}

/** Stands in for the reference of notebook 05's question `cam`. */
export function computeCam(
  _classIndex: number,
  _fmap: tf.Tensor3D,
  _weights: tf.Tensor2D,
): tf.Tensor2D {
  return absent("computeCam");
}

/** Stands in for the reference of notebook 05's question `upsample`. */
export function upsample(_cam: tf.Tensor2D, _size: [number, number]): tf.Tensor2D {
  return absent("upsample");
}

/** Stands in for the reference of notebook 06's question `tube`. */
export function shareOnTube(_peaks: readonly MapPeak[], _masks: Uint8Array, _size: number): number {
  return absent("shareOnTube");
}

/** Stands in for the reference of notebook 06's question `folds`. */
export function groupedFolds(_patientIds: readonly string[], _folds: number): number[] {
  return absent("groupedFolds");
}

/**
 * Predicting a whole test set and summarizing it: the lab's test-set predictions (section 4)
 * and what `deno task evaluate` reports. Predictions are made in batches, so the memory used
 * depends on the batch size, not on the number of images.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { currentRung } from "../backends/backend.ts";
import type { LabeledImages } from "../data/dataset.ts";
import { checkBatchSize, PREDICT_BATCH_SIZE } from "../model/predict.ts";
import type { PneumothoraxDetectionModel } from "../model/model.ts";
import { localizeDataset, type MaskedImages, priorPointing } from "./localization.ts";
import { BOOTSTRAP_SAMPLES, bootstrapAucInterval, rocAuc } from "./roc.ts";

/** Options of {@link predictImages}. */
export interface PredictOptions {
  /** Images per forward pass (default {@link PREDICT_BATCH_SIZE}); bounds the memory used. */
  batchSize?: number;
  /** Called after each batch with the images done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** Predictions for a set of images, as plain arrays. */
export interface Predictions {
  /** True class per image (1 = pneumothorax). */
  labels: Uint8Array;
  /** Softmax probability of pneumothorax (class 1) per image. */
  scores: Float32Array;
  /** Predicted class per image: the argmax of the logits. */
  predicted: Uint8Array;
  /** Seconds the predictions took. */
  seconds: number;
  /** Images predicted per second. */
  imagesPerSecond: number;
}

/** What `deno task evaluate --json` reports. */
export interface EvaluationReport {
  /** Images evaluated. */
  n: number;
  /** Pneumothorax images among them. */
  positives: number;
  /** Area under the ROC curve of the pneumothorax probability; null with one class only. */
  auc: number | null;
  /** 95% percentile-bootstrap interval of the AUC; null with one class only. */
  aucCi95: [number, number] | null;
  /** Fraction of images whose argmax matches the label. */
  accuracy: number;
  /** Pointing-game score of the class activation maps against lesion masks; null without them. */
  pointingGame: number | null;
  /**
   * The pointing game of a point drawn uniformly over each image (its chance level), or null
   * without masks.
   */
  pointingChance: number | null;
  /**
   * The pointing game of one fixed point, the pixel most lesions of
   * {@link EvaluateOptions.fixedPointFrom} cover, pointed at on every image without looking at it
   * (`priorPointing`): the rival a map must beat to show it finds the lesion in the film, not
   * where lesions usually lie. Null without masks or without `fixedPointFrom`.
   */
  pointingFixedPoint: number | null;
  /** Mean share of the maps' positive energy inside the lesion masks; null without them. */
  energyInside: number | null;
  /**
   * The backend that made the predictions: the rung of lib/backends/backend.ts's ladder (`onednn`,
   * `wasm`...) when its `selectBackend` started the current backend, else TensorFlow.js's
   * backend name.
   */
  backend: string;
  /** Images predicted per second. */
  imagesPerSecond: number;
}

/** Options of {@link evaluateModel}. */
export interface EvaluateOptions extends PredictOptions {
  /** Bootstrap resamples of the AUC interval (default {@link BOOTSTRAP_SAMPLES}). */
  bootstrapSamples?: number;
  /** Seed of the bootstrap (default 0). */
  seed?: number;
  /** Receives the predictions of every image, before they are summarized (e.g. to plot them). */
  onPredictions?: (predictions: Predictions) => void;
  /**
   * How to predict the images (default {@link predictImages}); `predictFilms` of `films.ts`
   * scores a half-film model's films by their halves.
   */
  predict?: (
    model: PneumothoraxDetectionModel,
    data: LabeledImages,
    options: PredictOptions,
  ) => Promise<Predictions>;
  /** Called after each batch of class activation maps, when masks are scored. */
  onLocalizeProgress?: (done: number, total: number) => void;
  /**
   * Images whose lesion masks place the fixed point of {@link EvaluationReport.pointingFixedPoint}:
   * the training split, never the images evaluated (default none: no fixed point).
   */
  fixedPointFrom?: MaskedImages;
}

/**
 * Predicts every image of `data` in batches, converting each batch from uint8 only when it is
 * needed, and returns plain arrays (no tensors to dispose).
 */
export async function predictImages(
  model: PneumothoraxDetectionModel,
  data: LabeledImages,
  options: PredictOptions = {},
): Promise<Predictions> {
  const batchSize = options.batchSize ?? PREDICT_BATCH_SIZE;
  checkBatchSize(batchSize);
  const n = data.labels.length;
  const pixels = data.imageSize * data.imageSize;
  const scores = new Float32Array(n);
  const predicted = new Uint8Array(n);
  const start = performance.now();
  for (let first = 0; first < n; first += batchSize) {
    const size = Math.min(batchSize, n - first);
    const batch = tf.tensor4d(
      Float32Array.from(data.images.subarray(first * pixels, (first + size) * pixels)),
      [size, data.imageSize, data.imageSize, 1],
    );
    const probabilities = model.predictProbabilities(batch);
    const values = await probabilities.data();
    tf.dispose([batch, probabilities]);
    for (let i = 0; i < size; i++) {
      scores[first + i] = values[2 * i + 1];
      predicted[first + i] = values[2 * i + 1] > values[2 * i] ? 1 : 0;
    }
    options.onProgress?.(first + size, n);
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    labels: Uint8Array.from(data.labels),
    scores,
    predicted,
    seconds,
    imagesPerSecond: seconds > 0 ? n / seconds : 0,
  };
}

/**
 * Evaluates `model` on `data`: accuracy, ROC AUC with a bootstrap 95% interval, the backend
 * and the prediction speed; when `data` has lesion masks (phantoms), also where the class
 * activation maps of its pneumothorax images point (see {@link localizeDataset}).
 */
export async function evaluateModel(
  model: PneumothoraxDetectionModel,
  data: LabeledImages,
  options: EvaluateOptions = {},
): Promise<EvaluationReport> {
  const predictions = await (options.predict ?? predictImages)(model, data, options);
  options.onPredictions?.(predictions);
  const { labels, scores, predicted } = predictions;
  const n = labels.length;
  const positives = labels.reduce((sum, label) => sum + label, 0);
  const correct = labels.reduce((sum, label, i) => sum + (label === predicted[i] ? 1 : 0), 0);
  const bothClasses = positives > 0 && positives < n;
  let aucCi95: [number, number] | null = null;
  if (bothClasses) {
    const interval = bootstrapAucInterval(labels, scores, {
      samples: options.bootstrapSamples ?? BOOTSTRAP_SAMPLES,
      seed: options.seed ?? 0,
    });
    aucCi95 = [interval.low, interval.high];
  }
  const localization = await localizeDataset(model, data, {
    batchSize: options.batchSize,
    onProgress: options.onLocalizeProgress,
  });
  return {
    n,
    positives,
    auc: bothClasses ? rocAuc(labels, scores) : null,
    aucCi95,
    accuracy: n > 0 ? correct / n : 0,
    pointingGame: localization?.pointingGame ?? null,
    pointingChance: localization?.chance ?? null,
    pointingFixedPoint: localization && options.fixedPointFrom
      ? priorPointing(options.fixedPointFrom, data)?.pointingGame ?? null
      : null,
    energyInside: localization?.energyInside ?? null,
    backend: currentRung() ?? tf.getBackend(),
    imagesPerSecond: predictions.imagesPerSecond,
  };
}

/**
 * Scoring whole films with a model, in the design it learned: a model trained on whole films
 * scores a film as it is; a model trained on half-films (`lib/data/halves.ts`: one half of a
 * film beside its mirror image) scores each half as it learned and gives the film the score of
 * its more suspicious half. A model must be asked the question it was taught: shown a whole film,
 * a half-film model sees two lungs where it learned one.
 *
 * The design is recorded where the model's training data said it (`SOURCE.json`, copied into the
 * checkpoint's manifest by `deno task train`), so a checkpoint is scored right without a flag.
 *
 * @module
 */
import type { LabeledImages } from "../data/dataset.ts";
import { type Half, mirroredHalf } from "../data/halves.ts";
import type { FilmDesign } from "../data/siim_sample.ts";
import type { CheckpointManifest } from "../model/checkpoint/mod.ts";
import type { PneumothoraxDetectionModel } from "../model/model.ts";
import { predictImages, type Predictions, type PredictOptions } from "./evaluate.ts";

/** The design a checkpoint learned: `halves` when its training data were half-films. */
export function filmDesignOf(manifest: CheckpointManifest): FilmDesign {
  return manifest.data?.source?.details?.design === "halves" ? "halves" : "whole";
}

/** Options of {@link predictFilms}. */
export interface PredictFilmsOptions extends PredictOptions {
  /** The design the model learned (default `whole`): see the module notes. */
  design?: FilmDesign;
}

/** Predictions for whole films, with the half that decided each film's score. */
export interface FilmPredictions extends Predictions {
  /** Per film, the half whose score it got (`undefined` for a whole-film model). */
  halves?: Half[];
  /** Per film, the scores of its left and of its right half (`2 * n`; whole-film model: none). */
  halfScores?: Float32Array;
}

/**
 * Predicts every film of `data` as the model learned: whole, or by its more suspicious half (see
 * the module notes); the predicted class is then that half's. Plain arrays, no tensors.
 *
 * @example
 * ```ts
 * import { createModel } from "./../model/model.ts";
 * import { predictFilms } from "./films.ts";
 * import { selectBackend } from "../backends/backend.ts";
 * await selectBackend({ backend: "cpu" });
 * const model = createModel({ width: 1, imageSize: 16 });
 * const films = { images: new Uint8Array(2 * 256), labels: Uint8Array.of(0, 1), imageSize: 16 };
 * const byHalf = await predictFilms(model, films, { design: "halves" });
 * console.log(byHalf.scores.length, byHalf.halves); // 2 ["left" or "right", ...]
 * model.dispose();
 * ```
 */
export async function predictFilms(
  model: PneumothoraxDetectionModel,
  data: LabeledImages,
  options: PredictFilmsOptions = {},
): Promise<FilmPredictions> {
  if ((options.design ?? "whole") === "whole") return await predictImages(model, data, options);
  const n = data.labels.length;
  const size = data.imageSize;
  const pixels = size * size;
  const halves = new Uint8Array(2 * n * pixels);
  for (let i = 0; i < n; i++) {
    const film = data.images.subarray(i * pixels, (i + 1) * pixels);
    halves.set(mirroredHalf(film, size, "left"), 2 * i * pixels);
    halves.set(mirroredHalf(film, size, "right"), (2 * i + 1) * pixels);
  }
  const byHalf = await predictImages(model, {
    images: halves,
    labels: new Uint8Array(2 * n),
    imageSize: size,
  }, {
    ...options,
    onProgress: options.onProgress && ((done, total) => options.onProgress!(done / 2, total / 2)),
  });
  const scores = new Float32Array(n);
  const predicted = new Uint8Array(n);
  const decided: Half[] = [];
  for (let i = 0; i < n; i++) {
    const right = byHalf.scores[2 * i + 1] > byHalf.scores[2 * i];
    scores[i] = byHalf.scores[2 * i + (right ? 1 : 0)];
    predicted[i] = byHalf.predicted[2 * i + (right ? 1 : 0)];
    decided.push(right ? "right" : "left");
  }
  return {
    labels: Uint8Array.from(data.labels),
    scores,
    predicted,
    seconds: byHalf.seconds,
    imagesPerSecond: byHalf.seconds > 0 ? n / byHalf.seconds : 0,
    halves: decided,
    halfScores: byHalf.scores,
  };
}

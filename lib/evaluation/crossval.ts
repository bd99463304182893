/**
 * Patient-grouped k-fold cross-validation: every image is scored once, by a model trained on
 * the other folds, and no patient has images on both sides of a fold. On a few hundred real
 * X-rays one train/test split leaves a test set of about sixty images, whose AUC interval spans
 * a third of the scale; cross-validation scores all of them, and the pooled AUC's interval is
 * the narrower one. Grouping by patient matters because one patient's films share anatomy,
 * scanner and often devices: a model that saw one of them recognises the others.
 *
 * Folds are dealt seeded and stratified: patients with a pneumothorax image are spread over
 * the folds first, so that every fold holds positives, then the others, each to the fold with
 * the fewest images. Patients are taken in the order of their ids before the seeded shuffle, so
 * the folds do not depend on the order of the images.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import { PneumothoraxDataset } from "../data/dataset.ts";
import { UsageError } from "../core/errors.ts";
import { predictImages } from "./evaluate.ts";
import { type LabeledImages } from "../data/dataset.ts";
import type { LabArrays } from "../data/lab_files.ts";
import type { PneumothoraxDetectionModel } from "../model/model.ts";
import { createRandom, shuffleInPlace } from "../core/random.ts";
import { BOOTSTRAP_SAMPLES, bootstrapAucInterval, rocAuc } from "./roc.ts";
import { NUM_STEPS, train, type TrainOptions, type TrainResult } from "../training/train.ts";
import { gatherImages } from "../data/schema.ts";

/** Folds unless told otherwise. */
export const DEFAULT_FOLDS = 5;

/** Images of every patient, with each image's patient. */
export interface PatientImages extends LabeledImages {
  /** Patient of each image (images of one patient always fall in the same fold). */
  patientIds: string[];
}

/** Options of {@link assignFolds}. */
export interface FoldOptions {
  /** Number of folds, at least 2 and at most the number of patients (default 5). */
  folds?: number;
  /** Seed of the order in which patients are dealt (default 0). */
  seed?: number;
}

/** The AUC of a set of scored images. */
export interface ScoredSet {
  /** Images. */
  n: number;
  /** Pneumothorax images among them. */
  positives: number;
  /** ROC AUC of the pneumothorax probability; null when the set holds one class only. */
  auc: number | null;
}

/** The pooled AUC of every image, with its interval. */
export interface PooledScore extends ScoredSet {
  /** Percentile-bootstrap 95% interval of the pooled AUC; null with one class only. */
  aucCi95: [number, number] | null;
}

/** What {@link summarizeFolds} and {@link crossValidate} report. */
export interface CrossValidationSummary {
  /** Per fold, its held-out images and their AUC. */
  folds: ScoredSet[];
  /** Every image, each scored by the model of its fold. */
  pooled: PooledScore;
}

/** Options of {@link summarizeFolds}. */
export interface SummaryOptions {
  /** Bootstrap resamples of the pooled interval (default {@link BOOTSTRAP_SAMPLES}). */
  bootstrapSamples?: number;
  /** Seed of the bootstrap (default 0). */
  seed?: number;
}

/** One fold's training images (in a seeded random order) and its held-out images. */
export interface FoldSplit {
  /** Images and labels of the other folds. */
  train: LabArrays;
  /** Images and labels of this fold. */
  test: LabArrays;
  /** Index, in the pooled images, of each held-out image, in the order of `test`. */
  testIndices: number[];
}

/** Options of {@link crossValidate}. */
export interface CrossValidateOptions extends FoldOptions, SummaryOptions {
  /** Makes the untrained model of a fold (the same architecture for every fold). */
  createModel: () => PneumothoraxDetectionModel;
  /**
   * `train`'s options for every fold (steps, optimizer, initFrom, freezeBlocks, augment...);
   * the held-out fold is the dataset's test split, which training only evaluates once, at
   * the end (checkpoints are not saved; default `{}`).
   */
  train?: Omit<TrainOptions, "checkpointDir" | "resume" | "evalEvery" | "evalSize">;
  /**
   * The fold of each image from the patient ids and the number of folds, in place of
   * {@link assignFolds} (notebook 06 passes the student's); checked to keep each patient in one
   * fold and to use every fold (default {@link assignFolds}).
   */
  foldsOf?: (patientIds: readonly string[], folds: number) => ArrayLike<number>;
  /** Makes a fresh augmentation for a fold (each fold draws its own; default none). */
  augment?: (fold: number) => TrainOptions["augment"];
  /** Called before a fold trains, with its split. */
  onFoldStart?: (fold: number, split: FoldSplit) => void;
  /** Called after a fold is trained and scored. */
  onFoldDone?: (fold: number, score: ScoredSet, result: TrainResult) => void;
}

/** What {@link crossValidate} returns. */
export interface CrossValidationResult extends CrossValidationSummary {
  /** Fold of each pooled image. */
  foldOf: Uint8Array;
  /** Pneumothorax probability of each pooled image, from its fold's model. */
  scores: Float32Array;
}

function bothClasses(labels: ArrayLike<number>): boolean {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  return positives > 0 && positives < labels.length;
}

function countPositives(labels: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  return positives;
}

/**
 * The fold of each image, grouped by patient: all images of a patient get the same fold.
 * Patients with a pneumothorax image are dealt first, each to the fold with the fewest
 * positives (then the fewest images), then the others to the fold with the fewest images; the
 * patients' order within each group is shuffled by `seed`.
 *
 * @throws {UsageError} when the arrays differ in length, or `folds` is not in [2, patients]
 *
 * @example
 * ```ts
 * import { assignFolds } from "./crossval.ts";
 * const folds = assignFolds(["a", "a", "b", "c", "d"], [1, 0, 1, 0, 0], { folds: 2 });
 * if (folds[0] !== folds[1]) throw new Error("patient a's images share a fold");
 * ```
 */
export function assignFolds(
  patientIds: readonly string[],
  labels: ArrayLike<number>,
  options: FoldOptions = {},
): Uint8Array {
  const folds = options.folds ?? DEFAULT_FOLDS;
  if (patientIds.length !== labels.length) {
    throw new UsageError(
      `assignFolds(): ${patientIds.length} patient ids for ${labels.length} labels`,
    );
  }
  const members = new Map<string, number[]>();
  patientIds.forEach((id, i) => members.set(id, [...(members.get(id) ?? []), i]));
  requireInteger("folds", folds, { min: 2, max: members.size, why: "the patients" });
  const random = createRandom(options.seed ?? 0);
  const patients = [...members.keys()].sort().map((id) => members.get(id)!);
  const positive = shuffleInPlace(patients.filter((p) => p.some((i) => labels[i] === 1)), random);
  const negative = shuffleInPlace(patients.filter((p) => p.every((i) => labels[i] !== 1)), random);
  const size = new Array<number>(folds).fill(0);
  const positives = new Array<number>(folds).fill(0);
  const foldOf = new Uint8Array(labels.length);
  const deal = (images: number[], byPositives: boolean) => {
    let best = 0;
    for (let fold = 1; fold < folds; fold++) {
      const fewerPositives = positives[fold] - positives[best];
      const order = byPositives && fewerPositives !== 0 ? fewerPositives : size[fold] - size[best];
      if (order < 0) best = fold;
    }
    images.forEach((i) => {
      foldOf[i] = best;
      positives[best] += labels[i] === 1 ? 1 : 0;
    });
    size[best] += images.length;
  };
  positive.forEach((images) => deal(images, true));
  negative.forEach((images) => deal(images, false));
  return foldOf;
}

/** `foldOf` as a fold per image, or a {@link UsageError} saying how it splits the patients. */
function checkedFolds(
  foldOf: ArrayLike<number>,
  patientIds: readonly string[],
  folds: number,
): Uint8Array {
  if (foldOf?.length !== patientIds.length) {
    throw new UsageError(`foldsOf gave ${foldOf?.length} folds for ${patientIds.length} images`);
  }
  const seen = new Map<string, number>();
  for (let i = 0; i < patientIds.length; i++) {
    const fold = foldOf[i];
    if (!Number.isInteger(fold) || fold < 0 || fold >= folds) {
      throw new UsageError(`foldsOf gave image ${i} fold ${fold}; folds are 0 to ${folds - 1}`);
    }
    const before = seen.get(patientIds[i]);
    if (before !== undefined && before !== fold) {
      throw new UsageError(
        `foldsOf put patient ${patientIds[i]} in folds ${before} and ${fold}: a model would ` +
          "be scored on a patient it was trained on",
      );
    }
    seen.set(patientIds[i], fold);
  }
  const empty = Array.from({ length: folds }, (_, f) => f).filter((f) =>
    !Array.prototype.includes.call(foldOf, f)
  );
  if (empty.length > 0) throw new UsageError(`foldsOf left fold ${empty[0]} empty`);
  return Uint8Array.from(foldOf);
}

function gather(data: LabeledImages, indices: readonly number[]): LabArrays {
  const images = gatherImages(data, indices);
  return { images, labels: Uint8Array.from(indices, (index) => data.labels[index]) };
}

/**
 * Splits the pooled images for `fold`: its images held out, in their pooled order; the other
 * folds' images for training, shuffled by `seed` (training reads its batches in order, and the
 * pooled files may be sorted by label or patient).
 */
export function splitFold(
  data: LabeledImages,
  foldOf: ArrayLike<number>,
  options: { fold: number; seed?: number },
): FoldSplit {
  const trainIndices: number[] = [];
  const testIndices: number[] = [];
  for (let i = 0; i < foldOf.length; i++) {
    (foldOf[i] === options.fold ? testIndices : trainIndices).push(i);
  }
  if (testIndices.length === 0 || trainIndices.length === 0) {
    throw new UsageError(`fold ${options.fold} leaves no images to hold out or to train on`);
  }
  shuffleInPlace(trainIndices, createRandom(options.seed ?? 0));
  return {
    train: gather(data, trainIndices),
    test: gather(data, testIndices),
    testIndices,
  };
}

/** The AUC of `labels` and `scores`, or null when they hold one class only. */
function scoreSet(labels: ArrayLike<number>, scores: ArrayLike<number>): ScoredSet {
  return {
    n: labels.length,
    positives: countPositives(labels),
    auc: bothClasses(labels) ? rocAuc(labels, scores) : null,
  };
}

/**
 * Per-fold and pooled AUCs of cross-validated scores: each fold's held-out images on their
 * own, and every image together with a percentile-bootstrap 95% interval (lib/roc.ts).
 *
 * @example
 * ```ts
 * import { summarizeFolds } from "./crossval.ts";
 * const summary = summarizeFolds([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], {
 *   foldOf: [0, 0, 1, 1],
 *   bootstrapSamples: 100,
 * });
 * if (summary.pooled.auc !== 1) throw new Error("perfectly ranked");
 * ```
 */
export function summarizeFolds(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: SummaryOptions & { foldOf: ArrayLike<number> },
): CrossValidationSummary {
  const { foldOf } = options;
  if (labels.length !== scores.length || labels.length !== foldOf.length) {
    throw new UsageError(
      `summarizeFolds(): ${labels.length} labels, ${scores.length} scores and ` +
        `${foldOf.length} folds; expected one of each per image`,
    );
  }
  let folds = 0;
  for (let i = 0; i < foldOf.length; i++) folds = Math.max(folds, foldOf[i] + 1);
  const perFold = Array.from({ length: folds }, (_, fold) => {
    const members: number[] = [];
    for (let i = 0; i < foldOf.length; i++) if (foldOf[i] === fold) members.push(i);
    return scoreSet(members.map((i) => labels[i]), members.map((i) => scores[i]));
  });
  const pooled = scoreSet(labels, scores);
  const interval = pooled.auc === null ? null : bootstrapAucInterval(labels, scores, {
    samples: options.bootstrapSamples ?? BOOTSTRAP_SAMPLES,
    seed: options.seed ?? 0,
  });
  return {
    folds: perFold,
    pooled: { ...pooled, aucCi95: interval && [interval.low, interval.high] },
  };
}

/**
 * Patient-grouped k-fold cross-validation of the lab's training: for each fold, a fresh model
 * from `options.createModel` is trained with `train` on the other folds, then scores its
 * held-out fold. Returns the per-fold and pooled AUCs, and every image's fold and score.
 *
 * @throws {UsageError} on a bad option or folds (see {@link assignFolds}), and whatever
 *   `train` throws
 */
export async function crossValidate(
  data: PatientImages,
  options: CrossValidateOptions,
): Promise<CrossValidationResult> {
  const seed = options.seed ?? 0;
  const folds = options.folds ?? DEFAULT_FOLDS;
  const foldOf = options.foldsOf
    ? checkedFolds(options.foldsOf(data.patientIds, folds), data.patientIds, folds)
    : assignFolds(data.patientIds, data.labels, options);
  const scores = new Float32Array(data.labels.length);
  for (let fold = 0; fold < folds; fold++) {
    const split = splitFold(data, foldOf, { fold, seed: seed + fold });
    options.onFoldStart?.(fold, split);
    const dataset = PneumothoraxDataset.fromArrays(split.train, split.test, {
      imageSize: data.imageSize,
      seed: seed + fold,
    });
    const model = options.createModel();
    try {
      const result = await train(model, dataset, {
        ...options.train,
        augment: options.augment?.(fold) ?? options.train?.augment,
        evalEvery: Math.max(1, options.train?.steps ?? NUM_STEPS),
      });
      const predictions = await predictImages(model, { ...split.test, imageSize: data.imageSize });
      split.testIndices.forEach((index, k) => scores[index] = predictions.scores[k]);
      options.onFoldDone?.(fold, scoreSet(split.test.labels, predictions.scores), result);
    } finally {
      model.dispose();
    }
  }
  return { ...summarizeFolds(data.labels, scores, { ...options, foldOf }), foldOf, scores };
}

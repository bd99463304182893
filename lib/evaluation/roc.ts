/**
 * ROC analysis of a binary classifier, computed exactly as scikit-learn computes it
 * (`roc_curve`, `auc`, `precision_recall_curve`, `average_precision_score`; the golden tests
 * compare with scikit-learn 1.2.1 to 1e-12), plus what a clinical reader asks next: a bootstrap
 * interval for the AUC, sensitivity and specificity at a threshold, and the threshold that
 * reaches a target sensitivity.
 *
 * Written by hand because no maintained npm package reproduces scikit-learn's curves (tied
 * scores grouped into one point, collinear points dropped, its first threshold).
 *
 * Labels are 0 (normal) or 1 (pneumothorax, the lab's class 1); a score is larger for "more
 * likely pneumothorax", such as the softmax probability of class 1. Unlike scikit-learn, which
 * warns and returns NaN when `yTrue` has a single class, every function here that needs both
 * classes throws a {@link UsageError}.
 *
 * @module
 */

import { requireInteger } from "../core/validate.ts";
import { UsageError } from "../core/errors.ts";
import { createRandom, randomInt } from "../core/random.ts";

/** The bootstrap resamples drawn by {@link bootstrapAucInterval} unless told otherwise. */
export const BOOTSTRAP_SAMPLES = 1000;
/** The confidence level of {@link bootstrapAucInterval} unless told otherwise. */
export const CONFIDENCE_LEVEL = 0.95;

/** An ROC curve as scikit-learn's `roc_curve` returns it; all three arrays have one length. */
export interface RocCurve {
  /** False-positive rate at each threshold, increasing from 0 to 1. */
  fpr: number[];
  /** True-positive rate (sensitivity) at each threshold, increasing from 0 to 1. */
  tpr: number[];
  /** Decreasing thresholds: a case is called positive when its score is `>=` the threshold. */
  thresholds: number[];
}

/** Options of {@link rocCurve}. */
export interface RocCurveOptions {
  /**
   * Drop points collinear with their neighbours, as scikit-learn's `drop_intermediate`; they do
   * not change the plotted curve or its area. Default `true`.
   */
  dropIntermediate?: boolean;
  /**
   * The threshold of the added first point (0, 0): `"maxPlusOne"` (the largest score plus 1, as
   * scikit-learn up to 1.2) or `"infinity"` (as scikit-learn 1.3 and later). Default
   * `"maxPlusOne"`, the behaviour of the scikit-learn the golden tests were made with.
   */
  firstThreshold?: "maxPlusOne" | "infinity";
}

/** What notebook 04's `computeRoc` (the lab's `compute_roc`) returns: the curve and its area. */
export interface Roc {
  /** False-positive rate, as {@link RocCurve.fpr}. */
  fpr: number[];
  /** True-positive rate, as {@link RocCurve.tpr}. */
  tpr: number[];
  /** Area under the ROC curve: 0.5 for a constant or random score, 1 for a perfect one. */
  auroc: number;
}

/** A precision-recall curve as scikit-learn's `precision_recall_curve` returns it. */
export interface PrecisionRecallCurve {
  /** Precision at each threshold, then a final 1. */
  precision: number[];
  /** Recall at each threshold (decreasing), then a final 0. */
  recall: number[];
  /** Increasing thresholds; one fewer than `precision` and `recall`. */
  thresholds: number[];
}

/** The confusion counts and rates of calling `score >= threshold` positive. */
export interface OperatingPoint {
  /** The threshold used. */
  threshold: number;
  /** True-positive rate, TP / (TP + FN). */
  sensitivity: number;
  /** True-negative rate, TN / (TN + FP). */
  specificity: number;
  /** Positive predictive value, TP / (TP + FP); NaN when nothing is called positive. */
  precision: number;
  /** (TP + TN) / n. */
  accuracy: number;
  /** Positives called positive. */
  truePositives: number;
  /** Negatives called positive. */
  falsePositives: number;
  /** Negatives called negative. */
  trueNegatives: number;
  /** Positives called negative. */
  falseNegatives: number;
}

/** Options of {@link bootstrapAucInterval}. */
export interface BootstrapOptions {
  /** Resamples to draw. Default {@link BOOTSTRAP_SAMPLES} (1000). */
  samples?: number;
  /** Seed of the resampling. Default 0. */
  seed?: number;
  /** Confidence level of the percentile interval, in (0, 1). Default 0.95. */
  level?: number;
  /**
   * Resample positives and negatives separately, keeping their counts (no resample is ever
   * skipped). Default `false`: resample all cases together, as the common scikit-learn recipe
   * does, and skip resamples that hold one class only.
   */
  stratified?: boolean;
}

/** A bootstrap confidence interval of the AUC. */
export interface AucInterval {
  /** Lower bound: the `(1 - level) / 2` percentile of the resampled AUCs. */
  low: number;
  /** Upper bound: the `(1 + level) / 2` percentile of the resampled AUCs. */
  high: number;
  /** The confidence level. */
  level: number;
  /** Resamples that gave an AUC. */
  samples: number;
  /** Resamples skipped because they held one class only (always 0 when stratified). */
  skipped: number;
}

/** Cases sorted by decreasing score, grouped by equal score (scikit-learn's `_binary_clf_curve`). */
interface GroupedCases {
  /** Cumulative true positives at the end of each group. */
  tps: number[];
  /** Cumulative false positives at the end of each group. */
  fps: number[];
  /** The score of each group, decreasing. */
  scores: number[];
}

/**
 * Checks that labels are 0/1, scores are finite and both have one non-zero length.
 * Throws a {@link UsageError} naming the function, the array, the index and the value.
 */
function checkInputs(fn: string, yTrue: ArrayLike<number>, yScore: ArrayLike<number>): void {
  if (yTrue.length !== yScore.length) {
    throw new UsageError(
      `${fn}: yTrue has ${yTrue.length} labels but yScore has ${yScore.length} scores`,
    );
  }
  if (yTrue.length === 0) throw new UsageError(`${fn}: yTrue and yScore are empty`);
  for (let i = 0; i < yTrue.length; i++) {
    if (yTrue[i] !== 0 && yTrue[i] !== 1) {
      throw new UsageError(`${fn}: yTrue[${i}] is ${yTrue[i]}; labels must be 0 or 1`);
    }
    if (!Number.isFinite(yScore[i])) {
      throw new UsageError(`${fn}: yScore[${i}] is ${yScore[i]}; scores must be finite numbers`);
    }
  }
}

/** Counts the positives in 0/1 labels. */
function countPositives(yTrue: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < yTrue.length; i++) positives += yTrue[i];
  return positives;
}

/** Throws a {@link UsageError} unless both classes occur in `yTrue`. */
function requireBothClasses(fn: string, yTrue: ArrayLike<number>): void {
  const positives = countPositives(yTrue);
  if (positives === 0 || positives === yTrue.length) {
    const only = positives === 0 ? "0 (normal)" : "1 (pneumothorax)";
    throw new UsageError(
      `${fn}: yTrue holds only label ${only} in ${yTrue.length} cases; ` +
        "ROC needs both classes (scikit-learn would warn and return NaN)",
    );
  }
}

/** Indices of the cases ordered by decreasing score. */
function decreasingScoreOrder(yScore: ArrayLike<number>): Uint32Array {
  const order = new Uint32Array(yScore.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => yScore[b] - yScore[a]);
}

/** Cumulative counts at each distinct score, from the highest score down. */
function groupCases(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): GroupedCases {
  const order = decreasingScoreOrder(yScore);
  const grouped: GroupedCases = { tps: [], fps: [], scores: [] };
  let tp = 0;
  for (let k = 0; k < order.length; k++) {
    tp += yTrue[order[k]];
    const score = yScore[order[k]];
    if (k === order.length - 1 || yScore[order[k + 1]] !== score) {
      grouped.tps.push(tp);
      grouped.fps.push(k + 1 - tp);
      grouped.scores.push(score);
    }
  }
  return grouped;
}

/** Keeps group 0, the last group and every group where the curve turns (`np.diff(_, 2) != 0`). */
function dropCollinear(grouped: GroupedCases): GroupedCases {
  const { tps, fps, scores } = grouped;
  if (tps.length <= 2) return grouped;
  const kept: GroupedCases = { tps: [], fps: [], scores: [] };
  for (let i = 0; i < tps.length; i++) {
    const corner = i === 0 || i === tps.length - 1 ||
      fps[i + 1] - 2 * fps[i] + fps[i - 1] !== 0 || tps[i + 1] - 2 * tps[i] + tps[i - 1] !== 0;
    if (corner) {
      kept.tps.push(tps[i]);
      kept.fps.push(fps[i]);
      kept.scores.push(scores[i]);
    }
  }
  return kept;
}

/**
 * The receiver operating characteristic, as scikit-learn's `roc_curve(y_true, y_score)`: one
 * point per distinct score (ties grouped), collinear points dropped, and a first point (0, 0)
 * whose threshold is above every score.
 *
 * @param yTrue labels, 0 or 1, with both classes present
 * @param yScore finite scores, larger for "more likely 1"
 * @throws {UsageError} on a length mismatch, a label other than 0/1, a non-finite score, or a
 * single class
 *
 * @example
 * ```ts
 * import { rocCurve } from "./roc.ts";
 * const { fpr, tpr, thresholds } = rocCurve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
 * // as scikit-learn's documentation: fpr [0, 0, 0.5, 0.5, 1], tpr [0, 0.5, 0.5, 1, 1]
 * if (fpr.join() !== "0,0,0.5,0.5,1" || tpr.join() !== "0,0.5,0.5,1,1") throw new Error();
 * if (thresholds.join() !== "1.8,0.8,0.4,0.35,0.1") throw new Error();
 * ```
 */
export function rocCurve(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
  options: RocCurveOptions = {},
): RocCurve {
  checkInputs("rocCurve()", yTrue, yScore);
  requireBothClasses("rocCurve()", yTrue);
  const grouped = groupCases(yTrue, yScore);
  const { tps, fps, scores } = options.dropIntermediate === false
    ? grouped
    : dropCollinear(grouped);
  const positives = tps[tps.length - 1];
  const negatives = fps[fps.length - 1];
  const first = options.firstThreshold === "infinity" ? Infinity : scores[0] + 1;
  return {
    fpr: [0, ...fps.map((fp) => fp / negatives)],
    tpr: [0, ...tps.map((tp) => tp / positives)],
    thresholds: [first, ...scores],
  };
}

/**
 * Area under a curve by the trapezoid rule, as scikit-learn's `auc(x, y)`: `x` must be
 * monotonic, increasing or decreasing (a decreasing `x` gives the same positive area).
 *
 * @throws {UsageError} on a length mismatch, fewer than 2 points, or a non-monotonic `x`
 *
 * @example
 * ```ts
 * import { auc } from "./roc.ts";
 * if (auc([0, 0.5, 1], [0, 0.5, 1]) !== 0.5) throw new Error("the chance diagonal");
 * if (auc([1, 0], [1, 1]) !== 1) throw new Error("decreasing x");
 * ```
 */
export function auc(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) {
    throw new UsageError(`auc(): x has ${x.length} values but y has ${y.length}`);
  }
  if (x.length < 2) {
    throw new UsageError(`auc(): needs at least 2 points, got ${x.length}`);
  }
  let decreasing = false;
  let increasing = false;
  for (let i = 1; i < x.length; i++) {
    if (x[i] < x[i - 1]) decreasing = true;
    if (x[i] > x[i - 1]) increasing = true;
  }
  if (decreasing && increasing) {
    throw new UsageError("auc(): x is neither increasing nor decreasing");
  }
  let area = 0;
  for (let i = 1; i < x.length; i++) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
  return decreasing ? -area : area;
}

/**
 * The area under the ROC curve, as scikit-learn's `roc_auc_score`: {@link auc} of
 * {@link rocCurve}. (Notebook 04's `computeRoc` returns the curve with it; writing it is the
 * student's.)
 *
 * @throws {UsageError} as {@link rocCurve}
 *
 * @example
 * ```ts
 * import { rocAuc } from "./roc.ts";
 * if (rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) !== 0.5) throw new Error("a constant scores 0.5");
 * ```
 */
export function rocAuc(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): number {
  const { fpr, tpr } = rocCurve(yTrue, yScore);
  return auc(fpr, tpr);
}

/**
 * Precision against recall, as scikit-learn's `precision_recall_curve(y_true, probas_pred)`
 * (1.2): one point per distinct score, ordered by increasing threshold, then the point
 * (recall 0, precision 1) without a threshold.
 *
 * @throws {UsageError} as {@link rocCurve}, except that all-positive labels are allowed; labels
 * without a positive are an error (scikit-learn warns and sets recall to 1)
 *
 * @example
 * ```ts
 * import { precisionRecallCurve } from "./roc.ts";
 * const { precision, recall } = precisionRecallCurve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
 * if (precision.join() !== `0.5,${2 / 3},0.5,1,1` || recall.join() !== "1,1,0.5,0.5,0") {
 *   throw new Error("as scikit-learn's documentation");
 * }
 * ```
 */
export function precisionRecallCurve(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
): PrecisionRecallCurve {
  checkInputs("precisionRecallCurve()", yTrue, yScore);
  if (countPositives(yTrue) === 0) {
    throw new UsageError(
      `precisionRecallCurve(): yTrue has no positive (label 1) in ${yTrue.length} cases`,
    );
  }
  const { tps, fps, scores } = groupCases(yTrue, yScore);
  const positives = tps[tps.length - 1];
  const precision = tps.map((tp, i) => tp / (tp + fps[i])).reverse();
  const recall = tps.map((tp) => tp / positives).reverse();
  return { precision: [...precision, 1], recall: [...recall, 0], thresholds: scores.reverse() };
}

/**
 * Average precision, as scikit-learn's `average_precision_score`: the step-wise area under the
 * precision-recall curve, `sum((R[n] - R[n+1]) * P[n])`.
 *
 * @throws {UsageError} as {@link precisionRecallCurve}
 *
 * @example
 * ```ts
 * import { averagePrecision } from "./roc.ts";
 * const ap = averagePrecision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
 * if (Math.abs(ap - 0.8333333333333333) > 1e-15) throw new Error("as scikit-learn");
 * ```
 */
export function averagePrecision(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): number {
  const { precision, recall } = precisionRecallCurve(yTrue, yScore);
  let sum = 0;
  for (let i = 0; i < recall.length - 1; i++) sum += (recall[i] - recall[i + 1]) * precision[i];
  return sum;
}

/**
 * Sensitivity, specificity and the confusion counts when cases with `score >= threshold` are
 * called pneumothorax (the convention of {@link rocCurve}'s thresholds).
 *
 * @throws {UsageError} as {@link rocCurve}, or when `threshold` is NaN
 *
 * @example
 * ```ts
 * import { operatingPoint } from "./roc.ts";
 * const point = operatingPoint([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.35);
 * if (point.sensitivity !== 1 || point.specificity !== 0.5) throw new Error();
 * ```
 */
export function operatingPoint(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
  threshold: number,
): OperatingPoint {
  checkInputs("operatingPoint()", yTrue, yScore);
  requireBothClasses("operatingPoint()", yTrue);
  if (Number.isNaN(threshold)) throw new UsageError("operatingPoint(): threshold is NaN");
  let tp = 0, fp = 0, tn = 0, fn = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const called = yScore[i] >= threshold;
    if (yTrue[i] === 1 && called) tp++;
    else if (yTrue[i] === 1) fn++;
    else if (called) fp++;
    else tn++;
  }
  return {
    threshold,
    sensitivity: tp / (tp + fn),
    specificity: tn / (tn + fp),
    precision: tp + fp === 0 ? NaN : tp / (tp + fp),
    accuracy: (tp + tn) / yTrue.length,
    truePositives: tp,
    falsePositives: fp,
    trueNegatives: tn,
    falseNegatives: fn,
  };
}

/**
 * The operating point with the highest threshold (so the best specificity) whose sensitivity
 * reaches `target`; the threshold is one of the scores.
 *
 * @param target the sensitivity to reach, in (0, 1]
 * @throws {UsageError} as {@link rocCurve}, or when `target` is outside (0, 1]
 *
 * @example
 * ```ts
 * import { thresholdForSensitivity } from "./roc.ts";
 * const point = thresholdForSensitivity([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.9);
 * if (point.threshold !== 0.35 || point.sensitivity !== 1) throw new Error();
 * ```
 */
export function thresholdForSensitivity(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
  target: number,
): OperatingPoint {
  if (!(target > 0 && target <= 1)) {
    throw new UsageError(`thresholdForSensitivity(): target is ${target}; it must be in (0, 1]`);
  }
  checkInputs("thresholdForSensitivity()", yTrue, yScore);
  requireBothClasses("thresholdForSensitivity()", yTrue);
  const { tps, scores } = groupCases(yTrue, yScore);
  const positives = tps[tps.length - 1];
  const reached = tps.findIndex((tp) => tp / positives >= target);
  return operatingPoint(yTrue, yScore, scores[reached]);
}

/** Cases in decreasing score order, as {@link bootstrapAucInterval} resamples them. */
interface SortedCases {
  /** Labels in decreasing score order. */
  labels: Uint8Array;
  /** One past the last position of each group of tied scores. */
  groupEnds: Uint32Array;
  /** Position of original case `i` in the order. */
  rank: Uint32Array;
}

/** Sorts the cases by decreasing score once, for every resample. */
function sortForResampling(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): SortedCases {
  const order = decreasingScoreOrder(yScore);
  const ends: number[] = [];
  for (let k = 1; k <= order.length; k++) {
    if (k === order.length || yScore[order[k]] !== yScore[order[k - 1]]) ends.push(k);
  }
  const rank = new Uint32Array(order.length);
  order.forEach((i, k) => rank[i] = k);
  return {
    labels: Uint8Array.from(order, (i) => yTrue[i]),
    groupEnds: Uint32Array.from(ends),
    rank,
  };
}

/**
 * The area under the ROC curve when the case at position `k` counts `weights[k]` times: per
 * group of tied scores, the trapezoid `negatives * (positivesBefore + positives / 2)`,
 * normalised. Equal to {@link rocAuc} for unit weights, in O(n) without sorting.
 */
function weightedAuc(cases: SortedCases, weights: Uint32Array): number {
  let truePositives = 0, falsePositives = 0, area = 0, start = 0;
  for (const end of cases.groupEnds) {
    let positives = 0, negatives = 0;
    for (let k = start; k < end; k++) {
      if (cases.labels[k] === 1) positives += weights[k];
      else negatives += weights[k];
    }
    area += negatives * (truePositives + positives / 2);
    truePositives += positives;
    falsePositives += negatives;
    start = end;
  }
  return area / (truePositives * falsePositives);
}

/** The `q`-quantile of sorted values, interpolated linearly as numpy's default `percentile`. */
function quantile(sorted: Float64Array, q: number): number {
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

/**
 * A percentile-bootstrap confidence interval for the AUC: the AUC of `samples` resamples drawn
 * with replacement, and the percentiles `(1 -/+ level) / 2` of them. Not stratified unless
 * {@link BootstrapOptions.stratified} is set: resamples with one class only are skipped and
 * counted in `skipped`. Deterministic for a given seed.
 *
 * @throws {UsageError} as {@link rocCurve}, on a bad option, or when every resample was skipped
 *
 * @example
 * ```ts
 * import { bootstrapAucInterval, rocAuc } from "./roc.ts";
 * const yTrue = [0, 0, 0, 1, 0, 1, 1, 1], yScore = [0.1, 0.2, 0.3, 0.35, 0.5, 0.6, 0.7, 0.9];
 * const { low, high } = bootstrapAucInterval(yTrue, yScore, { samples: 200, seed: 1 });
 * const auroc = rocAuc(yTrue, yScore);
 * if (!(low <= auroc && auroc <= high)) throw new Error("the interval holds the AUC");
 * ```
 */
export function bootstrapAucInterval(
  yTrue: ArrayLike<number>,
  yScore: ArrayLike<number>,
  options: BootstrapOptions = {},
): AucInterval {
  const { samples = BOOTSTRAP_SAMPLES, seed = 0, level = CONFIDENCE_LEVEL } = options;
  requireInteger("bootstrapAucInterval(): samples", samples, { min: 1 });
  if (!(level > 0 && level < 1)) {
    throw new UsageError(`bootstrapAucInterval(): level is ${level}; it must be in (0, 1)`);
  }
  checkInputs("bootstrapAucInterval()", yTrue, yScore);
  requireBothClasses("bootstrapAucInterval()", yTrue);
  const cases = sortForResampling(yTrue, yScore);
  const strata = options.stratified ? [[], []] as number[][] : [[]] as number[][];
  for (let i = 0; i < yTrue.length; i++) strata[options.stratified ? yTrue[i] : 0].push(i);
  const random = createRandom(seed);
  const weights = new Uint32Array(yTrue.length);
  const aucs: number[] = [];
  for (let s = 0; s < samples; s++) {
    weights.fill(0);
    for (const members of strata) {
      for (let j = 0; j < members.length; j++) {
        weights[cases.rank[members[randomInt(random, members.length)]]]++;
      }
    }
    let positives = 0;
    for (let k = 0; k < weights.length; k++) positives += cases.labels[k] * weights[k];
    if (positives > 0 && positives < weights.length) aucs.push(weightedAuc(cases, weights));
  }
  if (aucs.length === 0) {
    throw new UsageError(
      `bootstrapAucInterval(): all ${samples} resamples held one class; use stratified: true`,
    );
  }
  const sorted = Float64Array.from(aucs).sort();
  return {
    low: quantile(sorted, (1 - level) / 2),
    high: quantile(sorted, (1 + level) / 2),
    level,
    samples: aucs.length,
    skipped: samples - aucs.length,
  };
}

/**
 * Training the lab's model (section 2 of the lab): softmax cross-entropy on the logits,
 * Nesterov momentum, batches of 15 training images in order, the cost and accuracy of 100
 * random test images every 10 steps, a checkpoint every 100 steps, TensorBoard summaries. Adam
 * is offered beside the lab's optimizer: it trains the lab's model in far fewer steps.
 * Progress is reported through callbacks: a notebook redraws a plot, the CLI a progress bar.
 *
 * A run can stop and continue: checkpoints hold the optimizer's state and the dataset's batch
 * cursors, so a resumed run sees the same batches as an uninterrupted one and, on the same
 * backend, computes the same costs. A NaN or infinite cost stops the run with a
 * {@link LabError} and nothing is saved after it; an aborted `signal` (Ctrl-C) saves a final
 * checkpoint and returns.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import * as tf from "@tensorflow/tfjs";
import {
  type CheckpointData,
  type CheckpointManifest,
  type CheckpointMetrics,
  readCheckpointManifest,
  restoreCheckpoint,
  saveCheckpoint,
  type SplitMetrics,
} from "../model/checkpoint/mod.ts";
import type { Batch, MaskedBatch, PneumothoraxDataset } from "../data/dataset.ts";
import { LabError, UsageError } from "../core/errors.ts";
import { predictLogitsInBatches } from "../model/predict.ts";
import { isOptimizerName, OPTIMIZER_NAMES, type OptimizerName } from "../model/optimizers.ts";
import {
  computeAccuracy,
  type CostFunction,
  type PredictFunction,
  trainingCost,
} from "../model/loss.ts";
import { BLOCK_COUNT, freezeBlocks, type PneumothoraxDetectionModel } from "../model/model.ts";
import { createParallelTrainer, maxThreadBatchSize, type ParallelTrainer } from "./parallel.ts";
import { openRunSummaries, type RunSummaries } from "./tensorboard.ts";
import { lesionMapCost } from "./lesion_maps.ts";

/** Training images per step, as in the lab. */
export const BATCH_SIZE = 15;
/** Learning rate of the momentum optimizer, as in the lab. */
export const LEARNING_RATE = 0.05;
/**
 * Learning rate of the Adam optimizer unless told otherwise: it learned the phantoms in the
 * fewest steps of the rates tried (0.001 was unstable; see the README).
 */
export const ADAM_LEARNING_RATE = 0.0003;
/** Adam's decay rates of the first and second moments (the usual values). */
const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
/** Momentum of the optimizer, as in the lab (Nesterov's variant). */
export const MOMENTUM = 0.9;
/** The lab uses Nesterov momentum. */
export const USE_NESTEROV = true;
/** Evaluate on test images every this many steps, as in the lab. */
export const EVAL_EVERY = 10;
/** Test images per evaluation, as in the lab. */
export const EVAL_SIZE = 100;
/** Save a checkpoint every this many steps, as in the lab. */
export const CHECKPOINT_EVERY = 100;
/** Training steps of a run unless told otherwise (this port's default). */
export const NUM_STEPS = 1000;

/** What {@link TrainOptions.onStep} receives after each training step. */
export interface StepReport {
  /** Steps done, counting those before a resume. */
  step: number;
  /** Steps the run goes to. */
  steps: number;
  /** Softmax cross-entropy of this step's batch (before the update). */
  cost: number;
  /** Accuracy on this step's batch (before the update). */
  accuracy: number;
  /** Training images per second in this run, not counting evaluations and checkpoints. */
  imagesPerSecond: number;
  /** Seconds since this run started. */
  elapsedSeconds: number;
  /** Estimated seconds to the last step, at this run's pace so far. */
  etaSeconds: number;
}

/** Cost and accuracy at a step: of a training batch, or of the test images (`onEval`). */
export interface StepMetrics {
  /** Steps done. */
  step: number;
  /** Mean softmax cross-entropy. */
  cost: number;
  /** Fraction of images whose predicted class is the label's. */
  accuracy: number;
}

/** What {@link TrainOptions.onCheckpoint} receives after each checkpoint. */
export interface CheckpointReport {
  /** Steps done. */
  step: number;
  /** The checkpoint directory. */
  dir: string;
  /** Its manifest. */
  manifest: CheckpointManifest;
}

/** Changes a batch of training images into a new tensor of the same shape (see lib/augment.ts). */
export type Augmentation = (images: tf.Tensor4D) => tf.Tensor4D;

/** Options of {@link train}. */
export interface TrainOptions {
  /** Steps to reach, counting those of a resumed checkpoint (default {@link NUM_STEPS}). */
  steps?: number;
  /** Training images per step (default {@link BATCH_SIZE}). */
  batchSize?: number;
  /**
   * `momentum`, the lab's Nesterov momentum, or `adam` (default `momentum`). A resumed run uses
   * the checkpoint's.
   */
  optimizer?: OptimizerName;
  /** Learning rate (default {@link LEARNING_RATE}, or {@link ADAM_LEARNING_RATE} for Adam). */
  learningRate?: number;
  /** Evaluate on test images every this many steps (default {@link EVAL_EVERY}). */
  evalEvery?: number;
  /** Test images per evaluation, capped at the test set's size (default {@link EVAL_SIZE}). */
  evalSize?: number;
  /** Checkpoint every this many steps, and at the end (default {@link CHECKPOINT_EVERY}). */
  checkpointEvery?: number;
  /** Checkpoint directory (default: no checkpoints). */
  checkpointDir?: string;
  /** Continue from the checkpoint in `checkpointDir`: weights, momentum, batches (default false). */
  resume?: boolean;
  /**
   * Start from this checkpoint's weights (fine-tuning on other data): the optimizer starts
   * fresh and the batches are this dataset's own, not the checkpoint's. Its width and image
   * size must be the model's. Not with `resume` (default none).
   */
  initFrom?: string;
  /**
   * Keep the weights of the first this many of the model's four convolution blocks fixed and
   * train the rest (fine-tuning on little data); the blocks become trainable again when the run
   * ends. Not with `resume` or `workers` (default 0).
   */
  freezeBlocks?: number;
  /**
   * Applied to the images of every training batch before its step, e.g. a seeded random
   * augmentation (lib/augment.ts); it returns a new tensor and leaves its input alone. A run
   * resumed with one does not repeat the augmentations of an uninterrupted run (default none).
   */
  augment?: Augmentation;
  /**
   * The cost each step minimizes and every report gives (default {@link trainingCost}, the
   * lab's softmax cross-entropy on the logits). Notebook 02 passes the student's, so a wrong
   * cost trains wrongly, and shows it. Not with `workers`.
   */
  cost?: CostFunction;
  /**
   * The prediction behind every accuracy reported (default the argmax of the logits, as
   * {@link computeAccuracy}).
   * Notebook 02 passes the student's. Not with `workers`.
   */
  predict?: PredictFunction;
  /**
   * Weight of the lesion-map term (lib/training/lesion_maps.ts) added to the cost each step
   * minimizes: the class activation map of every training image with a lesion mask is pushed to
   * put its mass inside the outline. The training split must hold masks; an augmentation then
   * moves each mask with its image. The costs reported stay the classification cost alone. Not
   * with `workers` (default 0: labels only).
   */
  lesionMaps?: number;
  /** Run folder for TensorBoard summaries, `<logDir>/{train,test}` (default: none written). */
  logDir?: string;
  /** Aborting it stops the run after the current step, with a final checkpoint (default none). */
  signal?: AbortSignal;
  /**
   * Module workers that compute the gradients of each batch in parallel, one model replica per
   * worker, with large batches split into passes that fit wasm's memory (see
   * lib/parallel_train.ts). 0 computes them on the calling thread (default 0). The updates are
   * the same either way, within float rounding.
   */
  workers?: number;
  /** Description of the training data, stored in checkpoints (default none). */
  data?: CheckpointData;
  /** Called after each training step. */
  onStep?: (report: StepReport) => void;
  /** Called after each test evaluation. */
  onEval?: (report: StepMetrics) => void;
  /** Called after each checkpoint is saved. */
  onCheckpoint?: (report: CheckpointReport) => void;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** Step the run started from (the checkpoint's step when resuming, else 0). */
  startStep: number;
  /** Steps done when the run ended. */
  step: number;
  /** `completed` when `steps` was reached, `interrupted` when the signal stopped it. */
  stopped: "completed" | "interrupted";
  /** Cost and accuracy of every training step of this run. */
  train: StepMetrics[];
  /** Every test evaluation of this run. */
  test: StepMetrics[];
  /** Training images per second, not counting evaluations and checkpoints. */
  imagesPerSecond: number;
  /** Seconds the run took. */
  seconds: number;
  /** Step of the last checkpoint saved or resumed from, if any. */
  checkpointStep?: number;
}

/** The cost and prediction a run scores with (see {@link TrainOptions.cost}). */
interface Scoring {
  cost: CostFunction;
  predict?: PredictFunction;
}

/** `cost(logits, labels)`, checked to be a scalar tensor (a student's cost may not be). */
function scoredCost(scoring: Scoring, logits: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  const cost = scoring.cost(logits, labels);
  if (!(cost instanceof tf.Tensor) || cost.rank !== 0) {
    throw new UsageError(
      "the cost must be a scalar tensor (the mean over the batch); got " +
        (cost instanceof tf.Tensor ? `shape [${cost.shape}]` : typeof cost),
    );
  }
  return cost;
}

/** The learning rate `optimizer` trains at unless told otherwise. */
export function defaultLearningRate(optimizer: OptimizerName): number {
  return optimizer === "adam" ? ADAM_LEARNING_RATE : LEARNING_RATE;
}

/**
 * The lab's optimizer, momentum {@link MOMENTUM} (Nesterov's) at `learningRate`; or, with
 * `name` `adam`, Adam at `learningRate` (defaults: {@link defaultLearningRate}).
 */
export function createOptimizer(
  learningRate?: number,
  name: OptimizerName = OPTIMIZER_NAMES[0],
): tf.Optimizer {
  const rate = learningRate ?? defaultLearningRate(name);
  return name === "adam"
    ? tf.train.adam(rate, ADAM_BETA1, ADAM_BETA2)
    : tf.train.momentum(rate, MOMENTUM, USE_NESTEROV);
}

/**
 * Disposes the optimizer and its accumulators. `MomentumOptimizer.dispose` of tfjs 4.22 leaves
 * the learning-rate scalar of its parent `SGDOptimizer` allocated (tensorflow/tfjs#4647), so the
 * parent's `dispose` frees it too.
 */
export function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  // By class name: tfjs optimizers answer `instanceof` by their methods, so Adam passes as SGD.
  if (optimizer.getClassName() === tf.MomentumOptimizer.className) {
    tf.SGDOptimizer.prototype.dispose.call(optimizer);
  }
}

/** The next training batch, its images passed through `augment` when there is one. */
function nextTrainBatch(
  dataset: PneumothoraxDataset,
  batchSize: number,
  augment?: Augmentation,
): Batch {
  const [images, labels] = dataset.getTrainBatch(batchSize);
  if (!augment) return [images, labels];
  try {
    return [augment(images), labels];
  } finally {
    images.dispose();
  }
}

/**
 * The next training batch with its lesion masks, each mask moved by `augment` as its image is:
 * both pass through it as the two channels of one image (255 inside the lesion), so that they
 * share its draw. The lab's augmentation applies one transform to all channels of an image, and
 * its gamma leaves 0 and 255 where they are.
 */
function nextMaskedTrainBatch(
  dataset: PneumothoraxDataset,
  batchSize: number,
  augment?: Augmentation,
): MaskedBatch {
  const [images, labels, masks] = dataset.getTrainBatchWithMasks(batchSize);
  if (!augment) return [images, labels, masks];
  try {
    const [moved, movedMasks] = tf.tidy(() =>
      tf.split(augment(tf.concat([images, tf.mul(masks, 255)], 3) as tf.Tensor4D), 2, 3)
    ) as [tf.Tensor4D, tf.Tensor4D];
    const outline = tf.tidy(() => tf.greater(movedMasks, 127.5).toFloat() as tf.Tensor4D);
    movedMasks.dispose();
    return [moved, labels, outline];
  } finally {
    tf.dispose([images, masks]);
  }
}

/** One step on the next training batch; returns its cost and accuracy before the update. */
function trainStep(
  model: PneumothoraxDetectionModel,
  optimizer: tf.Optimizer,
  dataset: PneumothoraxDataset,
  batchSize: number,
  scoring: Scoring,
  options: { augment?: Augmentation; lesionMaps: number },
): SplitMetrics {
  const [images, labels, masks] = options.lesionMaps > 0
    ? nextMaskedTrainBatch(dataset, batchSize, options.augment)
    : [...nextTrainBatch(dataset, batchSize, options.augment), undefined];
  let accuracy: tf.Scalar | undefined;
  let classification: tf.Scalar | undefined;
  try {
    const cost = optimizer.minimize(
      () => {
        const { logits, cams } = masks
          ? model.predictWithCams(images)
          : { logits: model.predictLogits(images), cams: undefined };
        accuracy = tf.keep(computeAccuracy(logits, labels, scoring.predict));
        classification = tf.keep(scoredCost(scoring, logits, labels));
        if (!cams) return classification;
        return tf.add(classification, tf.mul(lesionMapCost(cams, masks!), options.lesionMaps));
      },
      true,
      model.trainableVariables(),
    )!;
    if (cost !== classification) cost.dispose();
    return { cost: classification!.dataSync()[0], accuracy: accuracy!.dataSync()[0] };
  } finally {
    tf.dispose([images, labels]);
    masks?.dispose();
    accuracy?.dispose();
    classification?.dispose();
  }
}

/** One step on the next training batch, its gradients computed by the trainer's workers. */
async function parallelTrainStep(
  trainer: ParallelTrainer,
  optimizer: tf.Optimizer,
  dataset: PneumothoraxDataset,
  batchSize: number,
  augment?: Augmentation,
): Promise<SplitMetrics> {
  const [images, labels] = nextTrainBatch(dataset, batchSize, augment);
  try {
    return await trainer.trainStep(optimizer, images, labels);
  } finally {
    tf.dispose([images, labels]);
  }
}

/** Cost and accuracy of `size` random test images, predicted `batchSize` at a time. */
function evaluateTestBatch(
  model: PneumothoraxDetectionModel,
  dataset: PneumothoraxDataset,
  size: number,
  batchSize: number,
  scoring: Scoring,
): SplitMetrics {
  const [images, labels] = dataset.getTestBatch(size);
  try {
    return tf.tidy(() => {
      const logits = predictLogitsInBatches(model, images, batchSize);
      return {
        cost: scoredCost(scoring, logits, labels).dataSync()[0],
        accuracy: computeAccuracy(logits, labels, scoring.predict).dataSync()[0],
      };
    });
  } finally {
    tf.dispose([images, labels]);
  }
}

/**
 * Throws a {@link UsageError} when training on the calling thread of the wasm backend (wasm or
 * onednn) would need more than its 4 GB heap for one pass of the batch (width 64 at batch 15),
 * where it would otherwise fail inside wasm with "memory access out of bounds".
 */
function requireOnePassFits(
  model: PneumothoraxDetectionModel,
  batchSize: number,
  workers: number,
): void {
  if (workers > 0 || tf.getBackend() !== "wasm") return;
  const most = maxThreadBatchSize(model.width, model.imageSize);
  if (batchSize > most) {
    throw new UsageError(
      `a batch of ${batchSize} images at width ${model.width} needs more than the wasm heap ` +
        `holds in one pass (at most ${most} images here); train with workers (--workers 1 or ` +
        "more), which split the batch into passes",
    );
  }
}

/** The options with their defaults, checked against the dataset. */
function resolveOptions(dataset: PneumothoraxDataset, options: TrainOptions) {
  const resolved = {
    steps: options.steps ?? NUM_STEPS,
    batchSize: options.batchSize ?? BATCH_SIZE,
    optimizer: options.optimizer ?? OPTIMIZER_NAMES[0],
    learningRate: options.learningRate ??
      defaultLearningRate(options.optimizer ?? OPTIMIZER_NAMES[0]),
    evalEvery: options.evalEvery ?? EVAL_EVERY,
    evalSize: Math.min(options.evalSize ?? EVAL_SIZE, dataset.numTest),
    checkpointEvery: options.checkpointEvery ?? CHECKPOINT_EVERY,
  };
  requireInteger("steps", resolved.steps, { min: 0 });
  requireInteger("batchSize", resolved.batchSize, { min: 1, max: dataset.numTrain });
  requireInteger("evalEvery", resolved.evalEvery, { min: 1 });
  requireInteger("evalSize", resolved.evalSize, { min: 1 });
  requireInteger("checkpointEvery", resolved.checkpointEvery, { min: 1 });
  requireInteger("workers", options.workers ?? 0, { min: 0 });
  if ((options.cost || options.predict) && options.workers) {
    throw new UsageError(
      "a cost or prediction function cannot be sent to worker replicas: train with workers 0",
    );
  }
  const lesionMaps = options.lesionMaps ?? 0;
  if (!(lesionMaps >= 0 && Number.isFinite(lesionMaps))) {
    throw new UsageError(`lesionMaps must be a number at least 0, got ${lesionMaps}`);
  }
  if (lesionMaps > 0 && options.workers) {
    throw new UsageError(
      "the lesion-map term is computed on the calling thread: train with workers 0",
    );
  }
  if (lesionMaps > 0 && !dataset.train.masks) {
    throw new UsageError(
      `lesionMaps needs lesion masks, and ${dataset.train.source} holds none`,
    );
  }
  if (!isOptimizerName(resolved.optimizer)) {
    throw new UsageError(
      `optimizer must be ${
        OPTIMIZER_NAMES.map((n) => `'${n}'`).join(" or ")
      }, got '${resolved.optimizer}'`,
    );
  }
  if (!(resolved.learningRate > 0 && Number.isFinite(resolved.learningRate))) {
    throw new UsageError(`learningRate must be a positive number, got ${resolved.learningRate}`);
  }
  if (options.resume && options.checkpointDir === undefined) {
    throw new UsageError("resume needs checkpointDir: the checkpoint to continue from");
  }
  if (options.resume && options.initFrom !== undefined) {
    throw new UsageError(
      "initFrom starts a new run from a checkpoint's weights; resume continues one: give one",
    );
  }
  requireInteger("freezeBlocks", options.freezeBlocks ?? 0, { min: 0, max: BLOCK_COUNT });
  if (options.freezeBlocks && (options.resume || options.workers)) {
    throw new UsageError(
      "freezeBlocks trains on the calling thread and starts a new run: not with resume or workers",
    );
  }
  return resolved;
}

/**
 * Loads the weights of the checkpoint `dir` into `model` to fine-tune it; the optimizer and
 * the batch cursors are left as they are. A {@link UsageError} names both values when the
 * checkpoint's width or image size is not the model's.
 */
async function initializeFrom(dir: string, model: PneumothoraxDetectionModel): Promise<void> {
  const saved = (await readCheckpointManifest(dir)).manifest.model;
  for (
    const [what, theirs, ours] of [
      ["width", saved.width, model.width],
      ["image size", saved.imageSize, model.imageSize],
    ] as const
  ) {
    if (theirs !== ours) {
      throw new UsageError(`initFrom: ${dir} has ${what} ${theirs}, the model has ${what} ${ours}`);
    }
  }
  await restoreCheckpoint(model, dir);
}

/** Restores weights, momentum and batch cursors from the checkpoint; returns its step. */
async function resumeFrom(
  dir: string,
  model: PneumothoraxDetectionModel,
  optimizer: tf.Optimizer,
  dataset: PneumothoraxDataset,
): Promise<number> {
  const manifest = await restoreCheckpoint(model, dir, { optimizer });
  if (!manifest.training) {
    throw new LabError(`${dir}: the checkpoint holds no training state, so it cannot be resumed`);
  }
  dataset.batchState = manifest.training.batchState;
  return manifest.step;
}

function divergedMessage(step: number, cost: number, dir?: string, saved?: number): string {
  const kept = dir === undefined
    ? "no checkpoints were being saved"
    : saved === undefined
    ? `no checkpoint was saved before it, so ${dir} is unchanged`
    : `the last good checkpoint, step ${saved}, is kept in ${dir}: resume from it with a lower ` +
      "learning rate";
  return `step ${step}: the cost is ${cost}, so training diverged and stopped; ${kept}`;
}

/**
 * Trains `model` on `dataset` with the lab's loop. Steps count from 1 and include those of a
 * resumed checkpoint: evaluation after every step that is a multiple of `evalEvery`, a
 * checkpoint after every multiple of `checkpointEvery` and after the last step.
 *
 * @throws {LabError} when the cost becomes NaN or infinite (nothing is saved after that), when
 *   a checkpoint cannot be saved or resumed
 * @throws {UsageError} on an option outside its range
 */
export async function train(
  model: PneumothoraxDetectionModel,
  dataset: PneumothoraxDataset,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const settings = resolveOptions(dataset, options);
  const { steps, batchSize, checkpointEvery, evalEvery } = settings;
  const scoring: Scoring = {
    cost: options.cost ?? ((logits, labels) => trainingCost({ logits, labels })),
    predict: options.predict,
  };
  requireOnePassFits(model, batchSize, options.workers ?? 0);
  const dir = options.checkpointDir;
  const optimizer = createOptimizer(settings.learningRate, settings.optimizer);
  const started = performance.now();
  let summaries: RunSummaries | undefined;
  let trainer: ParallelTrainer | undefined;
  let thawBlocks: (() => void) | undefined;
  try {
    const startStep = options.resume ? await resumeFrom(dir!, model, optimizer, dataset) : 0;
    if (options.initFrom !== undefined) await initializeFrom(options.initFrom, model);
    thawBlocks = freezeBlocks(model, options.freezeBlocks ?? 0);
    let checkpointStep = options.resume ? startStep : undefined;
    const metrics: CheckpointMetrics = {};
    const history: Pick<TrainResult, "train" | "test"> = { train: [], test: [] };
    summaries = options.logDir === undefined ? undefined : openRunSummaries(options.logDir);
    let trainSeconds = 0;

    const checkpoint = async (step: number) => {
      const manifest = await saveCheckpoint(model, dir!, {
        step,
        metrics,
        optimizer,
        data: options.data,
        training: {
          optimizer: settings.optimizer,
          batchSize,
          learningRate: settings.learningRate,
          momentum: settings.optimizer === "adam" ? ADAM_BETA1 : MOMENTUM,
          nesterov: settings.optimizer === "momentum" && USE_NESTEROV,
          dataSeed: dataset.seed,
          batchState: dataset.batchState,
        },
      });
      checkpointStep = step;
      options.onCheckpoint?.({ step, dir: dir!, manifest });
    };

    trainer = options.workers
      ? await createParallelTrainer(model, { workers: options.workers })
      : undefined;
    let step = startStep;
    while (step < steps && !options.signal?.aborted) {
      const stepStart = performance.now();
      const result = trainer
        ? await parallelTrainStep(trainer, optimizer, dataset, batchSize, options.augment)
        : trainStep(model, optimizer, dataset, batchSize, scoring, {
          augment: options.augment,
          lesionMaps: options.lesionMaps ?? 0,
        });
      step++;
      if (!Number.isFinite(result.cost)) {
        throw new LabError(divergedMessage(step, result.cost, dir, checkpointStep));
      }
      trainSeconds += (performance.now() - stepStart) / 1000;
      metrics.train = result;
      history.train.push({ step, ...result });
      summaries?.train.scalars(step, { cost: result.cost, accuracy: result.accuracy });
      const elapsedSeconds = (performance.now() - started) / 1000;
      options.onStep?.({
        step,
        steps,
        ...result,
        imagesPerSecond: ((step - startStep) * batchSize) / trainSeconds,
        elapsedSeconds,
        etaSeconds: (elapsedSeconds / (step - startStep)) * (steps - step),
      });
      if (step % evalEvery === 0) {
        metrics.test = evaluateTestBatch(model, dataset, settings.evalSize, batchSize, scoring);
        history.test.push({ step, ...metrics.test });
        summaries?.test.scalars(step, { cost: metrics.test.cost, accuracy: metrics.test.accuracy });
        options.onEval?.({ step, ...metrics.test });
      }
      if (dir !== undefined && (step % checkpointEvery === 0 || step === steps)) {
        await checkpoint(step);
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (dir !== undefined && step > (checkpointStep ?? 0)) await checkpoint(step);
    const trained = step - startStep;
    return {
      startStep,
      step,
      stopped: step >= steps ? "completed" : "interrupted",
      ...history,
      imagesPerSecond: trainSeconds > 0 ? (trained * batchSize) / trainSeconds : 0,
      seconds: (performance.now() - started) / 1000,
      checkpointStep,
    };
  } finally {
    thawBlocks?.();
    summaries?.close();
    trainer?.dispose();
    disposeOptimizer(optimizer);
  }
}

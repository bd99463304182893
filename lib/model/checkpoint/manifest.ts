/**
 * The manifest of a checkpoint directory (`manifest.json`): what the checkpoint holds (config,
 * step, metrics, training state, data, backend, date) and the size and sha256 of every other
 * file, with the checks a restore or a resume relies on. Every check names the file and the field
 * or weight that is wrong.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { basename, join } from "node:path";
import type { BatchState } from "../../data/dataset.ts";
import type { DataSourceRecord } from "../../data/source.ts";
import { LabError } from "../../core/errors.ts";
import type { PneumothoraxDetectionModel } from "../model.ts";
import { isOptimizerName, OPTIMIZER_NAMES, type OptimizerName } from "../optimizers.ts";

/** The checkpoint's index: what it holds and how to check it. */
export const MANIFEST_FILE = "manifest.json";
/** The network in TensorFlow.js layers format. */
export const MODEL_FILE = "model.json";
/** The network's weights, referenced by {@link MODEL_FILE}. */
export const WEIGHTS_FILE = "weights.bin";
/** The optimizer's state (iteration count and momentum accumulators). */
export const OPTIMIZER_FILE = "optimizer.bin";
/** Value of `format` in every manifest. */
export const CHECKPOINT_FORMAT = "pneumothorax-lab-checkpoint";
/** Version of the manifest layout this module writes and reads. */
export const CHECKPOINT_VERSION = 1;

/** Name and shape of one weight. */
export interface WeightShape {
  /** Weight name as in the layers format (`conv1/kernel`). */
  name: string;
  /** Its shape. */
  shape: number[];
}

/** Cost and accuracy of one split at the checkpoint's step. */
export interface SplitMetrics {
  /** Mean softmax cross-entropy. */
  cost: number;
  /** Fraction of images whose argmax matches the label. */
  accuracy: number;
}

/** The most recent metrics at the checkpoint's step. */
export interface CheckpointMetrics {
  /** Last training batch. */
  train?: SplitMetrics;
  /** Last test evaluation. */
  test?: SplitMetrics;
}

/** What a resumed run needs beyond the weights. */
export interface TrainingState {
  /** The optimizer (absent in checkpoints saved before Adam was offered: `momentum`). */
  optimizer?: OptimizerName;
  /** Images per training step. */
  batchSize: number;
  /** Learning rate of the optimizer. */
  learningRate: number;
  /** Momentum of the momentum optimizer; Adam's first-moment decay (beta1). */
  momentum: number;
  /** Whether the momentum is Nesterov's (false for Adam). */
  nesterov: boolean;
  /** Seed of the dataset's test batches (a resumed run needs the same one). */
  dataSeed: number;
  /** Dataset batch cursors after the checkpoint's step. */
  batchState: BatchState;
}

/** Which data the model was trained on. */
export interface CheckpointData {
  /** The data folder. */
  dir: string;
  /** Its `SOURCE.json`, when it has one. */
  source?: DataSourceRecord;
}

/** Size and sha256 of one file of a checkpoint. */
export interface FileRecord {
  /** Size in bytes. */
  bytes: number;
  /** Lower-case hex SHA-256 of the contents. */
  sha256: string;
}

/** Contents of `manifest.json`. */
export interface CheckpointManifest {
  /** Always {@link CHECKPOINT_FORMAT}. */
  format: string;
  /** Layout version ({@link CHECKPOINT_VERSION}). */
  version: number;
  /** The architecture. */
  model: {
    /** Filters of the first block. */
    width: number;
    /** Side of the square input. */
    imageSize: number;
    /** Trainable parameters. */
    params: number;
    /** Every weight, in the network's order. */
    weights: WeightShape[];
  };
  /** Training steps done. */
  step: number;
  /** Metrics at that step. */
  metrics: CheckpointMetrics;
  /** Training hyperparameters and batch cursors, when saved by training. */
  training?: TrainingState;
  /** Layout of {@link OPTIMIZER_FILE}, when the optimizer's state was saved. */
  optimizer?: { weights: tf.io.WeightsManifestEntry[] };
  /** The training data. */
  data?: CheckpointData;
  /** TensorFlow.js backend that produced the weights. */
  backend: string;
  /** When the checkpoint was written (ISO 8601). */
  date: string;
  /** Every other file of the checkpoint, by name. */
  files: Record<string, FileRecord>;
}

/** Hex SHA-256 of `bytes`. */
async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Size and sha256 of a file on disk. */
export async function describeFile(path: string): Promise<FileRecord> {
  const bytes = await Deno.readFile(path);
  return { bytes: bytes.length, sha256: await sha256(bytes) };
}

export async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new LabError(`${path} is missing`);
    throw new LabError(`${path}: unreadable (${(error as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LabError(`${path}: not valid JSON (${(error as Error).message})`);
  }
}

/** Names and shapes of a network's weights, in order. */
export function weightShapes(network: tf.LayersModel): WeightShape[] {
  return network.weights.map((weight) => ({
    name: weight.originalName,
    shape: weight.shape as number[],
  }));
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function isCount(value: unknown, min = 0): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min;
}

function isWeightList(value: unknown): value is WeightShape[] {
  return Array.isArray(value) &&
    value.every((weight) =>
      typeof weight?.name === "string" && Array.isArray(weight?.shape) &&
      weight.shape.every((dim: unknown) => isCount(dim))
    );
}

function isTrainingState(value: TrainingState): boolean {
  return typeof value === "object" && value !== null &&
    (value.optimizer === undefined || isOptimizerName(value.optimizer)) &&
    isCount(value.batchSize, 1) &&
    isFiniteNumber(value.learningRate) && value.learningRate > 0 &&
    isFiniteNumber(value.momentum) && typeof value.nesterov === "boolean" &&
    Number.isSafeInteger(value.dataSeed) && isCount(value.batchState?.trainPointer) &&
    isCount(value.batchState?.testBatches);
}

/** Checks every field a restore or a resume relies on; throws naming the first bad one. */
export function checkManifest(manifest: CheckpointManifest, path: string): void {
  const fail = (problem: string): never => {
    throw new LabError(`${path}: ${problem}`);
  };
  if (typeof manifest !== "object" || manifest === null) fail("not a JSON object");
  if (manifest.format !== CHECKPOINT_FORMAT) {
    fail(`format is ${JSON.stringify(manifest.format)}, expected "${CHECKPOINT_FORMAT}"`);
  }
  if (manifest.version !== CHECKPOINT_VERSION) {
    fail(`version ${manifest.version} is not supported (this lab reads ${CHECKPOINT_VERSION})`);
  }
  const model = manifest.model;
  if (
    typeof model !== "object" || model === null || !isCount(model.width, 1) ||
    !isCount(model.imageSize, 1) || !isWeightList(model.weights)
  ) {
    fail("'model' must hold a positive width and imageSize and a list of weight shapes");
  }
  if (!isCount(manifest.step)) {
    fail(`'step' is ${JSON.stringify(manifest.step)}, expected an integer >= 0`);
  }
  if (manifest.training !== undefined && !isTrainingState(manifest.training)) {
    fail(
      "'training' must hold batchSize, learningRate, momentum, nesterov, dataSeed, batchState " +
        `(and optimizer ${OPTIMIZER_NAMES.map((name) => `'${name}'`).join(" or ")}, if any)`,
    );
  }
  const files = manifest.files;
  if (typeof files !== "object" || files === null) fail("'files' must list the files");
  for (const name of [MODEL_FILE, WEIGHTS_FILE]) {
    if (!(name in files)) fail(`'files' does not list ${name}`);
  }
  for (const [name, record] of Object.entries(files)) {
    if (name !== basename(name) || name === MANIFEST_FILE) fail(`'files' lists '${name}'`);
    if (!isCount(record?.bytes) || typeof record?.sha256 !== "string") {
      fail(`'files.${name}' must have bytes and sha256`);
    }
  }
  if (manifest.optimizer !== undefined) {
    if (!isWeightList(manifest.optimizer?.weights)) {
      fail("'optimizer.weights' must be a list of weight shapes");
    }
    if (!(OPTIMIZER_FILE in files)) {
      fail(`has optimizer state but 'files' does not list ${OPTIMIZER_FILE}`);
    }
  }
}

/** Checks every file the manifest lists against its recorded size and sha256. */
export async function verifyCheckpointFiles(
  dir: string,
  manifest: CheckpointManifest,
): Promise<void> {
  for (const [name, record] of Object.entries(manifest.files)) {
    const path = join(dir, name);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new LabError(`${path} is missing; the checkpoint is incomplete`);
      }
      throw new LabError(`${path}: unreadable (${(error as Error).message})`);
    }
    if (bytes.length !== record.bytes) {
      throw new LabError(
        `${path} is ${bytes.length} bytes but ${MANIFEST_FILE} says ${record.bytes} ` +
          "(truncated or replaced)",
      );
    }
    if (await sha256(bytes) !== record.sha256) {
      throw new LabError(
        `${path}: sha256 does not match ${MANIFEST_FILE} (the file is corrupt or was modified)`,
      );
    }
  }
}

/**
 * Throws a {@link LabError} saying how the checkpoint's architecture differs from `model`'s:
 * width, image size, then each weight's name and shape.
 */
export function checkArchitecture(
  model: PneumothoraxDetectionModel,
  manifest: CheckpointManifest,
): void {
  const saved = manifest.model;
  if (saved.width !== model.width) {
    throw new LabError(`checkpoint has width ${saved.width}, model has width ${model.width}`);
  }
  if (saved.imageSize !== model.imageSize) {
    throw new LabError(
      `checkpoint has image size ${saved.imageSize}, model has image size ${model.imageSize}`,
    );
  }
  const expected = weightShapes(model.network);
  const savedNames = new Map(saved.weights.map((weight) => [weight.name, weight.shape]));
  for (const { name, shape } of expected) {
    const savedShape = savedNames.get(name);
    if (savedShape === undefined) throw new LabError(`checkpoint has no weight '${name}'`);
    if (savedShape.join() !== shape.join()) {
      throw new LabError(
        `weight '${name}': checkpoint has shape [${savedShape}], model has [${shape}]`,
      );
    }
  }
  const extra = saved.weights.filter((weight) => !expected.some((w) => w.name === weight.name));
  if (extra.length > 0) {
    throw new LabError(
      `checkpoint has weights the model lacks: ${extra.map((w) => w.name).join(", ")}`,
    );
  }
}

/**
 * Checkpoints of the lab's model (the original's `tf.train.Saver`): a directory holding
 *
 * ```
 * model.json      the network in TensorFlow.js layers format (tf.loadLayersModel reads it)
 * weights.bin     its float32 weights
 * optimizer.bin   the optimizer's state (momentum accumulators), when saved from training
 * manifest.json   config (width, image size, weight shapes), step, metrics, training state,
 *                 data description, backend, date, and the size and sha256 of every file
 * ```
 *
 * Saving is atomic: everything is written and fsync'ed into a temporary sibling directory,
 * which then replaces the checkpoint by two renames (the old one is moved to
 * `<dir>.previous` first and deleted last). A process killed at any moment leaves either the
 * new or the previous checkpoint complete, and {@link findCheckpoint} finds it. Restoring
 * verifies the sizes and sha256 of the files and the architecture, and names what differs.
 *
 * Weights can also be exchanged with Python as a Keras-layout HDF5 file (the layout of Keras
 * 2's `model.save_weights("x.h5")`), through h5wasm.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import h5wasm from "h5wasm/node";
import { basename, dirname, join, resolve } from "node:path";
import type { BatchState } from "../data/dataset.ts";
import type { DataSourceRecord } from "../data/source.ts";
import { DataFileError, LabError, UsageError } from "../core/errors.ts";
import { pathExists, replaceFile, syncDirectory, writeSynced } from "../core/fs.ts";
import { openHdf5, readyHdf5 } from "../data/lab_files.ts";
import { PneumothoraxDetectionModel } from "./model.ts";

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
/** Suffix of the directory holding the previous checkpoint while a new one is committed. */
const PREVIOUS_SUFFIX = ".previous";
/** Infix of the temporary directory a checkpoint is written into. */
const TEMP_INFIX = ".tmp-";

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

/** The optimizers training can use: the lab's Nesterov momentum, or Adam. */
export type OptimizerName = "momentum" | "adam";

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

/** Options of {@link saveCheckpoint}. */
export interface SaveCheckpointOptions {
  /** Training steps done (default 0). */
  step?: number;
  /** Latest metrics (default none). */
  metrics?: CheckpointMetrics;
  /** Optimizer whose state to save in {@link OPTIMIZER_FILE} (default: none saved). */
  optimizer?: tf.Optimizer;
  /** Hyperparameters and batch cursors for resuming (default none). */
  training?: TrainingState;
  /** Description of the training data (default none). */
  data?: CheckpointData;
}

/** Options of {@link restoreCheckpoint}. */
export interface RestoreCheckpointOptions {
  /** Optimizer to receive the saved state (default: the optimizer state is not read). */
  optimizer?: tf.Optimizer;
}

/** A checkpoint read by {@link loadCheckpoint}. */
export interface LoadedCheckpoint {
  /** The model with the saved weights. */
  model: PneumothoraxDetectionModel;
  /** The checkpoint's manifest. */
  manifest: CheckpointManifest;
  /** The directory actually read (`<dir>.previous` when a save was cut short). */
  dir: string;
}

/** Hex SHA-256 of `bytes`. */
async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Bytes of one value of a weight of this dtype in the tfjs weights format. */
function bytesPerValue(dtype: string): number {
  return dtype === "float32" || dtype === "int32" ? 4 : dtype === "bool" ? 1 : NaN;
}

/** The name of the first weight holding NaN or an infinity, if any. */
function findNonFinite(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): string | undefined {
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype === "float32") {
      const values = new Float32Array(data, offset, count);
      if (!values.every(Number.isFinite)) return spec.name;
    }
    offset += count * bytesPerValue(spec.dtype);
  }
  return undefined;
}

/**
 * A TensorFlow.js IOHandler that saves and loads a layers model as `model.json` and
 * `weights.bin` in `dir`, through Deno's file APIs (tfjs's own `file://` handler needs
 * tfjs-node). Saving creates `dir` and flushes both files to the disk; it refuses weights
 * holding NaN or infinities.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { checkpointIOHandler } from "./checkpoint.ts";
 * await tf.setBackend("cpu");
 * const dir = await Deno.makeTempDir();
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
 * await model.save(checkpointIOHandler(dir));
 * const loaded = await tf.loadLayersModel(checkpointIOHandler(dir));
 * if (loaded.countParams() !== 3) throw new Error("dense(1) on 2 inputs has 3 weights");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function checkpointIOHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? []);
      const specs = artifacts.weightSpecs ?? [];
      const bad = findNonFinite(weightData, specs);
      if (bad !== undefined) {
        throw new LabError(`refusing to save: weight '${bad}' holds NaN or infinite values`);
      }
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
      };
      await Deno.mkdir(dir, { recursive: true });
      await writeSynced(join(dir, WEIGHTS_FILE), new Uint8Array(weightData));
      await writeSynced(
        join(dir, MODEL_FILE),
        new TextEncoder().encode(JSON.stringify(modelJson)),
      );
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          weightDataBytes: weightData.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const modelPath = join(dir, MODEL_FILE);
      const modelJson = await readJson(modelPath) as tf.io.ModelJSON;
      if (typeof modelJson !== "object" || !Array.isArray(modelJson?.weightsManifest)) {
        throw new LabError(`${modelPath}: not a TensorFlow.js layers model (no weightsManifest)`);
      }
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers = [];
        for (const path of manifest.flatMap((group) => group.paths)) {
          buffers.push((await Deno.readFile(join(dir, path))).slice().buffer);
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

async function readJson(path: string): Promise<unknown> {
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
function weightShapes(network: tf.LayersModel): WeightShape[] {
  return network.weights.map((weight) => ({
    name: weight.originalName,
    shape: weight.shape as number[],
  }));
}

/** Size and sha256 of a file on disk. */
async function describeFile(path: string): Promise<FileRecord> {
  const bytes = await Deno.readFile(path);
  return { bytes: bytes.length, sha256: await sha256(bytes) };
}

/** Writes the optimizer's state into `dir`; returns its layout. */
async function writeOptimizerState(
  optimizer: tf.Optimizer,
  dir: string,
): Promise<tf.io.WeightsManifestEntry[]> {
  const state = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(state);
  tf.dispose(state.map((weight) => weight.tensor).filter((t) => !(t instanceof tf.Variable)));
  const bad = findNonFinite(data, specs);
  if (bad !== undefined) {
    throw new LabError(`refusing to save: optimizer state '${bad}' holds NaN or infinite values`);
  }
  await writeSynced(join(dir, OPTIMIZER_FILE), new Uint8Array(data));
  return specs;
}

/** Fails unless `dir` is absent, empty or a checkpoint: a save never deletes other files. */
async function checkReplaceable(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(dir)].map((entry) => entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    if (error instanceof Deno.errors.NotADirectory) {
      throw new LabError(`${dir} is a file, not a checkpoint directory`);
    }
    throw error;
  }
  if (entries.length > 0 && !entries.includes(MANIFEST_FILE)) {
    throw new LabError(
      `${dir} holds files but no ${MANIFEST_FILE}, so it is not a checkpoint; ` +
        "refusing to replace it (choose another directory)",
    );
  }
  if (entries.length === 0) await Deno.remove(dir);
}

/** Removes temporary directories left by saves that were killed. */
async function removeStaleTemporaries(dir: string): Promise<void> {
  const parent = dirname(dir);
  const prefix = `${basename(dir)}${TEMP_INFIX}`;
  for (const entry of Deno.readDirSync(parent)) {
    if (entry.isDirectory && entry.name.startsWith(prefix)) {
      await Deno.remove(join(parent, entry.name), { recursive: true });
    }
  }
}

/** Puts the complete checkpoint `temp` in place of `dir`, keeping the old one until it is. */
async function commit(temp: string, dir: string): Promise<void> {
  const previous = `${dir}${PREVIOUS_SUFFIX}`;
  if (await pathExists(dir)) {
    if (await pathExists(previous)) await Deno.remove(previous, { recursive: true });
    await Deno.rename(dir, previous);
  }
  await Deno.rename(temp, dir);
  await syncDirectory(dirname(dir));
  if (await pathExists(previous)) await Deno.remove(previous, { recursive: true });
}

/**
 * Saves `model` (and, if given, the optimizer's state) as a checkpoint directory `dir`,
 * atomically (see the module notes). Refuses weights holding NaN or infinities, and a `dir`
 * that holds other files. On failure (a full disk, say) the previous checkpoint is left intact
 * and a {@link LabError} says so.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createModel } from "./model.ts";
 * import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * await tf.setBackend("cpu");
 * const dir = await Deno.makeTempDir();
 * const model = createModel({ width: 1, imageSize: 16 });
 * await saveCheckpoint(model, `${dir}/ckpt`, { step: 7 });
 * const loaded = await loadCheckpoint(`${dir}/ckpt`);
 * if (loaded.manifest.step !== 7 || loaded.model.width !== 1) throw new Error("round trip");
 * loaded.model.dispose();
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCheckpoint(
  model: PneumothoraxDetectionModel,
  dir: string,
  options: SaveCheckpointOptions = {},
): Promise<CheckpointManifest> {
  const target = resolve(dir);
  await Deno.mkdir(dirname(target), { recursive: true });
  await checkReplaceable(target);
  await removeStaleTemporaries(target);
  const temp = `${target}${TEMP_INFIX}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await model.network.save(checkpointIOHandler(temp));
    const optimizerSpecs = options.optimizer
      ? await writeOptimizerState(options.optimizer, temp)
      : undefined;
    const files: Record<string, FileRecord> = {};
    for (const name of [MODEL_FILE, WEIGHTS_FILE, ...(optimizerSpecs ? [OPTIMIZER_FILE] : [])]) {
      files[name] = await describeFile(join(temp, name));
    }
    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      model: {
        width: model.width,
        imageSize: model.imageSize,
        params: model.countParams(),
        weights: weightShapes(model.network),
      },
      step: options.step ?? 0,
      metrics: options.metrics ?? {},
      ...(options.training ? { training: options.training } : {}),
      ...(optimizerSpecs ? { optimizer: { weights: optimizerSpecs } } : {}),
      ...(options.data ? { data: options.data } : {}),
      backend: tf.getBackend(),
      date: new Date().toISOString(),
      files,
    };
    const text = JSON.stringify(manifest, null, 2) + "\n";
    await writeSynced(join(temp, MANIFEST_FILE), new TextEncoder().encode(text));
    await syncDirectory(temp);
    await commit(temp, target);
    return manifest;
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    throw new LabError(
      `could not save the checkpoint to ${dir}: ${reason}; the previous checkpoint (if any) ` +
        "is intact",
      { cause: error },
    );
  }
}

/**
 * The directory holding the complete checkpoint saved as `dir`: `dir` itself, or
 * `<dir>.previous` when a save was killed between its two renames; undefined when neither has
 * a manifest.
 */
export async function findCheckpoint(dir: string): Promise<string | undefined> {
  for (const candidate of [dir, `${dir}${PREVIOUS_SUFFIX}`]) {
    if (await pathExists(join(candidate, MANIFEST_FILE))) return candidate;
  }
  return undefined;
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
    (value.optimizer === undefined || value.optimizer === "momentum" ||
      value.optimizer === "adam") &&
    isCount(value.batchSize, 1) &&
    isFiniteNumber(value.learningRate) && value.learningRate > 0 &&
    isFiniteNumber(value.momentum) && typeof value.nesterov === "boolean" &&
    Number.isSafeInteger(value.dataSeed) && isCount(value.batchState?.trainPointer) &&
    isCount(value.batchState?.testBatches);
}

/** Checks every field a restore or a resume relies on; throws naming the first bad one. */
function checkManifest(manifest: CheckpointManifest, path: string): void {
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
        "(and optimizer 'momentum' or 'adam', if any)",
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

/**
 * Reads and checks the manifest of the checkpoint saved as `dir` (see {@link findCheckpoint}).
 * Throws a {@link LabError} when there is none or it is malformed.
 */
export async function readCheckpointManifest(
  dir: string,
): Promise<{ dir: string; manifest: CheckpointManifest }> {
  const found = await findCheckpoint(dir);
  if (found === undefined) {
    throw new LabError(`no checkpoint in ${dir} (no ${MANIFEST_FILE})`);
  }
  const path = join(found, MANIFEST_FILE);
  const manifest = await readJson(path) as CheckpointManifest;
  checkManifest(manifest, path);
  return { dir: found, manifest };
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

/** Decodes the saved weights, checking them against the manifest's list. */
async function readWeights(dir: string, manifest: CheckpointManifest): Promise<tf.NamedTensorMap> {
  const artifacts = await checkpointIOHandler(dir).load!();
  const specs = artifacts.weightSpecs ?? [];
  const listed = manifest.model.weights.map((w) => `${w.name}:${w.shape}`).join();
  if (specs.map((s) => `${s.name}:${s.shape}`).join() !== listed) {
    throw new LabError(`${join(dir, MODEL_FILE)}: its weights differ from ${MANIFEST_FILE}`);
  }
  return tf.io.decodeWeights(artifacts.weightData!, specs);
}

/** A tensor with its name, as `tf.Optimizer.getWeights` returns them. */
type NamedTensor = { name: string; tensor: tf.Tensor };

/**
 * Reads the saved optimizer state, after checking its layout: the iteration count, then one
 * float32 accumulator per trainable weight of the model (two for Adam: the first moments, then
 * the second), filling {@link OPTIMIZER_FILE} exactly. The caller disposes the tensors.
 */
async function readOptimizerState(
  model: PneumothoraxDetectionModel,
  dir: string,
  manifest: CheckpointManifest,
): Promise<NamedTensor[]> {
  const path = join(dir, OPTIMIZER_FILE);
  if (!manifest.optimizer) {
    throw new LabError(`${dir} holds no optimizer state (it was not saved by training)`);
  }
  const specs = manifest.optimizer.weights;
  const trainable = model.network.trainableWeights;
  const perWeight = manifest.training?.optimizer === "adam" ? 2 : 1;
  const slots = specs.slice(1);
  const matches = specs.length > 0 && specs[0].shape.length === 0 &&
    slots.length === perWeight * trainable.length &&
    slots.every((spec, i) =>
      spec.dtype === "float32" &&
      spec.shape.join() === trainable[i % trainable.length].shape.join()
    );
  if (!matches) {
    throw new LabError(
      `${path}: its ${slots.length} accumulators in ${MANIFEST_FILE} do not match the ` +
        `${perWeight} per trainable weight (${trainable.length}) that its optimizer keeps`,
    );
  }
  const data = (await Deno.readFile(path)).slice().buffer;
  const expected = specs.reduce(
    (sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1) * bytesPerValue(spec.dtype),
    0,
  );
  if (expected !== data.byteLength) {
    throw new LabError(`${path} is ${data.byteLength} bytes; its layout needs ${expected}`);
  }
  const tensors = tf.io.decodeWeights(data, specs);
  return specs.map((spec) => ({ name: spec.name, tensor: tensors[spec.name] }));
}

/** tfjs class names of the optimizers a checkpoint's `training.optimizer` can name. */
const OPTIMIZER_CLASSES: Record<OptimizerName, string> = {
  momentum: tf.MomentumOptimizer.className,
  adam: tf.AdamOptimizer.className,
};

/**
 * Checks that `optimizer` is of the kind that saved the checkpoint's state (checkpoints without
 * `training.optimizer` were saved by momentum), so one optimizer never receives another's
 * accumulators.
 */
function checkOptimizerKind(optimizer: tf.Optimizer, dir: string, manifest: CheckpointManifest) {
  const saved = manifest.training?.optimizer ?? "momentum";
  const given = optimizer.getClassName();
  if (given !== OPTIMIZER_CLASSES[saved]) {
    const name = Object.entries(OPTIMIZER_CLASSES).find(([, c]) => c === given)?.[0] ?? given;
    throw new UsageError(
      `${dir} was trained with the ${saved} optimizer; resume it with that one, not ${name}`,
    );
  }
}

/** Gives `optimizer` the saved state, freeing what it held. */
async function setOptimizerState(optimizer: tf.Optimizer, state: NamedTensor[]) {
  const replaced = await optimizer.getWeights();
  await optimizer.setWeights(state);
  tf.dispose(replaced.map((weight) => weight.tensor));
}

/**
 * Loads the saved weights of the checkpoint `dir` into `model` (and the optimizer state into
 * `options.optimizer`), after verifying every file's size and sha256, the architecture, that
 * the optimizer is of the kind that saved the state (else a {@link UsageError}) and the state's
 * layout. Nothing is changed when a check fails: a {@link LabError} names the file or the
 * difference.
 */
export async function restoreCheckpoint(
  model: PneumothoraxDetectionModel,
  dir: string,
  options: RestoreCheckpointOptions = {},
): Promise<CheckpointManifest> {
  const { dir: found, manifest } = await readCheckpointManifest(dir);
  checkArchitecture(model, manifest);
  await verifyCheckpointFiles(found, manifest);
  if (options.optimizer) checkOptimizerKind(options.optimizer, found, manifest);
  const state = options.optimizer ? await readOptimizerState(model, found, manifest) : [];
  const weights = await readWeights(found, manifest).catch((error) => {
    tf.dispose(state.map((weight) => weight.tensor));
    throw error;
  });
  try {
    model.network.loadWeights(weights, true);
    if (options.optimizer) await setOptimizerState(options.optimizer, state);
  } finally {
    tf.dispose([...Object.values(weights), ...state.map((weight) => weight.tensor)]);
  }
  return manifest;
}

/**
 * Loads the checkpoint saved as `dir` into a new model, through `tf.loadLayersModel`, after
 * verifying every file's size and sha256. The caller disposes the model.
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const { dir: found, manifest } = await readCheckpointManifest(dir);
  await verifyCheckpointFiles(found, manifest);
  const network = await tf.loadLayersModel(checkpointIOHandler(found));
  let model: PneumothoraxDetectionModel;
  try {
    model = new PneumothoraxDetectionModel(network);
    checkArchitecture(model, manifest);
  } catch (error) {
    network.dispose();
    throw error;
  }
  return { model, manifest, dir: found };
}

/** The Keras name of a tfjs weight: `conv1/kernel` becomes `conv1/kernel:0`. */
function kerasWeightName(name: string): string {
  return `${name}:0`;
}

/**
 * Writes the model's weights to `path` as Keras 2's `save_weights` HDF5 layout: root
 * attributes `layer_names`, `backend`, `keras_version`; per layer a group with the attribute
 * `weight_names` (`conv1/kernel:0`, ...) and each weight as a float32 dataset at
 * `<layer>/<weight name>`. Written to `<path>.tmp` and renamed.
 */
export async function exportKerasWeights(
  model: PneumothoraxDetectionModel,
  path: string,
): Promise<void> {
  await readyHdf5();
  const temp = `${path}.tmp`;
  const file = new h5wasm.File(temp, "w");
  try {
    const layers = model.network.layers;
    file.create_attribute("layer_names", layers.map((layer) => layer.name));
    file.create_attribute("backend", "tensorflow");
    file.create_attribute("keras_version", "2.15.0");
    for (const layer of layers) {
      const group = file.create_group(layer.name);
      const names = layer.weights.map((weight) => kerasWeightName(weight.originalName));
      if (names.length === 0) {
        group.create_attribute("weight_names", [], [0], "S1");
        continue;
      }
      group.create_attribute("weight_names", names);
      layer.weights.forEach((weight, i) => {
        const parts = names[i].split("/");
        let parent = group;
        for (const part of parts.slice(0, -1)) {
          parent = (parent.get(part) as typeof group | null) ?? parent.create_group(part);
        }
        const values = weight.read().dataSync() as Float32Array;
        parent.create_dataset({
          name: parts.at(-1)!,
          data: values,
          shape: weight.shape as number[],
          dtype: "<f",
        });
      });
    }
  } finally {
    file.close();
  }
  await replaceFile(temp, path);
}

type H5Group = InstanceType<typeof h5wasm.Group>;

/** Reads an attribute of `entity` as a list of strings. */
function stringList(entity: H5Group, name: string): string[] {
  const value = entity.attrs[name]?.value;
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/**
 * Where Keras 3's `.weights.h5` layout keeps each layer's weights: `layers/<key>/vars/<i>`,
 * keyed not by the layer's name but by its class in snake case, numbered by order among the
 * model's layers of that class (`conv2d`, `conv2d_1`, ..., `dense`).
 */
function keras3Keys(layers: tf.layers.Layer[]): Map<tf.layers.Layer, string> {
  const seen = new Map<string, number>();
  return new Map(layers.map((layer) => {
    // Keras' own snake case: Conv2D -> conv2d, GlobalAveragePooling2D -> global_average_pooling2d.
    const base = layer.getClassName().replace(/(.)([A-Z][a-z]+)/g, "$1_$2")
      .replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return [layer, count === 0 ? base : `${base}_${count}`];
  }));
}

/** The weights of one layer read from a Keras file, checked against the layer's shapes. */
function readKerasLayer(
  file: H5Group,
  path: string,
  layer: tf.layers.Layer,
  keras3Key?: string,
): tf.Tensor[] {
  const fail = (problem: string): never => {
    throw new DataFileError({ file: path, dataset: layer.name }, problem);
  };
  if (keras3Key !== undefined) {
    const vars = file.get(`layers/${keras3Key}/vars`);
    if (!(vars instanceof h5wasm.Group)) return fail(`no 'layers/${keras3Key}/vars' in the file`);
    return layer.weights.map((weight, i) => {
      const dataset = vars.get(String(i));
      if (!(dataset instanceof h5wasm.Dataset)) {
        return fail(`'layers/${keras3Key}/vars/${i}' is missing`);
      }
      const shape = dataset.shape ?? [];
      if (shape.join() !== weight.shape.join()) {
        fail(
          `'layers/${keras3Key}/vars/${i}' has shape [${shape}], the model expects [${weight.shape}]`,
        );
      }
      return tf.tensor(Float32Array.from(dataset.value as ArrayLike<number>), shape);
    });
  }
  const group = file.get(layer.name);
  if (!(group instanceof h5wasm.Group)) return fail("layer missing from the file");
  const names = stringList(group, "weight_names");
  if (names.length !== layer.weights.length) {
    fail(`has ${names.length} weights, the model's layer has ${layer.weights.length}`);
  }
  const datasets = names.map((name, i) => {
    const dataset = group.get(name);
    if (!(dataset instanceof h5wasm.Dataset)) return fail(`weight '${name}' is missing`);
    const shape = dataset.shape ?? [];
    if (shape.join() !== layer.weights[i].shape.join()) {
      fail(`weight '${name}' has shape [${shape}], the model expects [${layer.weights[i].shape}]`);
    }
    return dataset;
  });
  return datasets.map((dataset) =>
    tf.tensor(Float32Array.from(dataset.value as ArrayLike<number>), dataset.shape ?? [])
  );
}

/**
 * Loads weights from a Keras `save_weights` HDF5 file into `model`: Keras 2's layout (and Keras
 * 3's legacy `.h5`), matching layers by name and weights by order within a layer (as Keras'
 * `load_weights(by_name=True)`), or Keras 3's `.weights.h5` layout, matching layers by class
 * and order (as Keras 3 itself does). Every shape is checked before anything is loaded; a
 * {@link DataFileError} names the file, the layer and the difference.
 */
export async function importKerasWeights(
  model: PneumothoraxDetectionModel,
  path: string,
): Promise<void> {
  const file = await openHdf5(path);
  const layers = model.network.layers.filter((layer) => layer.weights.length > 0);
  const keys = file.get("layers") instanceof h5wasm.Group
    ? keras3Keys(model.network.layers)
    : undefined;
  const values: tf.Tensor[][] = [];
  try {
    for (const layer of layers) values.push(readKerasLayer(file, path, layer, keys?.get(layer)));
    layers.forEach((layer, i) => layer.setWeights(values[i]));
  } finally {
    file.close();
    tf.dispose(values.flat());
  }
}

/**
 * The lab's dataset: `pneumothorax_train.h5` and `pneumothorax_test.h5` read with h5wasm,
 * validated, kept in memory as uint8 (a quarter of float32), and served as float32 tensor
 * batches the way the lab's `PneumothoraxDataset` does.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { DataFileError, UsageError } from "../core/errors.ts";
import {
  type H5Dataset,
  type H5File,
  type LabArrays,
  openHdf5,
  optionalDataset,
  readHdf5Guarded,
  requireDataset,
} from "./lab_files.ts";
import { createRandom, sampleWithoutReplacement } from "../core/random.ts";
import { IMAGE_SIZE, imageAt, NUM_CLASSES } from "./schema.ts";

/** File name of the training split. */
export const TRAIN_FILE = "pneumothorax_train.h5";
/** File name of the test split. */
export const TEST_FILE = "pneumothorax_test.h5";
/** Images read from HDF5 per slice: bounds the memory a read needs beyond the result. */
const READ_SLICE_IMAGES = 500;

/** HDF5 datatype classes as h5wasm reports them. */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;

/** One split (train or test) held in memory. */
export interface LabSplit extends LabArrays {
  /** Path the split was read from, or a description for in-memory data. */
  source: string;
  /** Number of images. */
  count: number;
  /** Image side in pixels. */
  imageSize: number;
  /** Fixes applied while reading (e.g. float images in [0,1] scaled to [0,255]). */
  notes: string[];
}

/** What {@link validateLabFile} found in a file. */
export interface LabFileSummary {
  /** Path of the file. */
  path: string;
  /** Number of images. */
  count: number;
  /** Number of pneumothorax images. */
  positives: number;
  /** Image side in pixels. */
  imageSize: number;
  /** HDF5 type of `image`, as h5wasm spells it (`<B` is uint8). */
  imageType: string;
  /** Whether the file holds lesion masks (phantoms). */
  hasMask: boolean;
}

/** Options of {@link readLabFile} and {@link validateLabFile}. */
export interface ReadLabFileOptions {
  /** Expected image side (default {@link IMAGE_SIZE}). */
  imageSize?: number;
  /**
   * Also read the optional `patient_id` and `file` string datasets into `patientIds` and
   * `files` (default false). Off by default because nothing in the lab needs them and the HDF5
   * of h5wasm 0.10.3 can loop forever or abort on a damaged heap of variable-length strings,
   * which these datasets use (found by tests/fuzz_hdf5_test.ts).
   */
  strings?: boolean;
}

interface OpenedLabFile {
  image: H5Dataset;
  count: number;
  labels: Uint8Array;
  mask?: H5Dataset;
  patientId?: H5Dataset;
  file?: H5Dataset;
  close(): void;
}

function shapeText(shape: number[] | null): string {
  return shape === null ? "a scalar" : `(${shape.join(",")})`;
}

function checkNumeric(dataset: H5Dataset, path: string, name: string): void {
  const type = dataset.metadata.type;
  if (type !== H5T_INTEGER && type !== H5T_FLOAT) {
    throw new DataFileError(
      { file: path, dataset: name },
      `has non-numeric type ${dataset.dtype}; expected numbers`,
    );
  }
}

function checkImageShape(
  dataset: H5Dataset,
  path: string,
  name: string,
  imageSize: number,
): number {
  const shape = dataset.shape ?? [];
  const valid = shape.length === 3 || (shape.length === 4 && shape[3] === 1);
  if (!valid) {
    throw new DataFileError(
      { file: path, dataset: name },
      `has shape ${shapeText(dataset.shape)}; expected (N,${imageSize},${imageSize},1) or ` +
        `(N,${imageSize},${imageSize})`,
    );
  }
  if (shape[1] !== imageSize || shape[2] !== imageSize) {
    throw new DataFileError(
      { file: path, dataset: name },
      `images are ${shape[1]}x${shape[2]}; the lab expects ${imageSize}x${imageSize}`,
    );
  }
  if (shape[0] === 0) throw new DataFileError({ file: path, dataset: name }, "holds zero images");
  return shape[0];
}

/** Reads `label` (N,2) one-hot and returns class indices, or throws naming the bad row. */
function readLabels(dataset: H5Dataset, path: string, count: number): Uint8Array {
  checkNumeric(dataset, path, "label");
  const shape = dataset.shape ?? [];
  if (shape.length !== 2 || shape[1] !== NUM_CLASSES) {
    const classes = shape.length === 2 ? ` (${shape[1]} classes)` : "";
    throw new DataFileError(
      { file: path, dataset: "label" },
      `has shape ${shapeText(dataset.shape)}${classes}; expected (N,2) one-hot, ` +
        "column 1 = pneumothorax",
    );
  }
  if (shape[0] !== count) {
    throw new DataFileError(
      { file: path, dataset: "label" },
      `has ${shape[0]} rows but 'image' has ${count} images`,
    );
  }
  const values = Array.from(dataset.value as ArrayLike<number | bigint>, Number);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const [a, b] = [values[2 * i], values[2 * i + 1]];
    if (a === 1 && b === 0) labels[i] = 0;
    else if (a === 0 && b === 1) labels[i] = 1;
    else {
      throw new DataFileError(
        { file: path, dataset: "label" },
        `row ${i} is [${a}, ${b}]; expected one-hot [1, 0] or [0, 1]`,
      );
    }
  }
  return labels;
}

/**
 * Closes `file`. A damaged file may also fail to close: a reader can ignore that, since what it
 * read, or the error that stopped it, is what matters.
 */
function closeQuietly(file: H5File, path: string): void {
  try {
    readHdf5Guarded(path, () => file.close());
  } catch {
    // Nothing to do: the file handle is released either way.
  }
}

async function openLabFile(path: string, imageSize: number): Promise<OpenedLabFile> {
  const file = await openHdf5(path);
  try {
    return readHdf5Guarded(path, () => describeLabFile(file, path, imageSize));
  } catch (error) {
    closeQuietly(file, path);
    throw error;
  }
}

/** Checks the datasets of an open lab file (synchronous, inside {@link readHdf5Guarded}). */
function describeLabFile(file: H5File, path: string, imageSize: number): OpenedLabFile {
  const image = requireDataset(file, path, "image");
  checkNumeric(image, path, "image");
  const count = checkImageShape(image, path, "image", imageSize);
  const labels = readLabels(requireDataset(file, path, "label"), path, count);
  const mask = optionalDataset(file, "mask");
  if (mask) {
    checkNumeric(mask, path, "mask");
    const maskCount = checkImageShape(mask, path, "mask", imageSize);
    if (maskCount !== count) {
      throw new DataFileError(
        { file: path, dataset: "mask" },
        `has ${maskCount} masks but 'image' has ${count} images`,
      );
    }
  }
  return {
    image,
    count,
    labels,
    mask,
    patientId: optionalDataset(file, "patient_id"),
    file: optionalDataset(file, "file"),
    close: () => closeQuietly(file, path),
  };
}

/**
 * Opens a file of the lab's schema and checks it without reading the pixels: HDF5, `image`
 * (N,S,S[,1]) numeric, `label` (N,2) one-hot with as many rows, optional `mask` of the image's
 * shape. Throws a {@link DataFileError} naming the file, the dataset and the problem.
 */
export async function validateLabFile(
  path: string,
  options: ReadLabFileOptions = {},
): Promise<LabFileSummary> {
  const imageSize = options.imageSize ?? IMAGE_SIZE;
  const opened = await openLabFile(path, imageSize);
  try {
    return readHdf5Guarded(path, () => ({
      path,
      count: opened.count,
      positives: opened.labels.reduce((sum, label) => sum + label, 0),
      imageSize,
      imageType: opened.image.dtype as string,
      hasMask: opened.mask !== undefined,
    }));
  } finally {
    opened.close();
  }
}

type Slice = ArrayLike<number | bigint>;

function readSlices(
  dataset: H5Dataset,
  count: number,
  visit: (slice: Slice, start: number) => void,
) {
  for (let start = 0; start < count; start += READ_SLICE_IMAGES) {
    const end = Math.min(count, start + READ_SLICE_IMAGES);
    visit(dataset.slice([[start, end]]) as Slice, start);
  }
}

/** Value range of a non-uint8 dataset; throws on NaN or infinite values, naming the image. */
function valueRange(dataset: H5Dataset, path: string, name: string, count: number) {
  const pixels = (dataset.shape![1]) * (dataset.shape![2]);
  let min = Infinity;
  let max = -Infinity;
  readSlices(dataset, count, (slice, start) => {
    for (let i = 0; i < slice.length; i++) {
      const value = Number(slice[i]);
      if (!Number.isFinite(value)) {
        throw new DataFileError(
          { file: path, dataset: name },
          `image ${start + Math.floor(i / pixels)} holds ${value}; pixels must be finite numbers`,
        );
      }
      if (value < min) min = value;
      if (value > max) max = value;
    }
  });
  return { min, max };
}

/** How raw values map to [0,255], and the note that says so (none when nothing changes). */
function chooseScaling(min: number, max: number, isFloat: boolean) {
  if (min >= 0 && max <= 1 && isFloat) {
    return { scale: 255, offset: 0, note: "float pixels in [0,1] were scaled to [0,255]" };
  }
  if (min >= 0 && max <= 255) return { scale: 1, offset: 0, note: undefined };
  const span = max - min || 1;
  return {
    scale: 255 / span,
    offset: -min,
    note: `pixels in [${min},${max}] were rescaled linearly to [0,255]`,
  };
}

/** Reads a whole image-like dataset into uint8, slice by slice, converting other types. */
function readImagesAsUint8(
  dataset: H5Dataset,
  path: string,
  name: string,
  count: number,
  notes: string[],
): Uint8Array {
  const pixels = dataset.shape![1] * dataset.shape![2];
  const out = new Uint8Array(count * pixels);
  const isUint8 = dataset.metadata.type === H5T_INTEGER && dataset.metadata.size === 1 &&
    !dataset.metadata.signed;
  if (isUint8) {
    readSlices(dataset, count, (slice, start) => out.set(slice as Uint8Array, start * pixels));
    return out;
  }
  const { min, max } = valueRange(dataset, path, name, count);
  const { scale, offset, note } = chooseScaling(min, max, dataset.metadata.type === H5T_FLOAT);
  if (note) notes.push(`${path}: dataset '${name}': ${note}`);
  readSlices(dataset, count, (slice, start) => {
    const base = start * pixels;
    for (let i = 0; i < slice.length; i++) {
      out[base + i] = Math.round((Number(slice[i]) + offset) * scale);
    }
  });
  return out;
}

function readStrings(dataset: H5Dataset | undefined): string[] | undefined {
  if (!dataset) return undefined;
  return Array.from(dataset.value as ArrayLike<unknown>, String);
}

/**
 * Reads and validates one file of the lab's schema into memory (images as uint8). Non-uint8
 * images are converted, and the conversion is recorded in `notes`. The `patient_id` and `file`
 * strings are read only when `options.strings` asks for them.
 */
export async function readLabFile(
  path: string,
  options: ReadLabFileOptions = {},
): Promise<LabSplit> {
  const imageSize = options.imageSize ?? IMAGE_SIZE;
  const opened = await openLabFile(path, imageSize);
  try {
    return readHdf5Guarded(
      path,
      () => readOpenedLabFile(opened, { path, imageSize, strings: options.strings ?? false }),
    );
  } finally {
    opened.close();
  }
}

/** Says so when an image-like dataset is (N,S,S), read as (N,S,S,1). */
function noteChannelAxis(dataset: H5Dataset, path: string, name: string, notes: string[]): void {
  const shape = dataset.shape ?? [];
  if (shape.length === 3) {
    notes.push(
      `${path}: dataset '${name}': shape ${shapeText(shape)} has no channel axis; read as ` +
        `(${shape.join(",")},1)`,
    );
  }
}

/** Reads the arrays of an open lab file (synchronous, inside {@link readHdf5Guarded}). */
function readOpenedLabFile(
  opened: OpenedLabFile,
  { path, imageSize, strings }: { path: string; imageSize: number; strings: boolean },
): LabSplit {
  const notes: string[] = [];
  const images = readImagesAsUint8(opened.image, path, "image", opened.count, notes);
  const masks = opened.mask
    ? readImagesAsUint8(opened.mask, path, "mask", opened.count, notes)
    : undefined;
  noteChannelAxis(opened.image, path, "image", notes);
  if (opened.mask) noteChannelAxis(opened.mask, path, "mask", notes);
  return {
    source: path,
    count: opened.count,
    imageSize,
    images,
    labels: opened.labels,
    masks,
    patientIds: strings ? readStrings(opened.patientId) : undefined,
    files: strings ? readStrings(opened.file) : undefined,
    notes,
  };
}

/** Options of {@link PneumothoraxDataset}. */
export interface DatasetOptions {
  /** Seed of the generator that draws test batches (default 0). */
  seed?: number;
  /** Expected image side (default {@link IMAGE_SIZE}). */
  imageSize?: number;
}

/** Where a dataset's batch cursors stand, to resume training with identical batches. */
export interface BatchState {
  /** Index of the next training image {@link PneumothoraxDataset.getTrainBatch} returns. */
  trainPointer: number;
  /** Number of test batches drawn so far. */
  testBatches: number;
}

/** A batch ready for the model: float32 images (B,S,S,1) in [0,255] and one-hot labels (B,2). */
export type Batch = [images: tf.Tensor4D, labels: tf.Tensor2D];
/** A training batch with its lesion masks (see {@link PneumothoraxDataset.getTrainBatchWithMasks}). */
export type MaskedBatch = [images: tf.Tensor4D, labels: tf.Tensor2D, masks: tf.Tensor4D];

/**
 * The lab's dataset class: training and test images with labels, batches as tensors.
 *
 * @example
 * ```ts
 * import { PneumothoraxDataset } from "./dataset.ts";
 * const split = (n: number) => ({ images: new Uint8Array(n * 4), labels: new Uint8Array(n) });
 * const data = PneumothoraxDataset.fromArrays(split(3), split(2), { imageSize: 2 });
 * const [x, y] = data.getTrainBatch(2);
 * console.log(x.shape, y.shape); // [2, 2, 2, 1] [2, 2]
 * x.dispose();
 * y.dispose();
 * ```
 */
export class PneumothoraxDataset {
  /** The training split. */
  readonly train: LabSplit;
  /** The test split. */
  readonly test: LabSplit;
  /** Seed of the test batch generator. */
  readonly seed: number;
  #trainPointer = 0;
  #testBatches = 0;

  private constructor(train: LabSplit, test: LabSplit, seed: number) {
    this.train = train;
    this.test = test;
    this.seed = seed;
  }

  /**
   * Loads `pneumothorax_train.h5` and `pneumothorax_test.h5` from `dataDir` (default `data`).
   * Throws a {@link DataFileError} naming the file and dataset when one is missing or invalid.
   */
  static async load(dataDir = "data", options: DatasetOptions = {}): Promise<PneumothoraxDataset> {
    const read = { imageSize: options.imageSize };
    const train = await readLabFile(join(dataDir, TRAIN_FILE), read);
    const test = await readLabFile(join(dataDir, TEST_FILE), read);
    return new PneumothoraxDataset(train, test, options.seed ?? 0);
  }

  /** Builds a dataset from arrays in memory (generated phantoms, tests). */
  static fromArrays(
    train: LabArrays,
    test: LabArrays,
    options: DatasetOptions = {},
  ): PneumothoraxDataset {
    const imageSize = options.imageSize ?? IMAGE_SIZE;
    const toSplit = (arrays: LabArrays, name: string): LabSplit => {
      const count = arrays.labels.length;
      if (arrays.images.length !== count * imageSize * imageSize) {
        throw new UsageError(
          `${name}: ${arrays.images.length} pixels for ${count} labels; expected ` +
            `${count}x${imageSize}x${imageSize}`,
        );
      }
      return { ...arrays, source: `${name} (in memory)`, count, imageSize, notes: [] };
    };
    return new PneumothoraxDataset(
      toSplit(train, "train"),
      toSplit(test, "test"),
      options.seed ?? 0,
    );
  }

  /** Number of training images. */
  get numTrain(): number {
    return this.train.count;
  }

  /** Number of test images. */
  get numTest(): number {
    return this.test.count;
  }

  /** Side of the images in pixels. */
  get imageSize(): number {
    return this.train.imageSize;
  }

  /** Fixes applied while reading the files (empty when the files were already uint8). */
  get notes(): string[] {
    return [...this.train.notes, ...this.test.notes];
  }

  /** Total number of images, training plus test (the lab's `getTotalNumDataPoints`). */
  getTotalNumDataPoints(): number {
    return this.numTrain + this.numTest;
  }

  /**
   * The next `batchSize` training images in order, wrapping around at the end of the set (the
   * lab's `getTrainBatch`). The caller disposes the tensors.
   */
  getTrainBatch(batchSize: number): Batch {
    return this.getBatch("train", this.#nextTrainIndices(batchSize));
  }

  /**
   * {@link getTrainBatch} with the lesion masks of its images `[n, S, S, 1]` (1 inside the
   * lesion, 0 elsewhere and on images without one), for training the maps. The caller disposes
   * the tensors.
   *
   * @throws {UsageError} when the training split holds no masks
   */
  getTrainBatchWithMasks(batchSize: number): MaskedBatch {
    if (!this.train.masks) {
      throw new UsageError(
        `${this.train.source} holds no lesion masks, so the maps cannot be trained on them`,
      );
    }
    const indices = this.#nextTrainIndices(batchSize);
    const pixels = this.imageSize * this.imageSize;
    const masks = new Float32Array(indices.length * pixels);
    indices.forEach((index, k) => {
      const mask = this.train.masks!.subarray(index * pixels, (index + 1) * pixels);
      for (let p = 0; p < pixels; p++) masks[k * pixels + p] = mask[p] > 0 ? 1 : 0;
    });
    return [
      ...this.getBatch("train", indices),
      tf.tensor4d(masks, [indices.length, this.imageSize, this.imageSize, 1]),
    ];
  }

  #nextTrainIndices(batchSize: number): number[] {
    checkBatchSize(batchSize, this.numTrain, "training");
    const indices = Array.from(
      { length: batchSize },
      (_, i) => (this.#trainPointer + i) % this.numTrain,
    );
    this.#trainPointer = (this.#trainPointer + batchSize) % this.numTrain;
    return indices;
  }

  /**
   * `batchSize` distinct random test images, drawn by a generator seeded from the dataset's
   * seed and the number of test batches drawn so far (the lab's `getTestBatch`). The caller
   * disposes the tensors.
   */
  getTestBatch(batchSize: number): Batch {
    checkBatchSize(batchSize, this.numTest, "test");
    const random = createRandom(this.seed * 0x9e3779b1 + this.#testBatches);
    this.#testBatches++;
    return this.getBatch("test", sampleWithoutReplacement(random, this.numTest, batchSize));
  }

  /** The images at `indices` of a split as a batch; the caller disposes the tensors. */
  getBatch(split: "train" | "test", indices: readonly number[]): Batch {
    const data = split === "train" ? this.train : this.test;
    const pixels = data.imageSize * data.imageSize;
    const images = new Float32Array(indices.length * pixels);
    const labels = new Float32Array(indices.length * NUM_CLASSES);
    indices.forEach((index, k) => {
      if (!Number.isInteger(index) || index < 0 || index >= data.count) {
        throw new UsageError(`${split} index ${index} is outside [0, ${data.count - 1}]`);
      }
      images.set(imageAt(data, index), k * pixels);
      labels[k * NUM_CLASSES + data.labels[index]] = 1;
    });
    return [
      tf.tensor4d(images, [indices.length, data.imageSize, data.imageSize, 1]),
      tf.tensor2d(labels, [indices.length, NUM_CLASSES]),
    ];
  }

  /** Where the batch cursors stand (saved with checkpoints). */
  get batchState(): BatchState {
    return { trainPointer: this.#trainPointer, testBatches: this.#testBatches };
  }

  /** Moves the batch cursors, e.g. to resume training where a checkpoint left off. */
  set batchState(state: BatchState) {
    this.#trainPointer = state.trainPointer % this.numTrain;
    this.#testBatches = state.testBatches;
  }
}

function checkBatchSize(batchSize: number, available: number, split: string): void {
  requireInteger("batch size", batchSize, { min: 1 });
  if (batchSize > available) {
    throw new UsageError(
      `batch size ${batchSize} is larger than the ${split} set (${available} images)`,
    );
  }
}

/** Images and labels to predict: a dataset split (`dataset.test`) or any arrays of the lab's schema. */
export interface LabeledImages extends LabArrays {
  /** Side of the square images. */
  imageSize: number;
}

/**
 * Both splits of a data folder as one set, the training images first: to score a checkpoint on
 * every image of a folder that none of its training saw (an external test such as the NIH
 * sample, or a set of lesions). Masks are kept when both splits have them, else dropped (with a
 * note), since a set with masks on some images only would score the pointing game on a part.
 */
export function joinSplits(first: LabSplit, second: LabSplit): LabSplit {
  if (first.imageSize !== second.imageSize) {
    throw new DataFileError(
      { file: second.source },
      `images are ${second.imageSize}x${second.imageSize}, those of ${first.source} ` +
        `${first.imageSize}x${first.imageSize}`,
    );
  }
  const concat = (a: Uint8Array, b: Uint8Array) => {
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
  const strings = (a?: string[], b?: string[]) => a && b ? [...a, ...b] : undefined;
  const bothMasks = first.masks !== undefined && second.masks !== undefined;
  const oneMask = (first.masks === undefined) !== (second.masks === undefined);
  return {
    source: `${first.source} + ${second.source}`,
    count: first.count + second.count,
    imageSize: first.imageSize,
    images: concat(first.images, second.images),
    labels: concat(first.labels, second.labels),
    masks: bothMasks ? concat(first.masks!, second.masks!) : undefined,
    patientIds: strings(first.patientIds, second.patientIds),
    files: strings(first.files, second.files),
    notes: [
      ...first.notes,
      ...second.notes,
      ...(oneMask ? ["only one of the two files has lesion masks: masks are not scored"] : []),
    ],
  };
}

/**
 * Phantom chest X-rays: a procedurally generated stand-in for the lab's dataset, with the same
 * schema plus lesion masks, for machines that cannot download the real files.
 *
 * Each image is a frontal radiograph drawn from random anatomy (see `anatomy.ts`) and
 * rendered as attenuation through a display curve with noise (see `phantom_render.ts`); about
 * half have a pneumothorax, whose region is the image's mask. Images are deterministic by seed
 * and independent of the number of worker threads that draw them.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import { createWorkerPool, defaultWorkerCount } from "../core/worker_pool.ts";
import { join } from "node:path";
import { UsageError } from "../core/errors.ts";
import type { LabArrays } from "../data/lab_files.ts";
import { createLabFileStream } from "../data/lab_file_stream.ts";
import {
  type PhantomJob,
  type PhantomJobResult,
  phantomLabels,
  type PhantomSplit,
  renderPhantomJob,
} from "./jobs.ts";
import type { TubeConfounder } from "./case.ts";
import { PHANTOM_SIZE } from "./render.ts";
import { createProgressBar, formatDuration } from "../core/progress.ts";

export type { TubeConfounder } from "./case.ts";
export type { PhantomSplit } from "./jobs.ts";
export { PHANTOM_SIZE } from "./render.ts";

/** Training images by default: the lab's 9,964 images split 9,000 / 964. */
export const DEFAULT_TRAIN_IMAGES = 9000;
/** Test images by default. */
export const DEFAULT_TEST_IMAGES = 964;
/** Fraction of images with a pneumothorax by default. */
export const DEFAULT_POSITIVE_FRACTION = 0.5;
/** File names of the lab's splits. */
export const PHANTOM_FILES: Record<PhantomSplit, string> = {
  train: "pneumothorax_train.h5",
  test: "pneumothorax_test.h5",
};
/** Images per message to a worker: big enough to amortise messaging, small for even load. */
const JOB_IMAGES = 32;
/** Below this many images, drawing on the calling thread beats starting workers. */
const MIN_IMAGES_FOR_WORKERS = 192;

/** Options of {@link generatePhantoms}. */
export interface PhantomOptions {
  /** Dataset seed, an integer in [0, 2^32) (default 0). Same seed, same bytes. */
  seed?: number;
  /** Which split's seed stream to draw from (default `"train"`); the two never share an image. */
  split?: PhantomSplit;
  /** Fraction of images with a pneumothorax, rounded to a whole count (default 0.5). */
  positiveFraction?: number;
  /** Chest-tube probability by label, the shortcut-learning confounder (default: no tubes). */
  tube?: TubeConfounder;
  /** Scales the pneumothorax depths; below 1 is harder (default 1). */
  lesionScale?: number;
  /**
   * Worker threads; 0 draws on the calling thread (default: the logical cores, at most 8, or 0
   * for fewer than 192 images). The images do not depend on it.
   */
  workers?: number;
  /** Called as images are done. */
  onProgress?: (done: number, total: number) => void;
}

/** Generated phantoms: the lab's arrays with masks, plus which images got a chest tube. */
export interface PhantomArrays extends LabArrays {
  /** Lesion masks: 1 inside the pneumothorax, else 0; all zero for negatives. */
  masks: Uint8Array;
  /** 1 for each image with a chest tube (see {@link PhantomOptions.tube}), else 0. */
  tubes: Uint8Array;
}

function checkProbability(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && value <= 1)) {
    throw new UsageError(`${name} must be a probability in [0, 1], got ${value}`);
  }
}

function checkOptions(count: number, options: PhantomOptions): void {
  requireInteger(options.split ?? "count", count, { min: 0, max: 2 ** 31, why: "images" });
  requireInteger("seed", options.seed ?? 0, { min: 0, max: 2 ** 32 - 1 });
  checkProbability("positiveFraction", options.positiveFraction);
  checkProbability("tube.positive", options.tube?.positive);
  checkProbability("tube.negative", options.tube?.negative);
  const scale = options.lesionScale;
  if (scale !== undefined && !(scale > 0 && scale <= 2)) {
    throw new UsageError(`lesionScale must be in (0, 2], got ${scale}`);
  }
  if (options.workers !== undefined) requireInteger("workers", options.workers, { min: 0 });
}

/** Runs `jobs` on `count` module workers, calling `collect` with each result. */
async function runOnWorkers(
  jobs: PhantomJob[],
  count: number,
  collect: (result: PhantomJobResult) => void,
): Promise<void> {
  const pool = createWorkerPool<PhantomJob, PhantomJobResult>(
    new URL("./worker.ts", import.meta.url),
    { workers: Math.min(count, jobs.length), name: "phantom" },
  );
  try {
    await Promise.all(jobs.map((job) => pool.run(job).then(collect)));
  } finally {
    pool.close();
  }
}

/** The labels of `count` images and the jobs that draw them. */
function planJobs(
  count: number,
  options: PhantomOptions,
): { labels: Uint8Array; jobs: PhantomJob[] } {
  checkOptions(count, options);
  const seed = options.seed ?? 0;
  const split = options.split ?? "train";
  const fraction = options.positiveFraction ?? DEFAULT_POSITIVE_FRACTION;
  const labels = phantomLabels(seed, split, count, fraction);
  const jobs: PhantomJob[] = [];
  for (let start = 0; start < count; start += JOB_IMAGES) {
    jobs.push({
      seed,
      split,
      start,
      labels: labels.slice(start, Math.min(count, start + JOB_IMAGES)),
      tube: options.tube,
      lesionScale: options.lesionScale,
    });
  }
  return { labels, jobs };
}

/** Runs `jobs` on the threads `options` asks for, calling `collect` (and the progress callback). */
async function runJobs(
  jobs: PhantomJob[],
  count: number,
  options: PhantomOptions,
  collect: (result: PhantomJobResult) => void,
): Promise<void> {
  let done = 0;
  const report = (result: PhantomJobResult) => {
    collect(result);
    done += result.tubes.length;
    options.onProgress?.(done, count);
  };
  const workers = options.workers ??
    (count < MIN_IMAGES_FOR_WORKERS ? 0 : defaultWorkerCount());
  if (workers === 0) {
    for (const job of jobs) report(renderPhantomJob(job));
  } else {
    await runOnWorkers(jobs, workers, report);
  }
}

/**
 * Generates `count` phantom chest X-rays with labels and pneumothorax masks, in memory.
 *
 * @example
 * ```ts
 * import { generatePhantoms } from "./generator.ts";
 * const { images, labels, masks } = await generatePhantoms(4, { seed: 1 });
 * if (images.length !== 4 * 256 * 256 || labels.length !== 4 || !masks) throw new Error();
 * ```
 */
export async function generatePhantoms(
  count: number,
  options: PhantomOptions = {},
): Promise<PhantomArrays> {
  const { labels, jobs } = planJobs(count, options);
  const pixels = PHANTOM_SIZE * PHANTOM_SIZE;
  const images = new Uint8Array(count * pixels);
  const masks = new Uint8Array(count * pixels);
  const tubes = new Uint8Array(count);
  await runJobs(jobs, count, options, (result) => {
    images.set(result.images, result.start * pixels);
    masks.set(result.masks, result.start * pixels);
    tubes.set(result.tubes, result.start);
  });
  return { images, labels, masks, tubes };
}

/**
 * Generates `count` phantoms straight into the lab file `path` (with masks), slice by slice, so
 * memory stays small whatever the count. Returns the labels written.
 */
export async function writePhantomFile(
  path: string,
  count: number,
  options: PhantomOptions = {},
): Promise<Uint8Array> {
  const { labels, jobs } = planJobs(count, options);
  const stream = await createLabFileStream(path, labels, { imageSize: PHANTOM_SIZE, masks: true });
  try {
    await runJobs(jobs, count, options, (result) => {
      stream.write(result.start, result.images, result.masks);
    });
  } catch (error) {
    await stream.abort();
    throw error;
  }
  await stream.close();
  return labels;
}

/** Options of {@link writePhantomDataset}. */
export interface PhantomDatasetOptions {
  /** Dataset seed (default 0); train and test draw from separate streams of it. */
  seed?: number;
  /** Training images (default 9,000). */
  train?: number;
  /** Test images (default 964). */
  test?: number;
  /** Fraction of images with a pneumothorax in each split (default 0.5). */
  positiveFraction?: number;
  /** Chest-tube probabilities by label in the training split (default: no tubes). */
  trainTube?: TubeConfounder;
  /** Chest-tube probabilities by label in the test split (default: no tubes). */
  testTube?: TubeConfounder;
  /** Scales the pneumothorax depths; below 1 is harder (default 1). */
  lesionScale?: number;
  /** Worker threads (default: the logical cores, at most 8). */
  workers?: number;
  /** Whether to draw progress bars on standard error (default true). */
  progress?: boolean;
}

/** What {@link writePhantomDataset} wrote. */
export interface PhantomDatasetSummary {
  /** Per split: the file, its image count and how many are positive. */
  files: { split: PhantomSplit; path: string; images: number; positives: number }[];
  /** Wall-clock seconds, generation and writing. */
  seconds: number;
}

/**
 * Generates the phantom dataset and writes `pneumothorax_train.h5` and `pneumothorax_test.h5`
 * (with masks) into `outDir`, creating it if needed; images go to disk as they are drawn.
 */
export async function writePhantomDataset(
  outDir: string,
  options: PhantomDatasetOptions = {},
): Promise<PhantomDatasetSummary> {
  const sizes: Record<PhantomSplit, number> = {
    train: options.train ?? DEFAULT_TRAIN_IMAGES,
    test: options.test ?? DEFAULT_TEST_IMAGES,
  };
  await Deno.mkdir(outDir, { recursive: true });
  const started = performance.now();
  const files: PhantomDatasetSummary["files"] = [];
  for (const split of ["train", "test"] as const) {
    const bar = options.progress === false
      ? undefined
      : createProgressBar(sizes[split], { label: `phantoms ${split}`, unit: "images" });
    const path = join(outDir, PHANTOM_FILES[split]);
    const labels = await writePhantomFile(path, sizes[split], {
      seed: options.seed,
      split,
      positiveFraction: options.positiveFraction,
      tube: split === "train" ? options.trainTube : options.testTube,
      lesionScale: options.lesionScale,
      workers: options.workers,
      onProgress: (done, total) => bar?.update(done, total),
    });
    const seconds = (performance.now() - started) / 1000;
    bar?.done(`-> ${path} (${formatDuration(seconds)})`);
    const positives = labels.reduce((sum, label) => sum + label, 0);
    files.push({ split, path, images: sizes[split], positives });
  }
  return { files, seconds: (performance.now() - started) / 1000 };
}

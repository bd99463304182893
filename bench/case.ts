/**
 * One measurement of `deno task bench`, run in a process of its own (so that its peak memory is
 * its own, and a wasm heap grown by one case does not carry into the next). Given a
 * {@link CaseSpec} as JSON in the first argument, it prints a {@link CaseResult} (or, for
 * `matmul`, a {@link MatMulResult}) as JSON on standard output.
 *
 * Modes:
 * - `lab`: the lab's loop as it is, in this thread on the backend the lab picks: `train()` of
 *   lib/training/train.ts, and `predictLogitsInBatches()` of lib/model/predict.ts for inference.
 * - `replicas`: data-parallel training and inference across module workers
 *   (lib/training/parallel.ts), `workers` replicas with passes of at most `microBatchSize` images.
 * - `matmul`: the backend's float32 matrix product, one thread.
 *
 * Images are seeded random uint8 pixels: a step's cost does not depend on what the pixels show.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backends/backend.ts";
import { PneumothoraxDataset } from "../lib/data/dataset.ts";
import { predictLogitsInBatches } from "../lib/model/predict.ts";
import { createModel, type PneumothoraxDetectionModel } from "../lib/model/model.ts";
import { createParallelTrainer, maxMicroBatchSize } from "../lib/training/parallel.ts";
import { loadOneDnn, type OneDnn } from "../lib/backends/onednn/mod.ts";
import { createRandom } from "../lib/core/random.ts";
import { createOptimizer, disposeOptimizer, train } from "../lib/training/train.ts";

/**
 * The learning rate of the measured training, here and in PyTorch: the lab's 0.05 drives the
 * random images and labels of the benchmark to a NaN cost within a few steps, on which the lab's
 * loop stops. A step costs the same at any rate.
 */
export const BENCH_LEARNING_RATE = 0.001;

/** What to measure. */
export interface CaseSpec {
  /** `lab` (the lab's loop, this thread) or `replicas` (module workers). */
  mode: "lab" | "replicas";
  /** Filters of the first block. */
  width: number;
  /** Images per training step and per inference batch. */
  batch: number;
  /** Side of the square images. */
  imageSize: number;
  /** Training steps and inference batches per timed measurement. */
  steps: number;
  /** Timed measurements of each (after one step and one batch to warm up); default 1. */
  repeats?: number;
  /** Replicas (`replicas` mode). */
  workers?: number;
  /** Most images per pass in a replica (`replicas` mode); default from the memory estimate. */
  microBatchSize?: number;
}

/** What one case measured. */
export interface CaseResult {
  /** The backend that ran, described. */
  backend: string;
  /** Training images per second: the median of the timed measurements. */
  trainImagesPerSecond: number;
  /** Inference images per second: the median of the timed measurements. */
  inferImagesPerSecond: number;
  /** The slowest and fastest measurement of each, images per second. */
  spread: { train: [number, number]; infer: [number, number] };
  /**
   * CPU seconds per wall-clock second while training: the cores the process kept busy (its
   * workers included), which falls short of the workers when other programs hold cores. Null
   * where /proc is missing.
   */
  trainCoresUsed: number | null;
  /** The same while predicting. */
  inferCoresUsed: number | null;
  /** Peak resident memory of the process (its workers included), or null where unknown. */
  peakMemoryBytes: number | null;
  /** Replicas (`replicas` mode). */
  workers?: number;
  /** Most images per pass in a replica (`replicas` mode). */
  microBatchSize?: number;
}

/** The backend's float32 matrix product. */
export interface MatMulResult {
  /** The backend, described. */
  backend: string;
  /** Best of five, in GFLOP/s (2 m k n operations). */
  gflops: number;
  /** The same product in oneDNN with all cores, or null where oneDNN cannot run. */
  onednnGflops: number | null;
  /** The oneDNN that ran it, or null where oneDNN cannot run. */
  onednn: OneDnnInfo | null;
}

/** Which oneDNN ran, and the kernel it chose for the matrix product (it names the ISA). */
export interface OneDnnInfo {
  /** e.g. `3.2.0`. */
  version: string;
  /** The library file. */
  library: string;
  /** Its threading runtime, e.g. `OpenMP`. */
  runtime: string;
  /** The matrix product's implementation, e.g. `brg:avx512_core`. */
  matMulImplementation: string;
}

/** Shape of the matrix product of the peak measurement, `[m, k] x [k, n]`. */
export interface MatMulShape {
  /** Rows of the left matrix. */
  m: number;
  /** Columns of the left matrix. */
  k: number;
  /** Columns of the right matrix. */
  n: number;
}

/** Peak resident memory of this process (`VmHWM`, Linux), or null where it cannot be read. */
export function peakResidentBytes(): number | null {
  try {
    const match = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+)\s+kB/m);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** A dataset of `count` seeded random images (half of them labelled pneumothorax). */
function randomDataset(count: number, imageSize: number): PneumothoraxDataset {
  const random = createRandom(1);
  const split = () => ({
    images: Uint8Array.from({ length: count * imageSize * imageSize }, () => 256 * random()),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 2),
  });
  return PneumothoraxDataset.fromArrays(split(), split(), { imageSize });
}

/** USER_HZ: the unit of the CPU times in /proc (fixed at 100 in Linux's user-space ABI). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds this process has used, all its threads (workers) included: `utime + stime` of
 * /proc/self/stat; null where there is no /proc.
 */
export function processCpuSeconds(): number | null {
  try {
    const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Throughput of some runs (the median of the measurements), and how many cores were busy. */
interface Throughput {
  imagesPerSecond: number;
  spread: [number, number];
  coresUsed: number | null;
}

/** Times `repeats` measurements of `runs` calls of `run` that handle `count` images in all. */
async function throughput(
  count: number,
  runs: number,
  repeats: number,
  run: () => Promise<unknown>,
): Promise<Throughput> {
  const rates: number[] = [];
  const cores: number[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    const cpuBefore = processCpuSeconds();
    const started = performance.now();
    for (let i = 0; i < runs; i++) await run();
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = processCpuSeconds();
    rates.push(count / seconds);
    if (cpuBefore !== null && cpuAfter !== null) cores.push((cpuAfter - cpuBefore) / seconds);
  }
  return {
    imagesPerSecond: median(rates),
    spread: [Math.min(...rates), Math.max(...rates)],
    coresUsed: cores.length === 0 ? null : median(cores),
  };
}

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function results(trained: Throughput, inferred: Throughput) {
  return {
    trainImagesPerSecond: trained.imagesPerSecond,
    inferImagesPerSecond: inferred.imagesPerSecond,
    spread: { train: trained.spread, infer: inferred.spread },
    trainCoresUsed: trained.coresUsed,
    inferCoresUsed: inferred.coresUsed,
  };
}

async function measureLab(
  spec: CaseSpec,
  model: PneumothoraxDetectionModel,
  data: PneumothoraxDataset,
) {
  const options = {
    batchSize: spec.batch,
    evalEvery: spec.steps + 1,
    evalSize: 1,
    learningRate: BENCH_LEARNING_RATE,
  };
  await train(model, data, { ...options, steps: 1 });
  const repeats = spec.repeats ?? 1;
  const trained = await throughput(
    spec.batch * spec.steps,
    1,
    repeats,
    () => train(model, data, { ...options, steps: spec.steps }),
  );
  const [images, labels] = data.getTrainBatch(spec.batch);
  const predict = () =>
    Promise.resolve(predictLogitsInBatches(model, images, spec.batch).dispose());
  await predict();
  const inferred = await throughput(spec.batch * spec.steps, spec.steps, repeats, predict);
  tf.dispose([images, labels]);
  return results(trained, inferred);
}

async function measureReplicas(
  spec: CaseSpec,
  model: PneumothoraxDetectionModel,
  data: PneumothoraxDataset,
) {
  const workers = spec.workers ?? navigator.hardwareConcurrency;
  const microBatchSize = spec.microBatchSize ?? maxMicroBatchSize(spec.width, spec.imageSize);
  const trainer = await createParallelTrainer(model, { workers, microBatchSize });
  const optimizer = createOptimizer(BENCH_LEARNING_RATE);
  const step = async (size: number) => {
    const [images, labels] = data.getTrainBatch(size);
    try {
      await trainer.trainStep(optimizer, images, labels);
    } finally {
      tf.dispose([images, labels]);
    }
  };
  try {
    // Warm-up: one full pass in every replica grows each heap to what the measured steps need.
    await step(Math.min(spec.batch, workers * microBatchSize));
    const repeats = spec.repeats ?? 1;
    const trained = await throughput(
      spec.batch * spec.steps,
      spec.steps,
      repeats,
      () => step(spec.batch),
    );
    const [images, labels] = data.getTrainBatch(spec.batch);
    const predict = async () => (await trainer.predictLogits(images)).dispose();
    await predict();
    const inferred = await throughput(spec.batch * spec.steps, spec.steps, repeats, predict);
    tf.dispose([images, labels]);
    return { ...results(trained, inferred), workers, microBatchSize };
  } finally {
    trainer.dispose();
    disposeOptimizer(optimizer);
  }
}

/** Measures one case on the backend the lab picks (`LAB_BACKEND` or the ladder). */
export async function measureCase(spec: CaseSpec): Promise<CaseResult> {
  const backend = await selectBackend();
  const model = createModel({ width: spec.width, imageSize: spec.imageSize });
  const data = randomDataset(spec.batch, spec.imageSize);
  try {
    const measured = spec.mode === "lab"
      ? await measureLab(spec, model, data)
      : await measureReplicas(spec, model, data);
    const description = spec.mode === "lab" ? backend.description : `${backend.rung} in workers`;
    return { backend: description, ...measured, peakMemoryBytes: peakResidentBytes() };
  } finally {
    model.dispose();
  }
}

/** Measures the backend's float32 matrix product `[m, k] x [k, n]` in this thread. */
export async function measureMatMul(shape: MatMulShape): Promise<MatMulResult> {
  const backend = await selectBackend();
  const a = tf.randomUniform([shape.m, shape.k]) as tf.Tensor2D;
  const b = tf.randomUniform([shape.k, shape.n]) as tf.Tensor2D;
  const seconds = bestOfFive(() => tf.tidy(() => tf.matMul(a, b).dataSync()));
  tf.dispose([a, b]);
  const onednn = oneDnnMatMul(shape);
  return {
    backend: backend.description,
    gflops: gflops(shape, seconds),
    onednnGflops: onednn === null ? null : gflops(shape, onednn.seconds),
    onednn: onednn === null ? null : onednn.info,
  };
}

/** The best of five oneDNN matrix products and the oneDNN that ran them; null without oneDNN. */
function oneDnnMatMul(shape: MatMulShape): { seconds: number; info: OneDnnInfo } | null {
  let onednn: OneDnn;
  try {
    onednn = loadOneDnn();
  } catch {
    return null;
  }
  const random = createRandom(2);
  const a = Float32Array.from({ length: shape.m * shape.k }, random);
  const b = Float32Array.from({ length: shape.k * shape.n }, random);
  const c = new Float32Array(shape.m * shape.n);
  const seconds = bestOfFive(() => onednn.matMul(shape.m, shape.k, shape.n, a, b, c));
  const { version, library, runtime } = onednn;
  const [matMulImplementation] = Object.values(onednn.implementations());
  return { seconds, info: { version, library, runtime, matMulImplementation } };
}

/** Seconds of the fastest of five runs of `run`, after one to warm up. */
function bestOfFive(run: () => void): number {
  run();
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    run();
    best = Math.min(best, (performance.now() - started) / 1000);
  }
  return best;
}

/** GFLOP/s of a matrix product of `shape` (2 m k n operations) done in `seconds`. */
function gflops(shape: MatMulShape, seconds: number): number {
  return (2 * shape.m * shape.k * shape.n) / seconds / 1e9;
}

if (import.meta.main) {
  const [command, spec] = [Deno.args[0], JSON.parse(Deno.args[1] ?? "{}")];
  const result = command === "matmul" ? await measureMatMul(spec) : await measureCase(spec);
  console.log(JSON.stringify(result));
  Deno.exit(0);
}

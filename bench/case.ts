/**
 * The lab's side of `deno task bench`, run in a process of its own (so that its peak memory is
 * its own, and a wasm heap grown by one case does not carry into the next).
 *
 * Commands (the first argument; the second a JSON spec):
 * - `serve` ({@link LabSpec}): builds the lab's model on the backend the lab picks (`LAB_BACKEND`,
 *   and `LAB_PRECISION`, which the benchmark sets per contestant), warms up, answers a
 *   {@link LabReady} line on standard output, then reads commands on standard input, one a line:
 *   `train` and `infer` time `steps` training steps or inference batches, one by one, and
 *   answer a {@link Measurement} (the fastest one's rate, and all of them together); `done` answers the peak resident memory and ends. The benchmark
 *   interleaves these with PyTorch's (bench/torch_reference.py), round by round, so that both
 *   sides see the same load.
 *   It trains as `deno task train` does: the lab's loop in this thread (lib/training/train.ts,
 *   inference through lib/model/predict.ts) where a batch fits the wasm heap in one pass, else
 *   replicas in module workers (lib/training/parallel.ts) with passes that fit; `workers` asks
 *   for replicas.
 * - `matmul` ({@link MatMulShape}): the backend's float32 matrix product, one thread, and
 *   oneDNN's with all cores; answers a {@link MatMulResult}.
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
import {
  createParallelTrainer,
  maxMicroBatchSize,
  maxThreadBatchSize,
} from "../lib/training/parallel.ts";
import { loadOneDnn, type OneDnn } from "../lib/backends/onednn/mod.ts";
import { createRandom } from "../lib/core/random.ts";
import { createOptimizer, disposeOptimizer, train } from "../lib/training/train.ts";

/**
 * The learning rate of the measured training, here and in PyTorch: the lab's 0.05 drives the
 * random images and labels of the benchmark to a NaN cost within a few steps, on which the lab's
 * loop stops. A step costs the same at any rate.
 */
export const BENCH_LEARNING_RATE = 0.001;

/** One contestant of the lab's side. */
export interface LabSpec {
  /** Filters of the first block. */
  width: number;
  /** Images per training step and per inference batch. */
  batch: number;
  /** Side of the square images. */
  imageSize: number;
  /** Training steps and inference batches per timed measurement. */
  steps: number;
  /** Replicas in module workers; default: none where a batch fits one pass, else one. */
  workers?: number;
}

/** What a contestant answers once it has warmed up. */
export interface LabReady {
  ready: true;
  /** The backend that runs, described (with its precision on onednn). */
  backend: string;
  /** `fp32` or `bf16`. */
  precision: "fp32" | "bf16";
  /** How it trains: the loop, or replicas and their passes. */
  method: string;
  /** Seconds of the warm-up. */
  warmUpSeconds: number;
}

/**
 * One timed measurement: `steps` steps or batches, each timed. Its rate is that of the fastest
 * one: on a machine that other programs load, a step that a preemption slowed says more about
 * them than about the code, and the fastest of a few steps recovers most of the code's speed on
 * both sides alike.
 */
export interface Measurement {
  /**
   * Images per second of the fastest step or batch; null where the way does not train
   * (PyTorch's frozen graph).
   */
  imagesPerSecond: number | null;
  /** Images per second over all of them. */
  meanImagesPerSecond?: number | null;
  /**
   * CPU seconds per wall-clock second meanwhile: the cores the process kept busy (its workers
   * included), which falls short of the cores when other programs hold them. Null without /proc.
   */
  coresUsed?: number | null;
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

/**
 * Times `runs` calls of `run`, each of `images` images: the rate of the fastest call, the rate
 * of all of them, and the cores busy meanwhile.
 */
async function timed(
  images: number,
  runs: number,
  run: () => Promise<unknown>,
): Promise<Measurement> {
  const cpuBefore = processCpuSeconds();
  const started = performance.now();
  let fastest = Infinity;
  for (let i = 0; i < runs; i++) {
    const callStarted = performance.now();
    await run();
    fastest = Math.min(fastest, (performance.now() - callStarted) / 1000);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = processCpuSeconds();
  return {
    imagesPerSecond: images / fastest,
    meanImagesPerSecond: (runs * images) / seconds,
    coresUsed: cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / seconds,
  };
}

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A training step and an inference batch of the lab's model, the way `deno task train` runs. */
interface LabWay {
  method: string;
  train: () => Promise<unknown>;
  infer: () => Promise<unknown>;
  dispose: () => void;
}

function loopWay(spec: LabSpec, model: PneumothoraxDetectionModel, data: PneumothoraxDataset) {
  const options = {
    batchSize: spec.batch,
    evalEvery: spec.steps + 1,
    evalSize: 1,
    learningRate: BENCH_LEARNING_RATE,
  };
  const [images, labels] = data.getTrainBatch(spec.batch);
  return {
    method: "the lab's loop in one thread, the batch in one pass",
    train: () => train(model, data, { ...options, steps: 1 }),
    infer: () => Promise.resolve(predictLogitsInBatches(model, images, spec.batch).dispose()),
    dispose: () => tf.dispose([images, labels]),
  };
}

async function replicaWay(
  spec: LabSpec,
  model: PneumothoraxDetectionModel,
  data: PneumothoraxDataset,
  workers: number,
): Promise<LabWay> {
  const microBatchSize = maxMicroBatchSize(spec.width, spec.imageSize);
  const trainer = await createParallelTrainer(model, { workers, microBatchSize });
  const optimizer = createOptimizer(BENCH_LEARNING_RATE);
  const [images, labels] = data.getTrainBatch(spec.batch);
  return {
    method: `${workers} replica${workers === 1 ? "" : "s"}, passes of at most ${microBatchSize} ` +
      "images, gradients accumulated",
    train: () => trainer.trainStep(optimizer, images, labels),
    infer: async () => (await trainer.predictLogits(images)).dispose(),
    dispose: () => {
      trainer.dispose();
      disposeOptimizer(optimizer);
      tf.dispose([images, labels]);
    },
  };
}

/** Writes one JSON line on standard output. */
function answer(value: unknown) {
  Deno.stdout.writeSync(new TextEncoder().encode(`${JSON.stringify(value)}\n`));
}

/** The lines of standard input, as they come. */
async function* lines(): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
    }
  }
}

/** Warms up one contestant of the lab's side, then times it on each command (see above). */
export async function serve(spec: LabSpec): Promise<void> {
  const started = performance.now();
  const backend = await selectBackend();
  const model = createModel({ width: spec.width, imageSize: spec.imageSize });
  const data = randomDataset(spec.batch, spec.imageSize);
  const fits = spec.batch <= maxThreadBatchSize(spec.width, spec.imageSize);
  const workers = spec.workers ?? (fits ? 0 : 1);
  const way = workers === 0
    ? loopWay(spec, model, data)
    : await replicaWay(spec, model, data, workers);
  try {
    await way.train();
    await way.infer();
    answer(
      {
        ready: true,
        backend: backend.description,
        precision: backend.precision,
        method: `${backend.rung}: ${way.method}`,
        warmUpSeconds: (performance.now() - started) / 1000,
      } satisfies LabReady,
    );
    for await (const command of lines()) {
      if (command === "train") answer(await timed(spec.batch, spec.steps, way.train));
      else if (command === "infer") answer(await timed(spec.batch, spec.steps, way.infer));
      else if (command === "done") {
        answer({ peakMemoryBytes: peakResidentBytes() });
        return;
      } else throw new Error(`unknown command '${command}'; use train, infer or done`);
    }
  } finally {
    way.dispose();
    model.dispose();
  }
}

/** Measures the backend's float32 matrix product `[m, k] x [k, n]` in this thread. */
export async function measureMatMul(shape: MatMulShape): Promise<MatMulResult> {
  // fp32: in bf16 the onednn backend runs matrix products on oneDNN, and this measures wasm's.
  const backend = await selectBackend({ precision: "fp32" });
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
  if (command === "matmul") answer(await measureMatMul(spec));
  else if (command === "serve") await serve(spec);
  else throw new Error(`unknown command '${command}'; use serve or matmul`);
  Deno.exit(0);
}

/**
 * Data-parallel training and inference of the lab's model across Deno module workers.
 *
 * Deno runs only module workers, so the wasm backend's own threads never start and one training
 * step uses one core. Here each worker holds a replica of the model on its own wasm backend (its
 * own 4 GiB heap). A step splits the batch into one share per replica; each replica computes the
 * gradient of its share's part of the lab's cost (`trainingCost` of each pass, weighted by the
 * pass's fraction of the whole batch), in passes of at most {@link ParallelTrainer.microBatchSize}
 * images whose gradients it adds up (gradient accumulation, which bounds the memory of a pass);
 * the calling thread adds the replicas' gradients, which gives the gradient of the batch's mean
 * cost, and applies it with the caller's optimizer to the caller's model. Every request sends
 * the caller's current weights first, so the replicas always compute with exactly the weights
 * the optimizer produced (and with whatever a checkpoint restored). In exact arithmetic a step
 * equals `optimizer.minimize(() => trainingCost({ logits: model.predictLogits(images), labels }))`;
 * in float32 it differs by the rounding of a different summation order.
 *
 * Use it where the backend computes on the CPU in one thread (wasm), or to train batches larger
 * than one wasm heap holds (width 64 at batch 15, also on `onednn`, whose replicas then share
 * the cores); a GPU or native backend is faster with its own parallelism. Workers speed training
 * up only where cores are idle: Linux with autogroup scheduling
 * (`/proc/sys/kernel/sched_autogroup_enabled`) shares the cores fairly among sessions, whatever
 * their threads, so with another session busy on a 2-core machine the replicas together get
 * about one core.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import * as tf from "@tensorflow/tfjs";
import { currentRung } from "../backends/backend.ts";
import { LabError, UsageError } from "../core/errors.ts";
import type { PneumothoraxDetectionModel } from "../model/model.ts";

/**
 * Bytes of memory a replica may spend on the activations of one pass (of a 4 GiB wasm heap, which
 * never shrinks once grown). 1.5 GiB gives passes of 3 images at width 64: a replica then peaks at
 * 2.0 GiB, below PyTorch's 2.16 GiB at the same batch, and trains no slower than with the passes of
 * 6 that 3 GiB gave (1.39-1.40 against 1.35-1.37 images/s, measured side by side, with 3.25 GiB).
 */
export const REPLICA_MEMORY_BUDGET = 1.5 * 1024 ** 3;
/**
 * Bytes of the calling thread's wasm heap one training pass may use (of 4 GiB; the rest holds
 * the weights, the optimizer's state and the batch), for {@link maxThreadBatchSize}.
 */
export const THREAD_MEMORY_BUDGET = 3.5 * 1024 ** 3;
/**
 * Bytes a training pass keeps per float of the conv layers' outputs (the forward activations,
 * the backward pass's gradients and temporaries): the wasm heap after one step at 256 x 256 held
 * 28.1-29.5 bytes per float, on wasm and onednn, at widths 8 (batch 40), 16 (27) and 64 (5 to
 * 10); rounded up. (It was 40 while wasm's `Identity` copied the tensors saved for backprop.)
 */
export const TRAIN_BYTES_PER_ACTIVATION = 30;
/** Filters multiplier and downsampling of the four blocks (two convolutions each). */
const BLOCK_FILTERS = [1, 2, 4, 8];
const WORKER_URL = new URL("./parallel_worker.ts", import.meta.url).href;

/** Options of {@link createParallelTrainer}. */
export interface ParallelTrainerOptions {
  /** Replicas, one module worker each. Default `navigator.hardwareConcurrency` (one per core). */
  workers?: number;
  /**
   * Most images one replica puts through one forward and backward pass; larger shares are
   * split into passes whose gradients are accumulated. Default: the most whose activations fit
   * {@link ParallelTrainerOptions.memoryBudgetBytes} (see {@link maxMicroBatchSize}).
   */
  microBatchSize?: number;
  /** Bytes of a replica's heap one pass may use, for the default micro-batch. Default 3 GiB. */
  memoryBudgetBytes?: number;
  /**
   * The rung the replicas run on: `wasm`, or `onednn` (wasm with oneDNN's kernels, each replica
   * on its share of the cores). Default: `onednn` where this thread runs on it, else `wasm`.
   */
  backend?: ReplicaBackend;
}

/** The backends a replica can run on (CPU rungs of lib/backends/backend.ts's ladder). */
export type ReplicaBackend = "onednn" | "wasm";

/** Cost and accuracy of a training batch, before the update (as the lab's loop reports them). */
export interface ParallelStepResult {
  /** Mean softmax cross-entropy of the batch. */
  cost: number;
  /** Fraction of the batch whose predicted class is the label's. */
  accuracy: number;
}

/** A request to a replica (see lib/parallel_worker.ts). */
export type ReplicaRequest =
  | { type: "init"; width: number; imageSize: number; backend: ReplicaBackend; threads: number }
  | {
    type: "train";
    weights: Float32Array;
    images: Float32Array;
    labels: Float32Array;
    count: number;
    batchSize: number;
    microBatchSize: number;
  }
  | {
    type: "predict";
    weights: Float32Array;
    images: Float32Array;
    count: number;
    microBatchSize: number;
  };

/** A replica's answer to a {@link ReplicaRequest}. */
export type ReplicaReply =
  | { type: "ready"; params: number; backend: string }
  | { type: "gradients"; gradients: Float32Array; cost: number; correct: number }
  | { type: "logits"; logits: Float32Array }
  | { type: "error"; message: string };

/**
 * Elements of the outputs of the model's eight convolutions for one image: two per block, of
 * `(S / 2^b)^2 x W 2^b` each.
 */
export function convActivationsPerImage(width: number, imageSize: number): number {
  return BLOCK_FILTERS.reduce((sum, filters, block) => {
    const side = imageSize / 2 ** block;
    return sum + 2 * side * side * width * filters;
  }, 0);
}

/**
 * The most images a training pass of a model of `width` at `imageSize` can take within
 * `budgetBytes`, estimated as {@link TRAIN_BYTES_PER_ACTIVATION} bytes per conv output element
 * (at least 1). At the lab's width 64 and 256 x 256 this is 6 for the default 3 GiB; the wasm
 * heap of 4 GiB held 10 images, not 12.
 */
export function maxMicroBatchSize(
  width: number,
  imageSize: number,
  budgetBytes: number = REPLICA_MEMORY_BUDGET,
): number {
  const perImage = TRAIN_BYTES_PER_ACTIVATION * convActivationsPerImage(width, imageSize);
  return Math.max(1, Math.floor(budgetBytes / perImage));
}

/**
 * The most images a training pass on the calling thread's wasm heap can take:
 * {@link maxMicroBatchSize} within {@link THREAD_MEMORY_BUDGET} (7 at width 64, 256 x 256).
 */
export function maxThreadBatchSize(width: number, imageSize: number): number {
  return maxMicroBatchSize(width, imageSize, THREAD_MEMORY_BUDGET);
}

/**
 * Splits `count` images into `parts` contiguous shares as even as possible, larger shares first
 * (15 into 2: `[8, 7]`); shares may be 0 when there are fewer images than parts.
 */
export function splitCount(count: number, parts: number): number[] {
  const base = Math.floor(count / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < count % parts ? 1 : 0));
}

/**
 * Starts one replica of `model` per worker and returns the trainer that drives them. The
 * replicas start on the wasm backend with the model's architecture; they get the model's weights
 * with every request. Call {@link ParallelTrainer.dispose} to stop the workers.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { selectBackend } from "../backends/backend.ts";
 * import { createModel } from "../model/model.ts";
 * import { createParallelTrainer } from "./parallel.ts";
 * import { createOptimizer, disposeOptimizer } from "./train.ts";
 * await selectBackend({ backend: "wasm" });
 * const model = createModel({ width: 2, imageSize: 32 });
 * const optimizer = createOptimizer();
 * const trainer = await createParallelTrainer(model, { workers: 2 });
 * const images = tf.randomUniform([4, 32, 32, 1], 0, 255) as tf.Tensor4D;
 * const labels = tf.oneHot(tf.tensor1d([0, 1, 0, 1], "int32"), 2) as tf.Tensor2D;
 * const { cost, accuracy } = await trainer.trainStep(optimizer, images, labels);
 * console.log(`cost ${cost.toFixed(3)}, accuracy ${accuracy}`);
 * trainer.dispose();
 * disposeOptimizer(optimizer);
 * tf.dispose([images, labels]);
 * model.dispose();
 * ```
 */
export async function createParallelTrainer(
  model: PneumothoraxDetectionModel,
  options: ParallelTrainerOptions = {},
): Promise<ParallelTrainer> {
  const workers = options.workers ?? navigator.hardwareConcurrency;
  requireInteger("workers", workers, { min: 1 });
  const budget = options.memoryBudgetBytes ?? REPLICA_MEMORY_BUDGET;
  if (!(budget > 0)) throw new UsageError(`memoryBudgetBytes must be positive, got ${budget}`);
  const microBatchSize = options.microBatchSize ??
    maxMicroBatchSize(model.width, model.imageSize, budget);
  requireInteger("microBatchSize", microBatchSize, { min: 1 });
  const replicas = Array.from({ length: workers }, () => new ReplicaWorker());
  try {
    const init: ReplicaRequest = {
      type: "init",
      width: model.width,
      imageSize: model.imageSize,
      backend: options.backend ?? (currentRung() === "onednn" ? "onednn" : "wasm"),
      threads: Math.max(1, Math.floor(navigator.hardwareConcurrency / workers)),
    };
    const replies = await Promise.all(replicas.map((replica) => replica.request(init)));
    const params = model.countParams();
    for (const reply of replies) {
      if (reply.type !== "ready" || reply.params !== params) {
        throw new LabError(`a replica built a model with ${JSON.stringify(reply)}, not ${params}`);
      }
    }
    const backend = (replies[0] as { backend: string }).backend;
    return new ParallelTrainer(model, replicas, microBatchSize, backend);
  } catch (error) {
    for (const replica of replicas) replica.terminate();
    throw error;
  }
}

/**
 * Drives the replicas of one model: data-parallel training steps and inference. Made by
 * {@link createParallelTrainer}.
 */
export class ParallelTrainer {
  /** Number of replicas (workers). */
  readonly workers: number;
  /** Most images a replica puts through one pass; larger shares accumulate gradients. */
  readonly microBatchSize: number;
  /** The replicas' backend, described (e.g. `wasm (SIMD, 1 thread; ...)`). */
  readonly backend: string;
  readonly #model: PneumothoraxDetectionModel;
  readonly #replicas: ReplicaWorker[];

  /** Use {@link createParallelTrainer}. */
  constructor(
    model: PneumothoraxDetectionModel,
    replicas: ReplicaWorker[],
    microBatchSize: number,
    backend: string,
  ) {
    this.#model = model;
    this.#replicas = replicas;
    this.workers = replicas.length;
    this.microBatchSize = microBatchSize;
    this.backend = backend;
  }

  /**
   * One training step on a batch (`images` `[n, S, S, 1]`, one-hot `labels` `[n, 2]`): the
   * replicas compute the gradient of the batch's mean cost, and `optimizer` applies it to the
   * model's trainable variables. Returns the batch's cost and accuracy before the update. The
   * caller keeps (and disposes) the tensors it passed.
   */
  async trainStep(
    optimizer: tf.Optimizer,
    images: tf.Tensor4D,
    labels: tf.Tensor2D,
  ): Promise<ParallelStepResult> {
    const count = this.#checkImages(images);
    if (labels.rank !== 2 || labels.shape[0] !== count || labels.shape[1] !== 2) {
      throw new UsageError(`labels must be [${count}, 2] one-hot, got [${labels.shape}]`);
    }
    const weights = this.#readWeights();
    const pixels = this.#model.imageSize ** 2;
    const [imageData, labelData] = [images.dataSync(), labels.dataSync()] as Float32Array[];
    const requests = this.#shares(count).map(([start, size]) => ({
      type: "train" as const,
      weights,
      images: imageData.slice(start * pixels, (start + size) * pixels),
      labels: labelData.slice(start * 2, (start + size) * 2),
      count: size,
      batchSize: count,
      microBatchSize: this.microBatchSize,
    }));
    const replies = await Promise.all(
      requests.map((request, i) =>
        this.#replicas[i].request(request, [request.images.buffer, request.labels.buffer])
      ),
    );
    const sum = new Float32Array(weights.length);
    let cost = 0;
    let correct = 0;
    for (const reply of replies) {
      const { gradients, ...metrics } = expectReply(reply, "gradients");
      for (let k = 0; k < sum.length; k++) sum[k] += gradients[k];
      cost += metrics.cost;
      correct += metrics.correct;
    }
    this.#applyGradients(optimizer, sum);
    return { cost, accuracy: correct / count };
  }

  /**
   * The logits `[n, 2]` of a batch `[n, S, S, 1]`, its images shared among the replicas and
   * predicted {@link microBatchSize} at a time. The caller disposes the result.
   */
  async predictLogits(images: tf.Tensor4D): Promise<tf.Tensor2D> {
    const count = this.#checkImages(images);
    const weights = this.#readWeights();
    const pixels = this.#model.imageSize ** 2;
    const imageData = images.dataSync() as Float32Array;
    const shares = this.#shares(count);
    const replies = await Promise.all(shares.map(([start, size], i) => {
      const share = imageData.slice(start * pixels, (start + size) * pixels);
      const request: ReplicaRequest = {
        type: "predict",
        weights,
        images: share,
        count: size,
        microBatchSize: this.microBatchSize,
      };
      return this.#replicas[i].request(request, [share.buffer]);
    }));
    const logits = new Float32Array(count * 2);
    replies.forEach((reply, i) =>
      logits.set(expectReply(reply, "logits").logits, shares[i][0] * 2)
    );
    return tf.tensor2d(logits, [count, 2]);
  }

  /** Stops the workers. */
  dispose(): void {
    for (const replica of this.#replicas) replica.terminate();
  }

  #checkImages(images: tf.Tensor4D): number {
    const size = this.#model.imageSize;
    const [count, height, width, channels] = images.shape;
    if (images.rank !== 4 || height !== size || width !== size || channels !== 1 || count < 1) {
      throw new UsageError(`images must be [n >= 1, ${size}, ${size}, 1], got [${images.shape}]`);
    }
    return count;
  }

  /** `[start, size]` of each replica's share of `count` images (empty shares left out). */
  #shares(count: number): Array<[number, number]> {
    let start = 0;
    return splitCount(count, this.workers).filter((size) => size > 0).map((size) => {
      start += size;
      return [start - size, size];
    });
  }

  /** The model's trainable variables, concatenated in order. */
  #readWeights(): Float32Array {
    const variables = this.#model.trainableVariables();
    const weights = new Float32Array(variables.reduce((sum, v) => sum + v.size, 0));
    let offset = 0;
    for (const variable of variables) {
      weights.set(variable.dataSync() as Float32Array, offset);
      offset += variable.size;
    }
    return weights;
  }

  #applyGradients(optimizer: tf.Optimizer, gradients: Float32Array): void {
    const named: tf.NamedTensorMap = {};
    let offset = 0;
    for (const variable of this.#model.trainableVariables()) {
      named[variable.name] = tf.tensor(
        gradients.subarray(offset, offset + variable.size),
        variable.shape,
      );
      offset += variable.size;
    }
    try {
      optimizer.applyGradients(named);
    } finally {
      tf.dispose(Object.values(named));
    }
  }
}

function expectReply<T extends ReplicaReply["type"]>(
  reply: ReplicaReply,
  type: T,
): Extract<ReplicaReply, { type: T }> {
  if (reply.type !== type) throw new LabError(`a replica answered ${reply.type}, not ${type}`);
  return reply as Extract<ReplicaReply, { type: T }>;
}

/** One module worker (lib/parallel_worker.ts) holding a replica; answers requests in order. */
export class ReplicaWorker {
  readonly #worker: Worker;
  readonly #pending: Array<{ resolve: (reply: ReplicaReply) => void; reject: (e: Error) => void }> =
    [];
  #failure?: Error;

  /** Starts the worker; it builds its replica on the first (`init`) request. */
  constructor() {
    this.#worker = new Worker(WORKER_URL, { type: "module" });
    this.#worker.onmessage = (event: MessageEvent<ReplicaReply>) => {
      const waiting = this.#pending.shift();
      if (event.data.type === "error") waiting?.reject(new LabError(event.data.message));
      else waiting?.resolve(event.data);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#fail(new LabError(`a training replica failed: ${event.message}`));
    };
  }

  /** Sends a request (transferring `transfer`) and resolves with the replica's reply. */
  request(message: ReplicaRequest, transfer: Transferable[] = []): Promise<ReplicaReply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#worker.postMessage(message, transfer);
    });
  }

  /** Stops the worker; pending requests fail. */
  terminate(): void {
    this.#worker.terminate();
    this.#fail(new LabError("the training replicas were stopped"));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiting of this.#pending.splice(0)) waiting.reject(error);
  }
}

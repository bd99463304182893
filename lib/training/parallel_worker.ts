/**
 * Worker entry of a training replica (see lib/parallel_train.ts): builds the lab's model on the
 * wasm backend, then answers each request with the caller's weights loaded first: the gradient
 * of its share of a batch's cost, accumulated over passes of at most `microBatchSize` images,
 * or the logits of its share.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../backends/backend.ts";
import { createModel, type PneumothoraxDetectionModel } from "../model/model.ts";
import type { ReplicaReply, ReplicaRequest } from "./parallel.ts";
import { computeAccuracy, trainingCost } from "../model/loss.ts";

type TrainRequest = Extract<ReplicaRequest, { type: "train" }>;
type PredictRequest = Extract<ReplicaRequest, { type: "predict" }>;

let model: PneumothoraxDetectionModel | undefined;
let queue: Promise<void> = Promise.resolve();

self.onmessage = (event: MessageEvent<ReplicaRequest>) => {
  queue = queue.then(() => answer(event.data));
};

async function answer(request: ReplicaRequest): Promise<void> {
  try {
    if (request.type === "init") {
      const backend = await selectBackend({ backend: request.backend, threads: request.threads });
      model = createModel({ width: request.width, imageSize: request.imageSize });
      reply({ type: "ready", params: model.countParams(), backend: backend.description });
    } else if (model === undefined) {
      throw new Error(`${request.type} before init`);
    } else if (request.type === "train") {
      loadWeights(model, request.weights);
      const result = computeGradients(model, request);
      reply(result, [result.gradients.buffer as ArrayBuffer]);
    } else {
      loadWeights(model, request.weights);
      const logits = predict(model, request);
      reply({ type: "logits", logits }, [logits.buffer as ArrayBuffer]);
    }
  } catch (error) {
    reply({ type: "error", message: error instanceof Error ? error.message : String(error) });
  }
}

function reply(message: ReplicaReply, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

function loadWeights(replica: PneumothoraxDetectionModel, weights: Float32Array): void {
  let offset = 0;
  for (const variable of replica.trainableVariables()) {
    const value = tf.tensor(weights.subarray(offset, offset + variable.size), variable.shape);
    variable.assign(value);
    value.dispose();
    offset += variable.size;
  }
  if (offset !== weights.length) {
    throw new Error(`got ${weights.length} weights for a model of ${offset}`);
  }
}

/** `[start, size]` of the passes over `count` images, as even as possible, each <= `most`. */
function passes(count: number, most: number): Array<[number, number]> {
  const n = Math.ceil(count / most);
  const result: Array<[number, number]> = [];
  for (let i = 0, start = 0; i < n; i++) {
    const size = Math.floor(count / n) + (i < count % n ? 1 : 0);
    result.push([start, size]);
    start += size;
  }
  return result;
}

function batchOf(
  replica: PneumothoraxDetectionModel,
  images: Float32Array,
  start: number,
  size: number,
) {
  const side = replica.imageSize;
  const pixels = side * side;
  return tf.tensor4d(images.subarray(start * pixels, (start + size) * pixels), [
    size,
    side,
    side,
    1,
  ]);
}

/**
 * Gradient of `sum over passes of trainingCost(pass) x size / batchSize`: this share's part of the
 * gradient of the whole batch's mean cost.
 */
function computeGradients(replica: PneumothoraxDetectionModel, request: TrainRequest) {
  const variables = replica.trainableVariables();
  const gradients = new Float32Array(request.weights.length);
  let cost = 0;
  let correct = 0;
  for (const [start, size] of passes(request.count, request.microBatchSize)) {
    const images = batchOf(replica, request.images, start, size);
    const labels = tf.tensor2d(request.labels.subarray(start * 2, (start + size) * 2), [size, 2]);
    let accuracy: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const logits = replica.predictLogits(images);
      accuracy = tf.keep(computeAccuracy(logits, labels));
      return tf.mul(trainingCost({ logits, labels }), size / request.batchSize);
    }, variables);
    let offset = 0;
    for (const variable of variables) {
      const values = grads[variable.name].dataSync();
      for (let k = 0; k < values.length; k++) gradients[offset + k] += values[k];
      offset += variable.size;
    }
    cost += value.dataSync()[0];
    correct += Math.round(accuracy!.dataSync()[0] * size);
    tf.dispose([images, labels, value, accuracy!, ...Object.values(grads)]);
  }
  return { type: "gradients" as const, gradients, cost, correct };
}

function predict(replica: PneumothoraxDetectionModel, request: PredictRequest): Float32Array {
  const logits = new Float32Array(request.count * 2);
  for (const [start, size] of passes(request.count, request.microBatchSize)) {
    const values = tf.tidy(() =>
      replica.predictLogits(batchOf(replica, request.images, start, size)).dataSync()
    );
    logits.set(values, start * 2);
  }
  return logits;
}

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../lib/backends/backend.ts";
import { createModel, type PneumothoraxDetectionModel } from "../../lib/model/model.ts";
import {
  convActivationsPerImage,
  createParallelTrainer,
  maxMicroBatchSize,
  maxThreadBatchSize,
  type ParallelTrainerOptions,
  splitCount,
} from "../../lib/training/parallel.ts";
import { createOptimizer, disposeOptimizer } from "../../lib/training/train.ts";
import { computeAccuracy } from "../../lib/model/loss.ts";
import { createRandom } from "../../lib/core/random.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { computeCost } from "../../lib/grading/references.ts";

const SIZE = 32;
const WIDTH = 2;
const BATCH = 5;

await selectBackend({ backend: "wasm" });

/** A seeded batch: images in [0, 255], both classes. */
function makeBatch(count = BATCH): [tf.Tensor4D, tf.Tensor2D] {
  const random = createRandom(7);
  const images = Float32Array.from({ length: count * SIZE * SIZE }, () => 255 * random());
  const labels = Float32Array.from(
    { length: count * 2 },
    (_, k) => (k % 2) === (k >> 1) % 2 ? 1 : 0,
  );
  return [tf.tensor4d(images, [count, SIZE, SIZE, 1]), tf.tensor2d(labels, [count, 2])];
}

function weightsOf(model: PneumothoraxDetectionModel): Float32Array[] {
  return model.trainableVariables().map((v) => v.dataSync() as Float32Array);
}

/** Weights after one step of the lab's own update, in this thread. */
function serialStep(): { weights: Float32Array[]; cost: number; accuracy: number } {
  const model = createModel({ width: WIDTH, imageSize: SIZE, seed: 3 });
  const optimizer = createOptimizer();
  const [images, labels] = makeBatch();
  let accuracy = 0;
  const cost = optimizer.minimize(
    () => {
      const logits = model.predictLogits(images);
      accuracy = computeAccuracy(logits, labels).dataSync()[0];
      return computeCost(logits, labels);
    },
    true,
    model.trainableVariables(),
  )!;
  const result = { weights: weightsOf(model), cost: cost.dataSync()[0], accuracy };
  tf.dispose([cost, images, labels]);
  disposeOptimizer(optimizer);
  model.dispose();
  return result;
}

/** Weights after one (or two) data-parallel steps on the same batch. */
async function parallelSteps(options: ParallelTrainerOptions, steps = 1) {
  const model = createModel({ width: WIDTH, imageSize: SIZE, seed: 3 });
  const optimizer = createOptimizer();
  const trainer = await createParallelTrainer(model, options);
  const [images, labels] = makeBatch();
  try {
    const results = [];
    for (let i = 0; i < steps; i++) {
      results.push(await trainer.trainStep(optimizer, images, labels));
    }
    return { weights: weightsOf(model), results };
  } finally {
    trainer.dispose();
    tf.dispose([images, labels]);
    disposeOptimizer(optimizer);
    model.dispose();
  }
}

function assertClose(actual: Float32Array[], expected: Float32Array[], tolerance: number) {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  actual.forEach((values, i) => {
    values.forEach((value, k) => {
      worst = Math.max(worst, Math.abs(value - expected[i][k]) / (1e-3 + Math.abs(expected[i][k])));
    });
  });
  assert.ok(worst < tolerance, `largest relative difference ${worst}`);
}

Deno.test("trainStep() with 2 workers updates the weights as 1 worker and as minimize() do", async () => {
  const serial = serialStep();
  const one = await parallelSteps({ workers: 1 });
  const two = await parallelSteps({ workers: 2 });
  const fresh = createModel({ width: WIDTH, imageSize: SIZE, seed: 3 });
  const initial = weightsOf(fresh);
  fresh.dispose();
  const moved = serial.weights.some((w, i) => w.some((value, k) => value !== initial[i][k]));
  assert.ok(moved, "the step changed the weights");
  assertClose(one.weights, serial.weights, 1e-4);
  assertClose(two.weights, one.weights, 1e-4);
  assert.ok(Math.abs(two.results[0].cost - serial.cost) < 1e-5);
  assert.ok(Math.abs(two.results[0].accuracy - serial.accuracy) < 1e-6);
});

Deno.test("trainStep() accumulating micro-batches of 1 matches whole shares over two steps", async () => {
  const whole = await parallelSteps({ workers: 2 }, 2);
  const micro = await parallelSteps({ workers: 2, microBatchSize: 1 }, 2);
  assertClose(micro.weights, whole.weights, 1e-4);
  assert.ok(Math.abs(micro.results[1].cost - whole.results[1].cost) < 1e-5);
  assert.notEqual(whole.results[1].cost, whole.results[0].cost, "the second step sees new weights");
});

Deno.test("predictLogits() of the replicas equals the model's own logits", async () => {
  const model = createModel({ width: WIDTH, imageSize: SIZE, seed: 4 });
  const trainer = await createParallelTrainer(model, { workers: 2, microBatchSize: 2 });
  const [images, labels] = makeBatch();
  try {
    const parallel = await trainer.predictLogits(images);
    const own = model.predictLogits(images);
    assert.deepEqual(parallel.shape, [BATCH, 2]);
    const a = parallel.dataSync();
    own.dataSync().forEach((value, k) => assert.ok(Math.abs(value - a[k]) < 1e-4));
    tf.dispose([parallel, own]);
    await assert.rejects(trainer.predictLogits(tf.zeros([1, 16, 16, 1])), UsageError);
  } finally {
    trainer.dispose();
    tf.dispose([images, labels]);
    model.dispose();
  }
});

Deno.test("splitCount() and maxMicroBatchSize() share the work and bound memory", () => {
  assert.deepEqual(splitCount(15, 2), [8, 7]);
  assert.deepEqual(splitCount(1, 3), [1, 0, 0]);
  assert.equal(convActivationsPerImage(64, 256), 3.75 * 256 * 256 * 64);
  assert.equal(maxMicroBatchSize(64, 256), 3);
  assert.equal(maxMicroBatchSize(8, 256), 27);
  assert.equal(maxThreadBatchSize(64, 256), 7);
  assert.equal(maxThreadBatchSize(32, 256), 15, "width 32 trains a batch of 15 in one pass");
  assert.equal(maxMicroBatchSize(64, 256, 1), 1);
});

Deno.test("createParallelTrainer() rejects bad options with a UsageError", async () => {
  const model = createModel({ width: WIDTH, imageSize: SIZE });
  await assert.rejects(createParallelTrainer(model, { workers: 0 }), UsageError);
  await assert.rejects(createParallelTrainer(model, { microBatchSize: 1.5 }), UsageError);
  model.dispose();
});

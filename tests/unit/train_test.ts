import assert from "node:assert/strict";
import { withTempDir } from "../support/temp.ts";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { loadCheckpoint, readCheckpointManifest } from "../../lib/model/checkpoint/mod.ts";
import { PneumothoraxDataset } from "../../lib/data/dataset.ts";
import { LabError, UsageError } from "../../lib/core/errors.ts";
import { createModel, type PneumothoraxDetectionModel } from "../../lib/model/model.ts";
import { readEventFile } from "../../lib/training/tensorboard.ts";
import { selectBackend } from "../../lib/backends/backend.ts";
import {
  BATCH_SIZE,
  CHECKPOINT_EVERY,
  createOptimizer,
  disposeOptimizer,
  EVAL_EVERY,
  EVAL_SIZE,
  LEARNING_RATE,
  MOMENTUM,
  type StepMetrics,
  train,
} from "../../lib/training/train.ts";
import { computeAccuracy } from "../../lib/model/loss.ts";
import { squareImages } from "../fixtures/lab_files.ts";
import { lesionMapCost } from "../../lib/training/lesion_maps.ts";
import { createAugmentation } from "../../lib/training/augment.ts";
import { computeCost, predictClass } from "../../lib/grading/references.ts";

await tf.setBackend("cpu");

const SIZE = 16;

const dataset = () =>
  PneumothoraxDataset.fromArrays(
    squareImages(24, { seed: 1, size: SIZE }),
    squareImages(12, { seed: 2, size: SIZE }),
    { imageSize: SIZE, seed: 3 },
  );
const tinyModel = (seed = 1) => createModel({ width: 2, imageSize: SIZE, seed });

function weightsOf(model: PneumothoraxDetectionModel): Float32Array[] {
  return model.network.getWeights().map((w) => w.dataSync() as Float32Array);
}

Deno.test("the lab's hyperparameters are the defaults", () => {
  assert.deepEqual(
    [BATCH_SIZE, LEARNING_RATE, MOMENTUM, EVAL_EVERY, EVAL_SIZE, CHECKPOINT_EVERY],
    [15, 0.05, 0.9, 10, 100, 100],
  );
  const optimizer = createOptimizer();
  assert.deepEqual(optimizer.getConfig(), {
    learningRate: 0.05,
    momentum: 0.9,
    useNesterov: true,
  });
  const before = tf.memory().numTensors;
  disposeOptimizer(createOptimizer());
  assert.equal(tf.memory().numTensors, before, "disposeOptimizer() frees every tensor");
  disposeOptimizer(optimizer);
});

Deno.test("computeCost() is the mean softmax cross-entropy of the logits", () => {
  const logits = [[1, 2], [0.5, -1], [3, 3]];
  const labels = [[0, 1], [0, 1], [1, 0]];
  const expected = logits.reduce((sum, [a, b], i) => {
    const logSumExp = Math.log(Math.exp(a) + Math.exp(b));
    return sum + logSumExp - (labels[i][0] ? a : b);
  }, 0) / logits.length;
  const cost = computeCost(tf.tensor2d(logits), tf.tensor2d(labels));
  assert.ok(Math.abs(cost.dataSync()[0] - expected) < 1e-6);
});

Deno.test("predictClass() is the argmax and computeAccuracy() the fraction matching the labels", () => {
  const logits = tf.tensor2d([[1, 2], [0.5, -1], [3, 2.5], [-1, 0]]);
  const labels = tf.tensor2d([[0, 1], [0, 1], [1, 0], [1, 0]]);
  assert.deepEqual(Array.from(predictClass(logits).dataSync()), [1, 0, 0, 1]);
  assert.equal(computeAccuracy(logits, labels).dataSync()[0], 0.5);
});

Deno.test("train() lowers the cost on a learnable problem and reports every step and evaluation", async () => {
  const model = tinyModel();
  const steps: number[] = [];
  const evals: StepMetrics[] = [];
  const before = tf.memory().numTensors;
  const result = await train(model, dataset(), {
    steps: 30,
    batchSize: 6,
    learningRate: 0.01,
    evalEvery: 10,
    evalSize: 8,
    onStep: (report) => {
      steps.push(report.step);
      assert.equal(report.steps, 30);
      assert.ok(report.imagesPerSecond > 0 && Number.isFinite(report.etaSeconds));
    },
    onEval: (report) => evals.push(report),
  });
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  assert.deepEqual(steps, Array.from({ length: 30 }, (_, i) => i + 1));
  assert.deepEqual(evals.map((e) => e.step), [10, 20, 30]);
  assert.equal(result.stopped, "completed");
  assert.equal(result.train.length, 30);
  const mean = (xs: StepMetrics[]) => xs.reduce((s, x) => s + x.cost, 0) / xs.length;
  const first = mean(result.train.slice(0, 8));
  const last = mean(result.train.slice(-8));
  assert.ok(last < first / 3, `cost fell from ${first} to ${last}`);
  assert.ok(evals[2].accuracy >= 0.75, `test accuracy ${evals[2].accuracy}`);
  assert.ok(result.imagesPerSecond > 0);
});

for (const optimizer of ["momentum", "adam"] as const) {
  Deno.test(`train() resumed from a checkpoint computes exactly the costs of an uninterrupted run (${optimizer})`, async () => {
    await withTempDir(async (dir) => {
      const options = {
        steps: 8,
        batchSize: 5,
        evalEvery: 2,
        evalSize: 6,
        checkpointEvery: 4,
        optimizer,
      };
      const whole = tinyModel(1);
      const uninterrupted = await train(whole, dataset(), {
        ...options,
        checkpointDir: join(dir, "a"),
      });

      const first = await train(tinyModel(1), dataset(), {
        ...options,
        steps: 4,
        checkpointDir: join(dir, "b"),
      });
      assert.equal(first.checkpointStep, 4);
      const resumedModel = tinyModel(99);
      const before = tf.memory().numTensors;
      const resumed = await train(resumedModel, dataset(), {
        ...options,
        checkpointDir: join(dir, "b"),
        resume: true,
      });
      assert.equal(tf.memory().numTensors, before, "resuming leaks no tensors");
      assert.equal(resumed.startStep, 4);
      assert.deepEqual(resumed.train, uninterrupted.train.slice(4));
      assert.deepEqual(resumed.test, uninterrupted.test.slice(2));
      assert.deepEqual(weightsOf(resumedModel), weightsOf(whole));
      const a = (await readCheckpointManifest(join(dir, "a"))).manifest;
      const b = (await readCheckpointManifest(join(dir, "b"))).manifest;
      assert.deepEqual(b.training, a.training);
      assert.equal(b.files["weights.bin"].sha256, a.files["weights.bin"].sha256);
      assert.equal(b.files["optimizer.bin"].sha256, a.files["optimizer.bin"].sha256);
      assert.equal(b.training?.optimizer, optimizer);
    });
  });
}

Deno.test("train() with Adam learns, and a checkpoint resumes only with the optimizer that saved it", async () => {
  await withTempDir(async (dir) => {
    const result = await train(tinyModel(), dataset(), {
      steps: 30,
      batchSize: 6,
      optimizer: "adam",
      learningRate: 0.003,
      evalEvery: 10,
      evalSize: 8,
      checkpointDir: dir,
    });
    const mean = (xs: StepMetrics[]) => xs.reduce((s, x) => s + x.cost, 0) / xs.length;
    const first = mean(result.train.slice(0, 8));
    const last = mean(result.train.slice(-8));
    assert.ok(last < first / 3, `cost fell from ${first} to ${last}`);
    const manifest = (await readCheckpointManifest(dir)).manifest;
    assert.deepEqual(
      [
        manifest.training?.optimizer,
        manifest.training?.learningRate,
        manifest.optimizer?.weights.length,
      ],
      ["adam", 0.003, 1 + 2 * tinyModel().network.trainableWeights.length],
    );
    await assert.rejects(
      () => train(tinyModel(), dataset(), { steps: 40, checkpointDir: dir, resume: true }),
      (error: Error) =>
        error instanceof UsageError && /trained with the adam optimizer/.test(error.message),
    );
  });
});

Deno.test("train() stops on a NaN cost with a clear error and keeps the last good checkpoint", async () => {
  await withTempDir(async (dir) => {
    const model = tinyModel();
    const ckpt = join(dir, "ckpt");
    const poison = (report: { step: number }) => {
      if (report.step !== 3) return;
      const layer = model.network.getLayer("logits");
      const [kernel, bias] = layer.getWeights();
      layer.setWeights([tf.fill(kernel.shape, NaN), bias]);
    };
    await assert.rejects(
      () =>
        train(model, dataset(), {
          steps: 10,
          batchSize: 4,
          checkpointEvery: 2,
          checkpointDir: ckpt,
          onStep: poison,
        }),
      (error: Error) =>
        error instanceof LabError &&
        error.message.startsWith("step 4: the cost is NaN") &&
        error.message.includes(`the last good checkpoint, step 2, is kept in ${ckpt}`),
    );
    const loaded = await loadCheckpoint(ckpt);
    assert.equal(loaded.manifest.step, 2);
    assert.ok(weightsOf(loaded.model).every((w) => w.every(Number.isFinite)));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ckpt"]);
  });
});

Deno.test("train() stops after the current step when its signal aborts, with a final checkpoint", async () => {
  await withTempDir(async (dir) => {
    const controller = new AbortController();
    const ckpt = join(dir, "ckpt");
    const result = await train(tinyModel(), dataset(), {
      steps: 50,
      batchSize: 4,
      checkpointDir: ckpt,
      onStep: ({ step }) => step === 3 && controller.abort(),
      signal: controller.signal,
    });
    assert.equal(result.stopped, "interrupted");
    assert.equal(result.step, 3);
    assert.equal(result.checkpointStep, 3);
    const { manifest } = await readCheckpointManifest(ckpt);
    assert.equal(manifest.step, 3);
    assert.deepEqual(manifest.training?.batchState, { trainPointer: 12, testBatches: 0 });
  });
});

Deno.test("train() writes cost and accuracy summaries for TensorBoard", async () => {
  await withTempDir(async (dir) => {
    const run = join(dir, "logs", "run1");
    await train(tinyModel(), dataset(), { steps: 4, batchSize: 4, evalEvery: 2, logDir: run });
    const read = async (name: string) => {
      const [file] = [...Deno.readDirSync(join(run, name))];
      return (await readEventFile(join(run, name, file.name))).slice(1);
    };
    const trainEvents = await read("train");
    const testEvents = await read("test");
    assert.deepEqual(trainEvents.map((e) => e.step), [1, 2, 3, 4]);
    assert.deepEqual(testEvents.map((e) => e.step), [2, 4]);
    assert.deepEqual(trainEvents[0].scalars.map((s) => s.tag), ["cost", "accuracy"]);
    assert.ok(testEvents.every((e) => e.scalars.every((s) => Number.isFinite(s.value))));
  });
});

Deno.test("train() names an option outside its range", async () => {
  const data = dataset();
  const model = tinyModel();
  await assert.rejects(() => train(model, data, { batchSize: 0 }), UsageError);
  await assert.rejects(
    () => train(model, data, { batchSize: 25 }),
    /batchSize must be an integer in \[1, 24\], got 25/,
  );
  await assert.rejects(() => train(model, data, { steps: -1 }), /steps must be an integer >= 0/);
  await assert.rejects(() => train(model, data, { learningRate: NaN }), /learningRate/);
  await assert.rejects(() => train(model, data, { resume: true }), /resume needs checkpointDir/);
  await assert.rejects(
    // @ts-expect-error: an optimizer the lab does not offer, as untyped notebook code could pass
    () => train(model, data, { optimizer: "rmsprop" }),
    /optimizer must be 'momentum' or 'adam', got 'rmsprop'/,
  );
});

Deno.test("train() with workers computes the same steps as on the calling thread", async () => {
  const options = { steps: 3, batchSize: 6, evalEvery: 3, evalSize: 6 };
  const here = tinyModel(4);
  const alone = await train(here, dataset(), options);
  const spread = tinyModel(4);
  const parallel = await train(spread, dataset(), { ...options, workers: 2 });
  assert.equal(parallel.step, 3);
  parallel.train.forEach((metrics, i) => {
    assert.ok(Math.abs(metrics.cost - alone.train[i].cost) < 1e-4, `step ${i + 1} cost`);
    assert.equal(metrics.accuracy, alone.train[i].accuracy);
  });
  const [a, b] = [weightsOf(here), weightsOf(spread)];
  a.forEach((w, i) => w.forEach((v, j) => assert.ok(Math.abs(v - b[i][j]) < 1e-4, `weight ${i}`)));
  here.dispose();
  spread.dispose();
});

Deno.test("train() on wasm refuses, saying why, a batch that one pass of the heap cannot hold", async () => {
  await selectBackend({ backend: "wasm" });
  const model = createModel({ width: 64, imageSize: 256 });
  const blank = (count: number) => ({
    images: new Uint8Array(count * 256 * 256),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 2),
  });
  const data = PneumothoraxDataset.fromArrays(blank(16), blank(4), { imageSize: 256 });
  try {
    await assert.rejects(
      train(model, data, { steps: 1, batchSize: 15 }),
      (error: Error) =>
        error instanceof UsageError &&
        /^a batch of 15 images at width 64 needs more than the wasm heap holds in one pass \(at most 7 images here\); train with workers/
          .test(error.message),
    );
  } finally {
    model.dispose();
    await tf.setBackend("cpu");
  }
});

Deno.test("train() minimizes the cost it is given and measures accuracy with its prediction", async () => {
  const softmaxFirst = (logits: tf.Tensor2D, labels: tf.Tensor2D) =>
    tf.losses.softmaxCrossEntropy(labels, tf.softmax(logits)) as tf.Scalar;
  const options = { steps: 30, batchSize: 6, learningRate: 0.01, evalEvery: 30, evalSize: 12 };
  const trueTestCost = (model: PneumothoraxDetectionModel, data: PneumothoraxDataset) =>
    tf.tidy(() => {
      const [x, y] = data.getBatch("test", Array.from({ length: 12 }, (_, i) => i));
      return computeCost(model.predictLogits(x), y).dataSync()[0];
    });
  const [right, wrong] = [tinyModel(), tinyModel()];
  const [rightData, wrongData] = [dataset(), dataset()];
  await train(right, rightData, options);
  const reported = await train(wrong, wrongData, {
    ...options,
    cost: softmaxFirst,
    predict: (logits) => tf.zeros([logits.shape[0]], "int32") as tf.Tensor1D,
  });
  assert.ok(
    reported.train.every((m) => m.cost > 0.31 && m.cost < 1.32),
    "the reports give the cost it was given, which softmax squashes into (0.31, 1.32)",
  );
  assert.ok(reported.train.every((m) => m.accuracy === 0.5), "always class 0: half right");
  const [rightCost, wrongCost] = [trueTestCost(right, rightData), trueTestCost(wrong, wrongData)];
  assert.ok(
    wrongCost > rightCost + 0.1,
    `the wrong cost trains worse: true test cost ${wrongCost} against ${rightCost}`,
  );
  tf.dispose([right.network, wrong.network].flatMap((n) => n.getWeights()));
});

Deno.test("train() names a cost that is not a scalar, and refuses functions for workers", async () => {
  await assert.rejects(
    train(tinyModel(), dataset(), {
      steps: 1,
      batchSize: 4,
      cost: (logits) => logits.sum(1) as unknown as tf.Scalar,
    }),
    (error: Error) =>
      error instanceof UsageError &&
      /the cost must be a scalar tensor.*shape \[4\]/.test(error.message),
  );
  await assert.rejects(
    train(tinyModel(), dataset(), { steps: 1, workers: 1, cost: computeCost }),
    (error: Error) => error instanceof UsageError && /train with workers 0/.test(error.message),
  );
});

Deno.test("train() with lesionMaps moves the maps' mass onto the lesions and reports the classification cost", async () => {
  const size = 32;
  const masked = () =>
    PneumothoraxDataset.fromArrays(
      squareImages(16, { seed: 1, size, square: 8, masks: true }),
      squareImages(8, { seed: 2, size, square: 8, masks: true }),
      { imageSize: size, seed: 3 },
    );
  const mapCost = (model: PneumothoraxDetectionModel) => {
    const [images, labels, masks] = masked().getTrainBatchWithMasks(16);
    const value = tf.tidy(() =>
      lesionMapCost(model.predictWithCams(images).cams, masks).dataSync()[0]
    );
    tf.dispose([images, labels, masks]);
    return value;
  };
  const options = { steps: 12, batchSize: 8, optimizer: "adam" as const, learningRate: 0.01 };
  const plain = createModel({ width: 2, imageSize: size, seed: 6 });
  const supervised = createModel({ width: 2, imageSize: size, seed: 6 });
  const before = mapCost(plain);
  const labelsOnly = await train(plain, masked(), options);
  const tensors = tf.memory().numTensors;
  const withMaps = await train(supervised, masked(), {
    ...options,
    lesionMaps: 1,
    augment: createAugmentation({ seed: 1, maxRotation: 0, maxScale: 0, maxGamma: 1 }),
  });
  assert.equal(tf.memory().numTensors, tensors, "no tensors leak");
  const [after, afterPlain] = [mapCost(supervised), mapCost(plain)];
  assert.ok(after < before && after < afterPlain, `map cost ${before} -> ${after} (${afterPlain})`);
  assert.ok(withMaps.train.every(({ cost }) => cost > 0 && cost < 2), "classification costs");
  assert.ok(Math.abs(withMaps.train[0].cost - labelsOnly.train[0].cost) < 0.05, "first step");
  plain.dispose();
  supervised.dispose();
});

Deno.test("train() with lesionMaps names what it needs: masks, the calling thread, a weight >= 0", async () => {
  const model = tinyModel();
  await assert.rejects(
    () => train(model, dataset(), { lesionMaps: 1 }),
    /lesionMaps needs lesion masks, and train \(in memory\) holds none/,
  );
  await assert.rejects(
    () => train(model, dataset(), { lesionMaps: 1, workers: 1 }),
    /calling thread: train with workers 0/,
  );
  await assert.rejects(
    () => train(model, dataset(), { lesionMaps: -1 }),
    /lesionMaps must be a number at least 0, got -1/,
  );
  model.dispose();
});

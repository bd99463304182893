import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../../lib/core/errors.ts";
import { evaluateModel, predictImages } from "../../lib/evaluation/evaluate.ts";
import { type LabeledImages } from "../../lib/data/dataset.ts";
import { predictLogitsInBatches } from "../../lib/model/predict.ts";
import { localizeDataset } from "../../lib/evaluation/localization.ts";
import { createModel } from "../../lib/model/model.ts";
import { createRandom } from "../../lib/core/random.ts";
import { computeRoc } from "../../lib/grading/references.ts";

await tf.setBackend("cpu");

const SIZE = 16;
const model = createModel({ width: 2, imageSize: SIZE, seed: 4 });

function images(count: number, labels: number[]): LabeledImages {
  const random = createRandom(9);
  return {
    images: Uint8Array.from({ length: count * SIZE * SIZE }, () => Math.floor(random() * 256)),
    labels: Uint8Array.from(labels),
    imageSize: SIZE,
  };
}

function closeTo(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-6) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance,
      `${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

Deno.test("predictLogitsInBatches() gives the logits of one big forward pass", () => {
  const x = tf.randomUniform([7, SIZE, SIZE, 1], 0, 255, "float32", 1) as tf.Tensor4D;
  const whole = model.predictLogits(x);
  const before = tf.memory().numTensors;
  const batched = predictLogitsInBatches(model, x, 3);
  assert.equal(tf.memory().numTensors, before + 1, "only the result is left");
  assert.deepEqual(batched.shape, [7, 2]);
  closeTo(batched.dataSync(), whole.dataSync());
  tf.dispose([x, whole, batched]);
  assert.throws(() => predictLogitsInBatches(model, tf.zeros([1, SIZE, SIZE, 1]), 0), UsageError);
});

Deno.test("predictImages() predicts every image in batches, with progress and no tensors left", async () => {
  const data = images(10, [0, 1, 0, 1, 1, 0, 0, 1, 1, 0]);
  const progress: Array<[number, number]> = [];
  const before = tf.memory().numTensors;
  const predictions = await predictImages(model, data, {
    batchSize: 4,
    onProgress: (done, total) => progress.push([done, total]),
  });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(progress, [[4, 10], [8, 10], [10, 10]]);
  const x = tf.tensor4d(Float32Array.from(data.images), [10, SIZE, SIZE, 1]);
  const probabilities = model.predictProbabilities(x).arraySync();
  closeTo(predictions.scores, probabilities.map((p) => p[1]));
  assert.deepEqual(
    Array.from(predictions.predicted),
    probabilities.map((p) => p[1] > p[0] ? 1 : 0),
  );
  assert.deepEqual(predictions.labels, data.labels);
  assert.ok(predictions.imagesPerSecond > 0);
  x.dispose();
});

Deno.test("evaluateModel() reports the fields of `deno task evaluate`", async () => {
  const labels = [0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1];
  const data = images(labels.length, labels);
  const report = await evaluateModel(model, data, { batchSize: 5, bootstrapSamples: 200 });
  const predictions = await predictImages(model, data);
  const roc = computeRoc(labels, predictions.scores);
  assert.equal(report.n, 12);
  assert.equal(report.positives, 7);
  assert.equal(report.auc, roc.auroc);
  assert.ok(report.aucCi95 && report.aucCi95[0] <= roc.auroc && roc.auroc <= report.aucCi95[1]);
  const correct = labels.filter((label, i) => label === predictions.predicted[i]).length;
  assert.equal(report.accuracy, correct / 12);
  assert.equal(report.pointingGame, null, "no masks, no pointing game");
  assert.equal(report.energyInside, null);
  assert.equal(report.backend, "cpu");
  assert.ok(report.imagesPerSecond > 0);
});

Deno.test("evaluateModel() scores where the maps point when the images have lesion masks", async () => {
  const labels = [1, 0, 1, 1, 0, 1];
  const data = images(labels.length, labels);
  const masks = new Uint8Array(data.images.length);
  labels.forEach((label, i) => {
    if (label) masks.fill(1, i * SIZE * SIZE + 3 * SIZE, i * SIZE * SIZE + (4 + i) * SIZE);
  });
  const progress: number[] = [];
  const report = await evaluateModel(model, { ...data, masks }, {
    batchSize: 3,
    bootstrapSamples: 50,
    onLocalizeProgress: (done) => progress.push(done),
  });
  const expected = await localizeDataset(model, { ...data, masks });
  assert.ok(expected !== null);
  assert.equal(report.pointingGame, expected.pointingGame);
  assert.equal(report.energyInside, expected.energyInside);
  assert.deepEqual(progress, [0, 3, 4], "four positives, three maps at a time");
});

Deno.test("evaluateModel() gives a null AUC when the images hold one class only", async () => {
  const report = await evaluateModel(model, images(3, [1, 1, 1]));
  assert.equal(report.auc, null);
  assert.equal(report.aucCi95, null);
  assert.equal(report.positives, 3);
});

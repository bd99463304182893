import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  createModel,
  PerImageStandardization,
  PneumothoraxDetectionModel,
  standardizeImages,
} from "../../lib/model/model.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { createRandom } from "../../lib/core/random.ts";

await tf.setBackend("cpu");

function randomImages(n: number, size: number, seed: number): tf.Tensor4D {
  const random = createRandom(seed);
  const values = Float32Array.from({ length: n * size * size }, () => Math.floor(random() * 256));
  return tf.tensor4d(values, [n, size, size, 1]);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(
      error <= tolerance * (1 + Math.abs(expected[i])),
      `[${i}] ${actual[i]} vs ${expected[i]}`,
    );
  }
}

/** tf.image.per_image_standardization written out for one image, in float64. */
function standardizeByFormula(pixels: ArrayLike<number>): number[] {
  const n = pixels.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += pixels[i] / n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (pixels[i] - mean) ** 2 / n;
  const std = Math.max(Math.sqrt(variance), 1 / Math.sqrt(n));
  return Array.from(pixels, (value) => (value - mean) / std);
}

Deno.test("createModel() gives the lab's outputs with the documented shapes", () => {
  const model = createModel({ width: 2, imageSize: 32, seed: 1 });
  const images = randomImages(3, 32, 5);
  const { logits, probabilities, skip4 } = model.predictWithFeatures(images);
  assert.deepEqual(logits.shape, [3, 2]);
  assert.deepEqual(probabilities.shape, [3, 2]);
  assert.deepEqual(skip4.shape, [3, 2, 2, 16]);
  const kernel = model.denseKernel();
  assert.deepEqual(kernel.shape, [16, 2]);
  assertClose(probabilities.dataSync(), tf.softmax(logits).dataSync(), 1e-6);
  assertClose(model.predictLogits(images).dataSync(), logits.dataSync(), 1e-6);
  assert.equal(model.width, 2);
  assert.equal(model.imageSize, 32);
  tf.dispose([images, logits, probabilities, skip4, kernel]);
  model.dispose();
});

Deno.test("createModel() has the lab's layers: two chained convs summed, then a max-pool", () => {
  const width = 8;
  const model = createModel({ width });
  const blocks = [[1, 1, 5], [1, 2, 5], [2, 4, 3], [4, 8, 3]];
  let inputs = 1;
  let expected = 0;
  for (const [, out, k] of blocks) {
    expected += k * k * inputs * out * width + out * width;
    expected += k * k * out * width * out * width + out * width;
    inputs = out * width;
  }
  expected += inputs * 2 + 2;
  assert.equal(model.countParams(), expected);
  const sources = (name: string) =>
    model.network.getLayer(name).inboundNodes[0].inboundLayers.map((layer) => layer.name);
  assert.deepEqual(sources("conv1"), ["x_image"]);
  assert.deepEqual(sources("conv2"), ["conv1"]);
  assert.deepEqual(sources("sum1"), ["conv1", "conv2"]);
  assert.deepEqual(sources("skip1"), ["sum1"]);
  assert.deepEqual(sources("conv3"), ["skip1"]);
  assert.deepEqual(sources("g_avg_pool"), ["skip4"]);
  assert.deepEqual(model.network.outputs[2].shape, [null, 16, 16, 8 * width]);
  model.dispose();
});

Deno.test("the logits are a dense layer on the spatial mean of skip4 (GAP is a mean)", () => {
  const model = createModel({ width: 2, imageSize: 32, seed: 2 });
  const images = randomImages(2, 32, 9);
  const { logits, probabilities, skip4 } = model.predictWithFeatures(images);
  const [kernel, bias] = model.network.getLayer("logits").getWeights();
  const features = skip4.arraySync();
  const w = kernel.arraySync() as number[][];
  const b = bias.dataSync();
  const expected: number[] = [];
  for (const image of features) {
    const channels = image[0][0].length;
    const mean = new Array(channels).fill(0);
    const cells = image.length * image[0].length;
    for (const row of image) {
      for (const cell of row) cell.forEach((value, c) => mean[c] += value / cells);
    }
    for (let k = 0; k < 2; k++) {
      expected.push(b[k] + mean.reduce((sum, value, c) => sum + value * w[c][k], 0));
    }
  }
  assertClose(logits.dataSync(), expected, 1e-4);
  tf.dispose([images, logits, probabilities, skip4]);
  model.dispose();
});

Deno.test("standardizeImages() is (x - mean) / max(std, 1/sqrt(N)) per image", () => {
  const random = createRandom(3);
  const varied = Array.from({ length: 5 * 4 }, () => random() * 255);
  const constant = new Array(5 * 4).fill(7);
  const images = tf.tensor4d([...varied, ...constant], [2, 5, 4, 1]);
  const result = standardizeImages(images).dataSync();
  assertClose(result.slice(0, 20), standardizeByFormula(varied), 1e-5);
  assertClose(result.slice(20), standardizeByFormula(constant), 1e-6);
  const layer = new PerImageStandardization().apply(images) as tf.Tensor;
  assertClose(layer.dataSync(), result, 1e-6);
  tf.dispose([images, layer]);
});

Deno.test("createModel() is deterministic for a seed and differs across seeds", () => {
  const weights = (seed: number) => {
    const model = createModel({ width: 2, imageSize: 16, seed });
    const values = Array.from(model.network.getLayer("conv3").getWeights()[0].dataSync());
    model.dispose();
    return values;
  };
  assert.deepEqual(weights(4), weights(4));
  assert.notDeepEqual(weights(4), weights(5));
});

Deno.test("createModel() rejects bad options, naming them", () => {
  assert.throws(() => createModel({ width: 0 }), UsageError);
  assert.throws(() => createModel({ width: 0 }), /width must be an integer >= 1, got 0/);
  assert.throws(() => createModel({ imageSize: 30 }), /imageSize must be a multiple of 16/);
  assert.throws(() => createModel({ seed: 0.5 }), /seed/);
  const model = createModel({ width: 1, imageSize: 16 });
  const wrong = tf.zeros([1, 32, 32, 1]) as tf.Tensor4D;
  assert.throws(() => model.predictLogits(wrong), /images must be \[n, 16, 16, 1\]/);
  wrong.dispose();
  model.dispose();
});

Deno.test("a saved network loads back into PneumothoraxDetectionModel with the same outputs", async () => {
  const model = createModel({ width: 2, imageSize: 16, seed: 6 });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.network.save(tf.io.withSaveHandler((saved) => {
    artifacts = saved;
    return Promise.resolve({
      modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
    });
  }));
  assert.ok(artifacts);
  const restored = new PneumothoraxDetectionModel(
    await tf.loadLayersModel(tf.io.fromMemory(artifacts)),
  );
  const images = randomImages(2, 16, 4);
  const before = model.predictLogits(images);
  const after = restored.predictLogits(images);
  assertClose(after.dataSync(), before.dataSync(), 1e-6);
  assert.equal(restored.width, 2);
  tf.dispose([images, before, after]);
  model.dispose();
  restored.dispose();
});

Deno.test("the model learns a separable toy set (cross-entropy falls) on the cpu backend", () => {
  const size = 16;
  const n = 8;
  const random = createRandom(11);
  const pixels = new Float32Array(n * size * size);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const vertical = i % 2;
    labels.push(vertical);
    const phase = Math.floor(random() * 4);
    for (let row = 0; row < size; row++) {
      for (let col = 0; col < size; col++) {
        const stripe = ((vertical ? col : row) + phase) % 4 < 2;
        pixels[(i * size + row) * size + col] = (stripe ? 200 : 50) + random() * 20;
      }
    }
  }
  const images = tf.tensor4d(pixels, [n, size, size, 1]);
  const onehot = tf.oneHot(tf.tensor1d(labels, "int32"), 2);
  const model = createModel({ width: 2, imageSize: size, seed: 3 });
  const optimizer = tf.train.momentum(0.05, 0.9, true);
  const losses: number[] = [];
  for (let step = 0; step < 25; step++) {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(onehot, model.predictLogits(images)),
      true,
      model.trainableVariables(),
    ) as tf.Scalar;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
  }
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
  assert.ok(losses.at(-1)! < 0.5 * losses[0], `losses ${losses.map((l) => l.toFixed(3))}`);
  const predicted = tf.tidy(() => model.predictProbabilities(images).argMax(1).arraySync());
  assert.deepEqual(predicted, labels);
  tf.dispose([images, onehot]);
  optimizer.dispose();
  model.dispose();
});

Deno.test("predictWithCams() gives the maps whose spatial mean is the pneumothorax logit less its bias", () => {
  const model = createModel({ width: 2, imageSize: 64, seed: 3 });
  const images = randomImages(2, 64, 4);
  const { logits, cams } = model.predictWithCams(images);
  assert.deepEqual(cams.shape, [2, 4, 4]);
  const bias = model.network.getLayer("logits").getWeights()[1].dataSync()[1];
  const means = tf.tidy(() => cams.mean([1, 2]).dataSync());
  const pneumothorax = tf.tidy(() => logits.slice([0, 1], [2, 1]).dataSync());
  assertClose(Array.from(means, (mean) => mean + bias), pneumothorax, 1e-4);
  const reference = model.predictLogits(images);
  assertClose(logits.dataSync(), reference.dataSync(), 1e-6);
  tf.dispose([images, logits, cams, reference]);
  model.dispose();
});

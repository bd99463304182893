import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { decode } from "fast-png";
import * as tf from "@tensorflow/tfjs";
import {
  asGrayImage,
  computeCamBatch,
  convolutionalLayers,
  gradCam,
} from "../../lib/evaluation/cam.ts";
import { PNEUMOTHORAX_CLASS } from "../../lib/data/schema.ts";
import { describePrediction, PANEL_GAP, visCam, writeCamPng } from "../../lib/figures/cam.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { createModel, type PneumothoraxDetectionModel } from "../../lib/model/model.ts";
import { overlayPixels } from "../../lib/figures/overlay.ts";
import { createRandom } from "../../lib/core/random.ts";
import { computeCam, extractFeaturesWeights, upsample } from "../../lib/grading/references.ts";

await tf.setBackend("cpu");

const SIZE = 32;

function randomImage(seed: number): tf.Tensor4D {
  const random = createRandom(seed);
  return tf.tensor4d(
    Array.from({ length: SIZE * SIZE }, () => Math.floor(random() * 256)),
    [1, SIZE, SIZE, 1],
  );
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function maxAbs(values: ArrayLike<number>): number {
  return Math.max(...Array.from(values, Math.abs));
}

/** The CAM of `image` at skip4 resolution, as the lab computes it. */
function labCam(model: PneumothoraxDetectionModel, image: tf.Tensor4D, k: number): Float32Array {
  const { fmap, weights } = extractFeaturesWeights(model, image);
  const cam = computeCam(k, fmap, weights);
  const values = cam.dataSync() as Float32Array;
  tf.dispose([fmap, weights, cam]);
  return values;
}

Deno.test("gradCam() on skip4 is ReLU(CAM) / (h*w) for the GAP model, for both classes", () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 5 });
  const image = randomImage(11);
  const before = tf.memory().numTensors;
  for (const k of [0, 1]) {
    const cam = labCam(model, image, k);
    const grad = gradCam(model, image, k);
    assert.deepEqual(grad.shape, [2, 2]);
    const [h, w] = grad.shape;
    const expected = cam.map((v) => Math.max(v, 0) / (h * w));
    const values = grad.dataSync();
    assert.ok(maxAbs(expected) > 0, "the test image gives a non-zero positive CAM");
    assert.ok(
      maxAbsDifference(values, expected) <= 1e-5 * maxAbs(expected),
      `class ${k}: grad-CAM ${Array.from(values)} vs ReLU(CAM)/(h*w) ${Array.from(expected)}`,
    );
    grad.dispose();
  }
  assert.equal(tf.memory().numTensors, before, "gradCam() leaves no tensors behind");
  image.dispose();
  model.dispose();
});

Deno.test("gradCam() on skip4 of a larger map keeps the CAM's ordering (a positive scale)", () => {
  const model = createModel({ width: 3, imageSize: 64, seed: 8 });
  const random = createRandom(2);
  const image = tf.tensor4d(
    Array.from({ length: 64 * 64 }, () => Math.floor(random() * 256)),
    [1, 64, 64, 1],
  );
  const cam = labCam(model, image, PNEUMOTHORAX_CLASS);
  const grad = gradCam(model, image, PNEUMOTHORAX_CLASS, { layer: "skip4" });
  const values = grad.dataSync();
  const positive = Array.from(cam.keys()).filter((i) => cam[i] > 0);
  assert.ok(positive.length >= 2, "some positions have positive CAM");
  const ratios = positive.map((i) => values[i] / cam[i]);
  for (const ratio of ratios) assert.ok(Math.abs(ratio - 1 / 16) < 1e-5, `ratio ${ratio}`);
  Array.from(cam.keys()).filter((i) => cam[i] <= 0).forEach((i) => assert.equal(values[i], 0));
  tf.dispose([image, grad]);
  model.dispose();
});

/**
 * Grad-CAM at conv7 by hand: the head from conv7 to the logits written with tf ops from the
 * layers' weights (sum4 = conv7 + conv8(conv7), max-pool, mean, dense), differentiated by tf.grad.
 */
function handGradCamConv7(
  model: PneumothoraxDetectionModel,
  image: tf.Tensor4D,
  k: number,
): Float32Array {
  return tf.tidy(() => {
    const conv7 = tf.model({
      inputs: model.network.inputs,
      outputs: model.network.getLayer("conv7").output as tf.SymbolicTensor,
    }).predict(image) as tf.Tensor4D;
    const [kernel8, bias8] = model.network.getLayer("conv8").getWeights();
    const [dense, denseBias] = model.network.getLayer("logits").getWeights();
    const head = (a: tf.Tensor) => {
      const conv8 = tf.relu(
        tf.conv2d(a as tf.Tensor4D, kernel8 as tf.Tensor4D, 1, "same").add(bias8),
      );
      const skip4 = tf.maxPool(tf.add(a, conv8) as tf.Tensor4D, 2, 2, "valid");
      const logits = tf.matMul(skip4.mean([1, 2]), dense as tf.Tensor2D).add(denseBias);
      return logits.slice([0, k], [1, 1]).sum();
    };
    const gradients = tf.grad(head)(conv7);
    const weights = gradients.mean([0, 1, 2]);
    return conv7.squeeze([0]).mul(weights).sum(2).relu().dataSync() as Float32Array;
  });
}

Deno.test("gradCam() on conv7 follows both paths of the skip connection", () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 5 });
  const image = randomImage(12);
  const expected = handGradCamConv7(model, image, PNEUMOTHORAX_CLASS);
  const grad = gradCam(model, image, PNEUMOTHORAX_CLASS, { layer: "conv7" });
  assert.deepEqual(grad.shape, [4, 4]);
  const values = grad.dataSync();
  assert.ok(maxAbs(expected) > 0, "the hand-made map is not all zero");
  assert.ok(
    maxAbsDifference(values, expected) <= 1e-5 * maxAbs(expected),
    `gradCam ${Array.from(values)} vs by hand ${Array.from(expected)}`,
  );
  tf.dispose([image, grad]);
  model.dispose();
});

Deno.test("gradCam() works at every convolutional layer, at the layer's resolution", () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 6 });
  const image = randomImage(13);
  const layers = convolutionalLayers(model);
  assert.deepEqual(layers, [
    "x_image",
    ...["1", "2"].map((i) => `conv${i}`),
    "sum1",
    "skip1",
    ...["3", "4"].map((i) => `conv${i}`),
    "sum2",
    "skip2",
    ...["5", "6"].map((i) => `conv${i}`),
    "sum3",
    "skip3",
    ...["7", "8"].map((i) => `conv${i}`),
    "sum4",
    "skip4",
  ]);
  for (const [layer, side] of [["conv1", 32], ["skip1", 16], ["conv4", 16], ["sum3", 8]]) {
    const map = gradCam(model, image.squeeze([0]) as tf.Tensor3D, 1, { layer: layer as string });
    assert.deepEqual(map.shape, [side, side], layer as string);
    assert.ok(map.dataSync().every((v) => Number.isFinite(v) && v >= 0), `${layer} is ReLU'd`);
    map.dispose();
  }
  image.dispose();
  model.dispose();
});

Deno.test("gradCam() rejects unknown and non-convolutional layers, classes and shapes", () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 6 });
  const image = randomImage(1);
  assert.throws(
    () => gradCam(model, image, 1, { layer: "conv9" }),
    (e: unknown) => e instanceof UsageError && /'conv9'.*conv1, .*skip4/.test(e.message),
  );
  assert.throws(() => gradCam(model, image, 1, { layer: "logits" }), UsageError);
  assert.throws(
    () => gradCam(model, image, 2),
    /class index must be an integer in \[0, 1\], got 2/,
  );
  const two = tf.zeros([2, SIZE, SIZE, 1]) as tf.Tensor4D;
  assert.throws(() => gradCam(model, two, 1), /one image \[32, 32, 1\].*got \[2,32,32,1\]/);
  tf.dispose([image, two]);
  model.dispose();
});

Deno.test("computeCamBatch() equals upsample(computeCam()) of each image", () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 7 });
  const images = tf.concat([randomImage(1), randomImage(2), randomImage(3)]) as tf.Tensor4D;
  const { cams, probabilities } = computeCamBatch(model, images);
  assert.deepEqual(cams.shape, [3, SIZE, SIZE]);
  const all = cams.arraySync();
  const probs = probabilities.arraySync();
  for (let i = 0; i < 3; i++) {
    const image = images.slice(i, 1) as tf.Tensor4D;
    const { fmap, weights, probabilities: p } = extractFeaturesWeights(model, image);
    const small = computeCam(PNEUMOTHORAX_CLASS, fmap, weights);
    const big = upsample(small, [SIZE, SIZE]);
    assert.ok(maxAbsDifference(all[i].flat(), big.dataSync()) < 1e-5, `image ${i}`);
    assert.ok(maxAbsDifference(probs[i], p) < 1e-6);
    tf.dispose([image, fmap, weights, small, big]);
  }
  const other = computeCamBatch(model, images, { classIndex: 0, size: [8, 8] });
  assert.deepEqual(other.cams.shape, [3, 8, 8]);
  assert.throws(() => computeCamBatch(model, images, { classIndex: 3 }), UsageError);
  tf.dispose([images, cams, probabilities, other.cams, other.probabilities]);
  model.dispose();
});

Deno.test("asGrayImage() takes tensors of one image and rejects batches", () => {
  const image = asGrayImage(tf.tensor3d([1, 2, 3, 4, 5, 6], [2, 3, 1]), "image");
  assert.deepEqual([image.width, image.height, Array.from(image.data)], [3, 2, [1, 2, 3, 4, 5, 6]]);
  assert.throws(() => asGrayImage(tf.zeros([2, 4, 4, 1]), "image"), /image: a tensor of shape/);
  assert.throws(() => asGrayImage(new Uint8Array(6), "mask"), /mask: 6 pixels/);
});

Deno.test("describePrediction() names the classes and checks the probability", () => {
  assert.equal(
    describePrediction({ label: "pneumothorax", prediction: 1, probability: 0.98765 }),
    "label pneumothorax, prediction pneumothorax, P(pneumothorax) = 0.988",
  );
  assert.equal(describePrediction({ label: 0 }), "label normal");
  assert.equal(describePrediction({}), "");
  assert.throws(() => describePrediction({ label: 2 }), /label is 2/);
  assert.throws(() => describePrediction({ probability: 1.5 }), /probability is 1.5/);
});

function decodeDataUrl(url: string) {
  return decode(Buffer.from(url.replace(/^data:image\/png;base64,/, ""), "base64"));
}

Deno.test("visCam() overlays a small map upsampled to the X-ray, with title and mask", () => {
  const image = randomImage(4);
  const cam = tf.tensor2d([[0, 1], [2, 3]]);
  const mask = new Uint8Array(SIZE * SIZE).map((_, i) => (i % SIZE > 20 ? 1 : 0));
  const figure = visCam(image, cam, { label: 1, prediction: 0, probability: 0.25, mask });
  const images = Array.from(figure.querySelectorAll("image"));
  assert.equal(images.length, 3, "X-ray, heat and colour bar");
  const heat = decodeDataUrl(images[1].getAttribute("href")!);
  assert.deepEqual([heat.width, heat.height], [SIZE, SIZE], "the heat is at the X-ray's size");
  assert.ok(
    figure.textContent?.includes("label pneumothorax, prediction normal, P(pneumothorax) = 0.250"),
  );
  assert.ok(figure.getAttribute("aria-label")?.includes("with the mask outline"));
  const titled = visCam(image, cam, { title: "mine", label: 1 });
  assert.ok(titled.textContent?.includes("mine"));
  assert.ok(!titled.textContent?.includes("label pneumothorax"));
  assert.throws(() => visCam(image, cam, { mask: new Uint8Array(16) }), /mask is 4x4/);
  tf.dispose([image, cam]);
});

Deno.test("writeCamPng() writes the X-ray and the overlay side by side", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const image = new Uint8Array(SIZE * SIZE).map((_, i) => i % 251);
    const heat = new Float32Array(SIZE * SIZE).map((_, i) => Math.floor(i / SIZE));
    const mask = new Uint8Array(SIZE * SIZE).map((_, i) => (i % SIZE < 8 ? 1 : 0));
    const path = join(dir, "sub", "cam.png");
    await writeCamPng(path, image, heat, { mask });
    const png = decode(await Deno.readFile(path));
    assert.deepEqual([png.width, png.height, png.channels], [2 * SIZE + PANEL_GAP, SIZE, 3]);
    const expected = overlayPixels(image, heat, { mask }).data;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const at = (y * png.width + x) * 3;
        assert.deepEqual(
          Array.from(png.data.slice(at, at + 3)),
          Array(3).fill(image[y * SIZE + x]),
        );
        const right = at + (SIZE + PANEL_GAP) * 3;
        const i = (y * SIZE + x) * 3;
        assert.deepEqual(
          Array.from(png.data.slice(right, right + 3)),
          Array.from(expected.slice(i, i + 3)),
        );
      }
      const gap = (y * png.width + SIZE) * 3;
      assert.ok(png.data.slice(gap, gap + PANEL_GAP * 3).every((v) => v === 255), "white gap");
    }
    await assert.rejects(() => writeCamPng(join(dir, "cam.jpg"), image, heat), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

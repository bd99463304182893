import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { PNEUMOTHORAX_CLASS } from "../../lib/data/schema.ts";
import { PneumothoraxDataset } from "../../lib/data/dataset.ts";
import { UsageError } from "../../lib/core/errors.ts";
import {
  defaultTolerance,
  energyInside,
  localizeDataset,
  type MaskedImages,
  pointingGame,
  priorPointing,
} from "../../lib/evaluation/localization.ts";
import { createModel, type PneumothoraxDetectionModel } from "../../lib/model/model.ts";
import { createRandom } from "../../lib/core/random.ts";
import { computeCam, extractFeaturesWeights, upsample } from "../../lib/grading/references.ts";

await tf.setBackend("cpu");

const SIZE = 64;
const PIXELS = SIZE * SIZE;

/** A map with its maximum at (x, y) and a mask holding the given pixels. */
function peakAt(x: number, y: number, size = SIZE): Float32Array {
  const heat = new Float32Array(size * size).fill(0.5);
  heat[y * size + x] = 2;
  return heat;
}

function maskOf(points: [number, number][], size = SIZE): Uint8Array {
  const mask = new Uint8Array(size * size);
  for (const [x, y] of points) mask[y * size + x] = 1;
  return mask;
}

/** A mask of the rectangle [x0, x1) x [y0, y1). */
function rectangle(x0: number, y0: number, x1: number, y1: number): Uint8Array {
  const mask = new Uint8Array(PIXELS);
  for (let y = y0; y < y1; y++) mask.fill(1, y * SIZE + x0, y * SIZE + x1);
  return mask;
}

Deno.test("defaultTolerance() is 15 px at 256, scaled with the image side", () => {
  assert.equal(defaultTolerance(256, 256), 15);
  assert.equal(defaultTolerance(64, 64), 3.75);
  assert.equal(defaultTolerance(512, 128), 30);
});

Deno.test("pointingGame() hits inside the mask and within the tolerance, misses beyond", () => {
  const heat = peakAt(30, 20);
  assert.deepEqual(pointingGame(heat, maskOf([[30, 20]])), { hit: true, x: 30, y: 20 });
  assert.equal(pointingGame(heat, maskOf([[33, 20]])).hit, true, "3 px <= 3.75 px");
  assert.equal(pointingGame(heat, maskOf([[33, 22]])).hit, true, "sqrt(13) = 3.6 px");
  assert.equal(pointingGame(heat, maskOf([[33, 23]])).hit, false, "sqrt(18) = 4.2 px");
  assert.equal(pointingGame(heat, maskOf([[34, 20]])).hit, false, "4 px > 3.75 px");
  assert.equal(pointingGame(heat, maskOf([[34, 20]]), { tolerance: 4 }).hit, true);
  assert.equal(pointingGame(heat, maskOf([[31, 20]]), { tolerance: 0 }).hit, false);
  assert.equal(pointingGame(heat, maskOf([[60, 60]]), { tolerance: 100 }).hit, true);
  const corner = peakAt(0, 0);
  assert.equal(pointingGame(corner, maskOf([[2, 2]])).hit, true, "windows clip at the border");
  const edge = peakAt(63, 63);
  assert.equal(pointingGame(edge, maskOf([[0, 0]])).hit, false);
});

Deno.test("pointingGame() takes the first maximum of a tie, as numpy's argmax", () => {
  const heat = new Float32Array(PIXELS);
  heat[5 * SIZE + 40] = 1;
  heat[50 * SIZE + 2] = 1;
  assert.deepEqual(pointingGame(heat, maskOf([[2, 50]])), { hit: false, x: 40, y: 5 });
  const flat = new Float32Array(PIXELS).fill(-3);
  assert.deepEqual(pointingGame(flat, maskOf([[1, 1]])), { hit: true, x: 0, y: 0 });
});

Deno.test("pointingGame() and energyInside() reject mismatched sizes and empty masks", () => {
  const heat = peakAt(1, 1);
  assert.throws(() => pointingGame(heat, new Uint8Array(16).fill(1)), /mask is 4x4.*64x64/);
  assert.throws(() => pointingGame(heat, new Uint8Array(PIXELS)), /mask is empty/);
  assert.throws(() => energyInside(heat, new Uint8Array(PIXELS)), UsageError);
  assert.throws(
    () => pointingGame(heat, maskOf([[1, 1]]), { tolerance: -1 }),
    /tolerance is -1/,
  );
});

Deno.test("energyInside() is the positive map's share inside the mask", () => {
  const heat = Float32Array.from([4, -10, 1, 3, 0, 2]);
  const mask = Uint8Array.from([1, 1, 0, 1, 0, 0]);
  const image = { data: heat, width: 3, height: 2 };
  assert.equal(energyInside(image, { data: mask, width: 3, height: 2 }), 7 / 10);
  const negative = { data: Float32Array.from([-1, -2, -3, -4]), width: 2, height: 2 };
  assert.equal(energyInside(negative, { data: [1, 0, 0, 0], width: 2, height: 2 }), 0);
  const tensor = tf.tensor2d([[1, 3], [0, 0]]);
  assert.equal(energyInside(tensor, [0, 1, 0, 0]), 0.75);
  tensor.dispose();
});

/**
 * A model whose pneumothorax CAM is the pooled bright parts of the image: every convolution
 * passes its input's channel through (a 1 at the kernel's centre), so each block gives
 * 2 * maxpool(relu(standardized x)); the dense kernel is +1 for pneumothorax, -1 for normal.
 */
function brightnessModel(): PneumothoraxDetectionModel {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 1 });
  for (let i = 1; i <= 8; i++) {
    const layer = model.network.getLayer(`conv${i}`);
    const [kernel, bias] = layer.getWeights();
    const [k, , cin, cout] = kernel.shape;
    const values = new Float32Array(kernel.size);
    const centre = Math.floor(k / 2);
    for (let j = 0; j < cout; j++) values[((centre * k + centre) * cin + (j % cin)) * cout + j] = 1;
    const replaced = [tf.tensor(values, kernel.shape), tf.zerosLike(bias)];
    layer.setWeights(replaced);
    tf.dispose(replaced);
  }
  const dense = model.network.getLayer("logits");
  const [kernel, bias] = dense.getWeights();
  const replaced = [
    tf.tensor2d(Array.from({ length: kernel.shape[0] }, () => [-1, 1])),
    tf.zerosLike(bias),
  ];
  dense.setWeights(replaced);
  tf.dispose(replaced);
  return model;
}

/** An image of gray 50 with a bright 6x6 square (250) whose top-left corner is (x, y). */
function blobImage(x: number, y: number): Uint8Array {
  const image = new Uint8Array(PIXELS).fill(50);
  for (let v = y; v < y + 6; v++) image.fill(250, v * SIZE + x, v * SIZE + x + 6);
  return image;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("localizeDataset() scores a map that points at the bright lesion", async () => {
  const model = brightnessModel();
  const lesion = rectangle(16, 32, 32, 48);
  const data: MaskedImages = {
    imageSize: SIZE,
    images: concat([blobImage(20, 36), blobImage(20, 36), blobImage(4, 4), blobImage(40, 8)]),
    labels: Uint8Array.from([1, 0, 1, 1]),
    masks: concat([lesion, lesion, rectangle(48, 48, 64, 64), new Uint8Array(PIXELS)]),
  };
  const report = await localizeDataset(model, data, { batchSize: 1 });
  assert.ok(report !== null);
  assert.equal(report.n, 2, "the two positives with a lesion");
  assert.equal(report.skipped, 1, "the positive with an empty mask");
  assert.equal(report.tolerance, 3.75);
  assert.deepEqual(report.perImage.map((r) => [r.index, r.hit]), [[0, true], [2, false]]);
  assert.equal(report.pointingGame, 0.5);
  const [hit, miss] = report.perImage;
  assert.ok(hit.x >= 16 && hit.x < 32 && hit.y >= 32 && hit.y < 48, `peak (${hit.x}, ${hit.y})`);
  assert.ok(miss.x < 16 && miss.y < 16, `peak (${miss.x}, ${miss.y}) near the blob at (4, 4)`);
  assert.ok(hit.energyInside > 0.5, `energy inside ${hit.energyInside}`);
  assert.equal(miss.energyInside, 0, "no positive map reaches the far corner");
  assert.equal(report.energyInside, (hit.energyInside + miss.energyInside) / 2);
  assert.ok(hit.probability > 0.5, "a bright image reads as pneumothorax to this model");
  model.dispose();
});

Deno.test("localizeDataset() equals the lab's per-image CAM, for any batch size", async () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 9 });
  const random = createRandom(3);
  const n = 5;
  const images = Uint8Array.from({ length: n * PIXELS }, () => Math.floor(random() * 256));
  const labels = Uint8Array.from([1, 1, 0, 1, 1]);
  const masks = concat(
    Array.from({ length: n }, (_, i) => rectangle(8 * i, 4 * i, 8 * i + 20, 4 * i + 24)),
  );
  const dataset = PneumothoraxDataset.fromArrays(
    { images: images.slice(0, PIXELS), labels: labels.slice(0, 1) },
    { images, labels, masks },
    { imageSize: SIZE },
  );
  const before = tf.memory().numTensors;
  const progress: number[] = [];
  const report = await localizeDataset(model, dataset, {
    batchSize: 3,
    onProgress: (done) => progress.push(done),
  });
  assert.equal(tf.memory().numTensors, before, "no tensors left behind");
  assert.deepEqual(progress, [0, 3, 4]);
  assert.ok(report !== null);
  assert.deepEqual(report.perImage.map((r) => r.index), [0, 1, 3, 4]);
  for (const result of report.perImage) {
    const [image] = dataset.getBatch("test", [result.index]);
    const { fmap, weights, probabilities } = extractFeaturesWeights(model, image);
    const small = computeCam(PNEUMOTHORAX_CLASS, fmap, weights);
    const cam = upsample(small, [SIZE, SIZE]);
    const mask = masks.subarray(result.index * PIXELS, (result.index + 1) * PIXELS);
    const expected = pointingGame(cam, mask);
    assert.deepEqual([result.hit, result.x, result.y], [expected.hit, expected.x, expected.y]);
    assert.ok(Math.abs(result.energyInside - energyInside(cam, mask)) < 1e-6);
    assert.ok(Math.abs(result.probability - probabilities[PNEUMOTHORAX_CLASS]) < 1e-6);
    tf.dispose([image, fmap, weights, small, cam]);
  }
  const hits = report.perImage.filter((r) => r.hit).length;
  assert.equal(report.pointingGame, hits / 4);
  const single = await localizeDataset(model, dataset, { batchSize: 1, split: "test" });
  assert.deepEqual(single, report);
  model.dispose();
});

Deno.test("localizeDataset() is null without masks or without a scorable lesion", async () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 2 });
  const images = new Uint8Array(2 * PIXELS);
  const labels = Uint8Array.from([0, 1]);
  assert.equal(await localizeDataset(model, { images, labels, imageSize: SIZE }), null);
  const emptyLesions = { images, labels, imageSize: SIZE, masks: new Uint8Array(2 * PIXELS) };
  assert.equal(await localizeDataset(model, emptyLesions), null);
  const negativesOnly = { images, labels: Uint8Array.from([0, 0]), imageSize: SIZE, masks: images };
  assert.equal(await localizeDataset(model, negativesOnly), null);
  model.dispose();
});

Deno.test("localizeDataset() rejects a size mismatch, short masks and bad batch sizes", async () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 2 });
  const labels = Uint8Array.from([1]);
  await assert.rejects(
    () => localizeDataset(model, { images: new Uint8Array(32 * 32), labels, imageSize: 32 }),
    /images are 32x32 but the model takes 64/,
  );
  const images = new Uint8Array(PIXELS);
  await assert.rejects(
    () => localizeDataset(model, { images, labels, imageSize: SIZE, masks: new Uint8Array(10) }),
    /masks hold 10 pixels/,
  );
  await assert.rejects(
    () => localizeDataset(model, { images, labels, imageSize: SIZE }, { batchSize: 0 }),
    /batch size must be an integer >= 1, got 0/,
  );
  model.dispose();
});

Deno.test("priorPointing() points at the pixel most training lesions cover and scores held-out lesions there", () => {
  const size = 32;
  const square = (x0: number, y0: number, side: number) =>
    Uint8Array.from({ length: size * size }, (_, p) => {
      const [x, y] = [p % size, Math.floor(p / size)];
      return x >= x0 && x < x0 + side && y >= y0 && y < y0 + side ? 1 : 0;
    });
  const set = (masks: Uint8Array[], labels: number[]) => ({
    images: new Uint8Array(masks.length * size * size),
    labels: Uint8Array.from(labels),
    masks: Uint8Array.from(masks.flatMap((m) => Array.from(m))),
    imageSize: size,
  });
  const training = set([square(2, 2, 6), square(4, 4, 6), square(20, 20, 4), square(0, 0, 32)], [
    1,
    1,
    1,
    0,
  ]);
  const scored = set([square(5, 5, 2), square(26, 26, 4), new Uint8Array(size * size)], [1, 1, 1]);
  const prior = priorPointing(training, scored, { tolerance: 2 })!;
  assert.deepEqual([prior.x, prior.y], [4, 4], "the first pixel both top-left lesions cover");
  assert.equal(prior.n, 2, "the empty mask is left out");
  assert.deepEqual(prior.hits, [true, false]);
  assert.equal(prior.pointingGame, 0.5, "it reaches the lesion at (5, 5), not the far corner");
  assert.equal(priorPointing(set([new Uint8Array(size * size)], [1]), scored), null);
  assert.throws(() => priorPointing({ ...training, imageSize: 16 }, scored), /16x16 but scored 32/);
});

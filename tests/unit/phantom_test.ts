import assert from "node:assert/strict";
import { join } from "node:path";
import { readLabFile, validateLabFile } from "../../lib/data/dataset.ts";
import { UsageError } from "../../lib/core/errors.ts";
import {
  generatePhantoms,
  PHANTOM_FILES,
  PHANTOM_SIZE,
  type PhantomArrays,
  writePhantomDataset,
} from "../../lib/phantom/generator.ts";
import { phantomImageSeed } from "../../lib/phantom/jobs.ts";
import { OUTLINE_RGB, phantomContactSheet } from "../../lib/figures/contact_sheet.ts";
import { createRandom, shuffleInPlace } from "../../lib/core/random.ts";
import { computeRoc } from "../../lib/grading/references.ts";

const PIXELS = PHANTOM_SIZE * PHANTOM_SIZE;
/** Histogram bins of the leak check, as the issue states it. */
const HISTOGRAM_BINS = 32;
/** Cross-validation folds of the leak check. */
const FOLDS = 5;
/** Largest cross-validated AUC the leak check accepts. */
const MAX_LEAK_AUC = 0.65;

function image(arrays: PhantomArrays, i: number): Uint8Array {
  return arrays.images.subarray(i * PIXELS, (i + 1) * PIXELS);
}

function maskPixels(arrays: PhantomArrays, i: number): number {
  return arrays.masks.subarray(i * PIXELS, (i + 1) * PIXELS).reduce((sum, v) => sum + v, 0);
}

/** A 64-bit FNV-1a digest of `bytes`, as a hex string. */
function digest(bytes: Uint8Array): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of bytes) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return hash.toString(16);
}

/** 32-bin intensity histogram of each image, as fractions of its pixels. */
function histograms(images: Uint8Array, count: number): number[][] {
  return Array.from({ length: count }, (_, i) => {
    const bins = new Array<number>(HISTOGRAM_BINS).fill(0);
    for (let p = i * PIXELS; p < (i + 1) * PIXELS; p++) {
      bins[Math.floor((images[p] * HISTOGRAM_BINS) / 256)] += 1 / PIXELS;
    }
    return bins;
  });
}

/**
 * L2-regularised logistic regression (scikit-learn's default C = 1) on standardised features,
 * fitted by gradient descent; returns a scorer for new rows. Hand-written because the test must
 * not depend on Python; the numbers were cross-checked against scikit-learn.
 */
function fitLogistic(rows: number[][], labels: number[]): (row: number[]) => number {
  const d = rows[0].length, n = rows.length;
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, r) => s + r[j], 0) / n);
  const std = Array.from({ length: d }, (_, j) => {
    const variance = rows.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / n;
    return Math.sqrt(variance) || 1;
  });
  const x = rows.map((r) => r.map((v, j) => (v - mean[j]) / std[j]));
  const w = new Array<number>(d).fill(0);
  let bias = 0;
  const step = 0.5, lambda = 1 / n;
  for (let iteration = 0; iteration < 400; iteration++) {
    const gradient = w.map((wj) => lambda * wj);
    let gradientBias = 0;
    for (let i = 0; i < n; i++) {
      const z = bias + x[i].reduce((s, v, j) => s + v * w[j], 0);
      const error = 1 / (1 + Math.exp(-z)) - labels[i];
      for (let j = 0; j < d; j++) gradient[j] += (error * x[i][j]) / n;
      gradientBias += error / n;
    }
    for (let j = 0; j < d; j++) w[j] -= step * gradient[j];
    bias -= step * gradientBias;
  }
  return (row) => bias + row.reduce((s, v, j) => s + ((v - mean[j]) / std[j]) * w[j], 0);
}

/** Cross-validated AUC of a logistic regression on 32-bin intensity histograms. */
function histogramLeakAuc(images: Uint8Array, labels: Uint8Array): number {
  const features = histograms(images, labels.length);
  const order = shuffleInPlace(Array.from(labels.keys()), createRandom(11));
  const scores = new Array<number>(labels.length);
  for (let fold = 0; fold < FOLDS; fold++) {
    const test = order.filter((_, k) => k % FOLDS === fold);
    const train = order.filter((_, k) => k % FOLDS !== fold);
    const score = fitLogistic(train.map((i) => features[i]), train.map((i) => labels[i]));
    for (const i of test) scores[i] = score(features[i]);
  }
  return computeRoc(Array.from(labels), scores).auroc;
}

Deno.test("generatePhantoms() is deterministic: the same seed gives identical bytes", async () => {
  const a = await generatePhantoms(6, { seed: 7 });
  const b = await generatePhantoms(6, { seed: 7 });
  const c = await generatePhantoms(6, { seed: 8 });
  assert.deepEqual(a.labels, b.labels);
  assert.equal(digest(a.images), digest(b.images));
  assert.equal(digest(a.masks), digest(b.masks));
  assert.notEqual(digest(a.images), digest(c.images));
});

Deno.test("generatePhantoms() gives the same bytes on worker threads as on the caller", async () => {
  const inline = await generatePhantoms(40, { seed: 3, workers: 0 });
  const threaded = await generatePhantoms(40, { seed: 3, workers: 2 });
  assert.equal(digest(threaded.images), digest(inline.images));
  assert.equal(digest(threaded.masks), digest(inline.masks));
});

Deno.test("generatePhantoms() balances labels and masks exactly the positives", async () => {
  const arrays = await generatePhantoms(60, { seed: 5 });
  assert.equal(arrays.images.length, 60 * PIXELS);
  assert.equal(arrays.labels.reduce((s, v) => s + v, 0), 30);
  for (let i = 0; i < 60; i++) {
    const lesion = maskPixels(arrays, i);
    if (arrays.labels[i] === 1) assert.ok(lesion >= 20, `positive ${i} has a ${lesion}-pixel mask`);
    else assert.equal(lesion, 0, `negative ${i} has a mask`);
    const pixels = image(arrays, i);
    const values = new Set(pixels);
    assert.ok(values.size > 64, `image ${i} uses only ${values.size} gray levels`);
  }
  assert.ok(arrays.masks.every((v) => v === 0 || v === 1));
  const skewed = await generatePhantoms(20, { seed: 5, positiveFraction: 0.25 });
  assert.equal(skewed.labels.reduce((s, v) => s + v, 0), 5);
});

Deno.test("generatePhantoms() never repeats an image across the train and test streams", async () => {
  const train = await generatePhantoms(30, { seed: 1, split: "train" });
  const test = await generatePhantoms(30, { seed: 1, split: "test" });
  const seen = new Set<string>();
  for (const arrays of [train, test]) {
    for (let i = 0; i < 30; i++) seen.add(digest(image(arrays, i)));
  }
  assert.equal(seen.size, 60);
  const seeds = new Set<number>();
  for (const split of ["train", "test"] as const) {
    for (let i = 0; i < 5000; i++) seeds.add(phantomImageSeed(123, split, i));
  }
  assert.equal(seeds.size, 10000);
});

Deno.test("generatePhantoms() draws chest tubes with the per-label probabilities", async () => {
  const shortcut = await generatePhantoms(24, { seed: 2, tube: { positive: 1, negative: 0 } });
  assert.deepEqual(shortcut.tubes, shortcut.labels);
  const plain = await generatePhantoms(24, { seed: 2 });
  assert.ok(plain.tubes.every((t) => t === 0));
  const differing = shortcut.labels.findIndex((label) => label === 1);
  assert.notEqual(digest(image(shortcut, differing)), digest(image(plain, differing)));
});

Deno.test("generatePhantoms() rejects bad options, naming them", async () => {
  await assert.rejects(generatePhantoms(4, { positiveFraction: 1.5 }), UsageError);
  await assert.rejects(
    generatePhantoms(-1),
    /count must be an integer in \[0, 2147483648\] \(images\), got -1/,
  );
  await assert.rejects(generatePhantoms(4, { seed: 0.5 }), /seed must be an integer/);
  await assert.rejects(
    generatePhantoms(4, { tube: { positive: 2, negative: 0 } }),
    /tube.positive/,
  );
});

Deno.test("writePhantomDataset() writes both files in the lab's schema, with masks", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const summary = await writePhantomDataset(dir, {
      seed: 4,
      train: 12,
      test: 6,
      progress: false,
    });
    assert.deepEqual(summary.files.map((f) => [f.split, f.images, f.positives]), [
      ["train", 12, 6],
      ["test", 6, 3],
    ]);
    const check = await validateLabFile(join(dir, PHANTOM_FILES.train));
    assert.equal(check.count, 12);
    assert.equal(check.imageType, "<B");
    assert.ok(check.hasMask);
    const read = await readLabFile(join(dir, PHANTOM_FILES.test));
    const expected = await generatePhantoms(6, { seed: 4, split: "test" });
    assert.deepEqual(read.labels, expected.labels);
    assert.equal(digest(read.images), digest(expected.images));
    assert.equal(digest(read.masks!), digest(expected.masks));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("phantom labels do not leak through intensity histograms (logistic regression AUC)", async () => {
  const arrays = await generatePhantoms(400, { seed: 9 });
  const leak = histogramLeakAuc(arrays.images, arrays.labels);
  assert.ok(leak <= MAX_LEAK_AUC, `histogram AUC ${leak.toFixed(3)} > ${MAX_LEAK_AUC}`);
  // The same check catches a leak: positives made 3% brighter.
  const brightened = arrays.images.map((v, p) => {
    const label = arrays.labels[Math.floor(p / PIXELS)];
    return label ? Math.min(255, Math.round(v * 1.03 + 3)) : v;
  });
  const caught = histogramLeakAuc(brightened, arrays.labels);
  assert.ok(caught > 0.8, `a planted leak gave only AUC ${caught.toFixed(3)}`);
});

Deno.test("phantomContactSheet() outlines each positive's mask in red beside the real images", async () => {
  const phantoms = await generatePhantoms(4, { seed: 6 });
  const real = [new Uint8Array(PIXELS).fill(77)];
  const sheet = phantomContactSheet(phantoms, real, {
    phantomColumns: 2,
    realColumns: 1,
    gutter: 4,
  });
  assert.equal(sheet.width, 3 * PHANTOM_SIZE + 4);
  assert.equal(sheet.height, 2 * PHANTOM_SIZE);
  assert.equal(sheet.channels, 3);
  const red = (tile: number) => {
    let count = 0;
    const left = (tile % 2) * PHANTOM_SIZE, top = Math.floor(tile / 2) * PHANTOM_SIZE;
    for (let y = 0; y < PHANTOM_SIZE; y++) {
      for (let x = 0; x < PHANTOM_SIZE; x++) {
        const o = ((top + y) * sheet.width + left + x) * 3;
        if (sheet.data[o] === OUTLINE_RGB[0] && sheet.data[o + 1] === OUTLINE_RGB[1]) count++;
      }
    }
    return count;
  };
  for (let i = 0; i < 4; i++) {
    if (phantoms.labels[i]) assert.ok(red(i) > 0, `positive ${i} is outlined`);
    else assert.equal(red(i), 0, `negative ${i} has no outline`);
  }
  const o = (10 * sheet.width + 2 * PHANTOM_SIZE + 4 + 10) * 3;
  assert.deepEqual([...sheet.data.subarray(o, o + 3)], [77, 77, 77]);
  assert.throws(() => phantomContactSheet(phantoms, [new Uint8Array(10)]), UsageError);
});

/**
 * The notebooks' library calls, re-run the way a student re-runs cells: each "cell" below makes
 * the calls one notebook cell makes (disposing what the caller owns), and they run once in
 * order, then twice more in a shuffled order, in one process on the wasm backend. Tensor count
 * and bytes must not grow across re-runs, and every re-run must give the first run's result.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../lib/backends/backend.ts";
import { computeCamBatch, gradCam } from "../../lib/evaluation/cam.ts";
import { PNEUMOTHORAX_CLASS } from "../../lib/data/schema.ts";
import { visCam } from "../../lib/figures/cam.ts";
import { loadCheckpoint, saveCheckpoint } from "../../lib/model/checkpoint/mod.ts";
import {
  type LabSplit,
  PneumothoraxDataset,
  TEST_FILE,
  TRAIN_FILE,
} from "../../lib/data/dataset.ts";
import { predictImages } from "../../lib/evaluation/evaluate.ts";
import { createModel, type PneumothoraxDetectionModel } from "../../lib/model/model.ts";
import {
  plotCamOverlay,
  plotRoc,
  plotTrainingCurves,
  plotXrayGrid,
  type StepValue,
} from "../../lib/figures/mod.ts";
import { createRandom, shuffleInPlace } from "../../lib/core/random.ts";
import {
  auc,
  bootstrapAucInterval,
  operatingPoint,
  rocCurve,
  thresholdForSensitivity,
} from "../../lib/evaluation/roc.ts";
import { train } from "../../lib/training/train.ts";
import { computeAccuracy } from "../../lib/model/loss.ts";
import { writeFixtureLabFile } from "../fixtures/lab_files.ts";
import {
  computeCam,
  computeCost,
  computeRoc,
  extractFeaturesWeights,
  predictClass,
  upsample,
} from "../../lib/grading/references.ts";

const SIZE = 16;
const WIDTH = 1;
/** Re-runs of every cell after the first run, in a shuffled order. */
const RERUNS = 2;

/** What a notebook session keeps between cells. */
interface Session {
  dir: string;
  dataset: PneumothoraxDataset;
  model: PneumothoraxDetectionModel;
}

/** A cell: the library calls of one notebook cell; returns what the cell shows. */
type Cell = (session: Session) => Promise<unknown>;

/** The images at `indices` of a split, as the notebooks' `imagesAt` helper takes them. */
function imagesAt(split: LabSplit, indices: number[]): Uint8Array[] {
  const pixels = split.imageSize * split.imageSize;
  return indices.map((i) => split.images.subarray(i * pixels, (i + 1) * pixels));
}

/** Rounded to 5 digits, so that results compare across runs without float noise in the text. */
function rounded(values: ArrayLike<number>): number[] {
  return Array.from(values, (v) => Number(v.toFixed(5)));
}

const CELLS: Record<string, Cell> = {
  "01 load the dataset": async ({ dir }) => {
    const data = await PneumothoraxDataset.load(dir, { imageSize: SIZE });
    return [data.numTrain, data.numTest, data.getTotalNumDataPoints(), data.notes];
  },
  "01 plot training images": ({ dataset }) =>
    Promise.resolve(
      plotXrayGrid(imagesAt(dataset.train, [0, 1, 2, 3]), {
        labels: Array.from(dataset.train.labels.subarray(0, 4)),
      }).outerHTML,
    ),
  "01 a training batch": ({ dataset }) => {
    dataset.batchState = { trainPointer: 0, testBatches: 0 };
    const [images, labels] = dataset.getTrainBatch(4);
    const pixelSum = Array.from(images.dataSync()).reduce((sum, value) => sum + value, 0);
    const shown = [images.shape, rounded(labels.dataSync()), pixelSum];
    tf.dispose([images, labels]);
    return Promise.resolve(shown);
  },
  "02 cost, prediction and accuracy of the untrained model": ({ dataset, model }) => {
    dataset.batchState = { trainPointer: 0, testBatches: 0 };
    const [x, y] = dataset.getTestBatch(4);
    const shown = tf.tidy(() => {
      const logits = model.predictLogits(x);
      return [
        rounded(computeCost(logits, y).dataSync()),
        Array.from(predictClass(logits).dataSync()),
        rounded(computeAccuracy(logits, y).dataSync()),
      ];
    });
    tf.dispose([x, y]);
    return Promise.resolve(shown);
  },
  "02 train and plot the curves": async ({ dir, dataset }) => {
    dataset.batchState = { trainPointer: 0, testBatches: 0 };
    const fresh = createModel({ width: WIDTH, imageSize: SIZE, seed: 3 });
    const costs: StepValue[] = [];
    const tests: StepValue[] = [];
    try {
      const result = await train(fresh, dataset, {
        steps: 3,
        batchSize: 4,
        evalEvery: 2,
        evalSize: 4,
        checkpointEvery: 2,
        checkpointDir: join(dir, "notebook-checkpoint"),
        onStep: ({ step, cost }) => costs.push({ step, value: cost }),
        onEval: ({ step, cost }) => tests.push({ step, value: cost }),
      });
      const figure = plotTrainingCurves({
        trainCost: costs,
        testCost: tests,
        trainAccuracy: [],
        testAccuracy: [],
      });
      return [result.step, rounded(costs.map((c) => c.value)), figure.outerHTML.length];
    } finally {
      fresh.dispose();
    }
  },
  "03 restore and predict": async ({ dir, dataset }) => {
    const { model, manifest } = await loadCheckpoint(join(dir, "checkpoint"));
    try {
      const [x, y] = dataset.getBatch("test", [0, 1, 2, 3]);
      const probabilities = model.predictProbabilities(x);
      const shown = [manifest.step, rounded(probabilities.dataSync())];
      tf.dispose([x, y, probabilities]);
      return shown;
    } finally {
      model.dispose();
    }
  },
  "04 predict the test set, ROC, AUC and plot": async ({ dataset, model }) => {
    const predictions = await predictImages(model, dataset.test, { batchSize: 4 });
    const { fpr, tpr } = rocCurve(predictions.labels, predictions.scores);
    const roc = computeRoc(predictions.labels, predictions.scores);
    const interval = bootstrapAucInterval(predictions.labels, predictions.scores, { seed: 0 });
    const sensitive = thresholdForSensitivity(predictions.labels, predictions.scores, 0.9);
    const half = operatingPoint(predictions.labels, predictions.scores, 0.5);
    const figure = plotRoc(roc, { interval, operatingPoints: [sensitive] });
    return [
      rounded(predictions.scores),
      auc(fpr, tpr),
      roc.auroc,
      [interval.low, interval.high],
      [sensitive.threshold, half.sensitivity],
      figure.outerHTML,
    ];
  },
  "05 CAM of one image, upsampled, overlaid": async ({ dataset, model }) => {
    const index = dataset.test.labels.indexOf(1);
    const [image, label] = dataset.getBatch("test", [index]);
    const { fmap, weights, probabilities } = extractFeaturesWeights(model, image);
    const small = computeCam(PNEUMOTHORAX_CLASS, fmap, weights);
    const cam = upsample(small, [SIZE, SIZE]);
    const heat = { data: await cam.data(), width: SIZE, height: SIZE };
    const xray = { data: imagesAt(dataset.test, [index])[0], width: SIZE, height: SIZE };
    const figure = plotCamOverlay(xray, heat, { title: `P = ${probabilities[1].toFixed(3)}` });
    tf.dispose([image, label, fmap, weights, small, cam]);
    return [rounded(heat.data), figure.outerHTML];
  },
  "05 CAMs of a batch, Grad-CAM and visCam": async ({ dataset, model }) => {
    const [images, labels] = dataset.getBatch("test", [0, 1, 2]);
    const { cams, probabilities } = computeCamBatch(model, images);
    const first = tf.tidy(() => images.slice([0, 0, 0, 0], [1, SIZE, SIZE, 1]));
    const grad = gradCam(model, first, PNEUMOTHORAX_CLASS, { layer: "conv6" });
    const figure = visCam(first, grad, { label: 0, prediction: 1, probability: 0.6 });
    const shown = [
      rounded(await cams.data()),
      rounded(await probabilities.data()),
      rounded(await grad.data()),
      figure.outerHTML,
    ];
    tf.dispose([images, labels, cams, probabilities, first, grad]);
    return shown;
  },
};

async function withSession(fn: (session: Session) => Promise<void>): Promise<void> {
  await selectBackend({ backend: "wasm" });
  const dir = await Deno.makeTempDir({ prefix: "notebook_rerun_" });
  try {
    await writeFixtureLabFile(join(dir, TRAIN_FILE), 8, SIZE);
    await writeFixtureLabFile(join(dir, TEST_FILE), 6, SIZE, true);
    const model = createModel({ width: WIDTH, imageSize: SIZE, seed: 1 });
    await saveCheckpoint(model, join(dir, "checkpoint"), { step: 7 });
    const dataset = await PneumothoraxDataset.load(dir, { imageSize: SIZE, seed: 0 });
    try {
      await fn({ dir, dataset, model });
    } finally {
      model.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the notebooks' library calls, re-run and out of order, neither leak tensors nor change results", async () => {
  await withSession(async (session) => {
    const first: Record<string, string> = {};
    const baseline = tf.memory();
    for (const [name, cell] of Object.entries(CELLS)) {
      first[name] = JSON.stringify(await cell(session));
    }
    assert.equal(tf.memory().numTensors, baseline.numTensors, "the first run keeps no tensors");
    assert.equal(tf.memory().numBytes, baseline.numBytes, "the first run keeps no bytes");
    const order = Array.from({ length: RERUNS }, () => Object.keys(CELLS)).flat();
    shuffleInPlace(order, createRandom(6191));
    for (const name of order) {
      const before = tf.memory();
      assert.equal(JSON.stringify(await CELLS[name](session)), first[name], `${name}: same result`);
      const after = tf.memory();
      assert.equal(after.numTensors, before.numTensors, `${name}: tensors`);
      assert.equal(after.numBytes, before.numBytes, `${name}: bytes`);
    }
    assert.equal(tf.memory().numTensors, baseline.numTensors);
    assert.equal(tf.memory().numBytes, baseline.numBytes);
    assert.equal(tf.getBackend(), "wasm");
    console.log(
      `${Object.keys(CELLS).length} cells, then ${order.length} re-runs: ` +
        `${baseline.numTensors} tensors, ${baseline.numBytes} bytes before and after`,
    );
  });
});

import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { main as crossvalMain } from "../../cli/crossval.ts";
import {
  assignFolds,
  crossValidate,
  type PatientImages,
  splitFold,
  summarizeFolds,
} from "../../lib/evaluation/crossval.ts";
import { TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { writeLabFile } from "../../lib/data/lab_files.ts";
import { createModel } from "../../lib/model/model.ts";
import { createRandom } from "../../lib/core/random.ts";
import { withTempDir } from "../support/temp.ts";
import { BACKEND_ENV } from "../../lib/backends/backend.ts";
import { computeRoc } from "../../lib/grading/references.ts";

await tf.setBackend("cpu");

const SIZE = 32;

/**
 * `patients` patients with 1 to 3 images each, about a fifth of the patients positive (all
 * their images), a bright 6x6 square on every positive image.
 */
function patientImages(patients: number, seed: number): PatientImages {
  const random = createRandom(seed);
  const patientIds: string[] = [];
  const labels: number[] = [];
  for (let p = 0; p < patients; p++) {
    const positive = random() < 0.2 ? 1 : 0;
    const count = 1 + Math.floor(random() * 3);
    for (let k = 0; k < count; k++) {
      patientIds.push(`p${p}`);
      labels.push(positive);
    }
  }
  const images = new Uint8Array(labels.length * SIZE * SIZE);
  labels.forEach((label, i) => {
    const base = i * SIZE * SIZE;
    for (let q = 0; q < SIZE * SIZE; q++) images[base + q] = Math.floor(random() * 100);
    if (label) {
      const [r, c] = [Math.floor(random() * (SIZE - 6)), Math.floor(random() * (SIZE - 6))];
      for (let y = r; y < r + 6; y++) {
        images.fill(255, base + y * SIZE + c, base + y * SIZE + c + 6);
      }
    }
  });
  return { images, labels: Uint8Array.from(labels), patientIds, imageSize: SIZE };
}

Deno.test("assignFolds never splits a patient and spreads positives and images evenly", () => {
  const data = patientImages(200, 1);
  const foldOf = assignFolds(data.patientIds, data.labels, { folds: 5, seed: 3 });
  const foldOfPatient = new Map<string, number>();
  data.patientIds.forEach((id, i) => {
    assert.equal(foldOfPatient.get(id) ?? foldOf[i], foldOf[i], `patient ${id} is in one fold`);
    foldOfPatient.set(id, foldOf[i]);
  });
  const sizes = [0, 0, 0, 0, 0];
  const positives = [0, 0, 0, 0, 0];
  foldOf.forEach((fold, i) => {
    sizes[fold]++;
    positives[fold] += data.labels[i];
  });
  assert.ok(Math.max(...positives) - Math.min(...positives) <= 3, `positives ${positives}`);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 3, `sizes ${sizes}`);
  assert.deepEqual(assignFolds(data.patientIds, data.labels, { folds: 5, seed: 3 }), foldOf);
  assert.notDeepEqual(assignFolds(data.patientIds, data.labels, { folds: 5, seed: 4 }), foldOf);
});

Deno.test("assignFolds gives each patient the same fold whatever the order of the images", () => {
  const data = patientImages(60, 4);
  const foldOf = assignFolds(data.patientIds, data.labels, { folds: 5, seed: 2 });
  const order = Array.from(data.labels, (_, i) => i).reverse();
  const reordered = assignFolds(
    order.map((i) => data.patientIds[i]),
    order.map((i) => data.labels[i]),
    {
      folds: 5,
      seed: 2,
    },
  );
  order.forEach((i, k) => assert.equal(reordered[k], foldOf[i]));
});

Deno.test("assignFolds refuses more folds than patients and mismatched arrays", () => {
  assert.throws(
    () => assignFolds(["a", "a", "b"], [0, 1, 0], { folds: 3 }),
    (error: Error) =>
      error instanceof UsageError &&
      error.message === "folds must be an integer in [2, 2] (the patients), got 3",
  );
  assert.throws(() => assignFolds(["a", "b"], [0], { folds: 2 }), UsageError);
});

Deno.test("splitFold holds out every image exactly once over the folds", () => {
  const data = patientImages(40, 2);
  const foldOf = assignFolds(data.patientIds, data.labels, { folds: 4 });
  const heldOut = new Array<number>(data.labels.length).fill(0);
  for (let fold = 0; fold < 4; fold++) {
    const split = splitFold(data, foldOf, { fold, seed: fold });
    split.testIndices.forEach((i) => heldOut[i]++);
    assert.equal(split.train.labels.length + split.test.labels.length, data.labels.length);
    const trainPatients = new Set(
      data.patientIds.filter((_, i) => foldOf[i] !== fold),
    );
    for (const i of split.testIndices) assert.ok(!trainPatients.has(data.patientIds[i]));
    const pixels = SIZE * SIZE;
    const first = split.testIndices[0];
    assert.deepEqual(
      split.test.images.subarray(0, pixels),
      data.images.subarray(first * pixels, (first + 1) * pixels),
      "held-out images are the pooled ones",
    );
  }
  assert.ok(heldOut.every((count) => count === 1), "each image held out once");
});

Deno.test("summarizeFolds gives each fold's AUC and the pooled AUC with its interval", () => {
  const labels = [0, 1, 0, 1, 0, 0, 1, 1];
  const scores = [0.1, 0.9, 0.6, 0.4, 0.2, 0.3, 0.8, 0.7];
  const foldOf = [0, 0, 0, 0, 1, 1, 1, 1];
  const summary = summarizeFolds(labels, scores, { foldOf, bootstrapSamples: 200 });
  assert.deepEqual(summary.folds.map((fold) => [fold.n, fold.positives]), [[4, 2], [4, 2]]);
  assert.equal(summary.folds[0].auc, computeRoc([0, 1, 0, 1], [0.1, 0.9, 0.6, 0.4]).auroc);
  assert.equal(summary.folds[1].auc, 1);
  assert.equal(summary.pooled.auc, computeRoc(labels, scores).auroc);
  const [low, high] = summary.pooled.aucCi95!;
  assert.ok(low <= summary.pooled.auc! && summary.pooled.auc! <= high);
  const oneClass = summarizeFolds([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], { foldOf: [0, 0, 1, 1] });
  assert.deepEqual(oneClass.folds.map((fold) => fold.auc), [null, null]);
});

Deno.test("crossValidate scores every image once, by the model of its fold", async () => {
  const data = patientImages(30, 5);
  const heldOut: number[][] = [];
  const result = await crossValidate(data, {
    folds: 3,
    seed: 1,
    bootstrapSamples: 100,
    createModel: () => createModel({ width: 2, imageSize: SIZE, seed: 1 }),
    train: { steps: 3, batchSize: 4, optimizer: "adam" },
    onFoldStart: (fold, split) => heldOut[fold] = split.testIndices,
  });
  const seen = heldOut.flat().sort((a, b) => a - b);
  assert.deepEqual(seen, Array.from(data.labels, (_, i) => i));
  heldOut.forEach((indices, fold) => indices.forEach((i) => assert.equal(result.foldOf[i], fold)));
  assert.ok(result.scores.every((score) => score > 0 && score < 1));
  assert.equal(result.pooled.n, data.labels.length);
  assert.equal(result.folds.reduce((sum, fold) => sum + fold.n, 0), data.labels.length);
  assert.equal(result.pooled.auc, computeRoc(data.labels, result.scores).auroc);
});

/**
 * Writes both lab files of 32x32 images, with patient ids unless `withPatients` is false: the
 * first `trainShare` of the images (in reverse order when `reverse`) in the training file.
 */
async function writeData(
  dir: string,
  options: { withPatients?: boolean; trainShare?: number; reverse?: boolean } = {},
): Promise<void> {
  const data = patientImages(24, 7);
  const n = data.labels.length;
  const order = Array.from({ length: n }, (_, i) => options.reverse ? n - 1 - i : i);
  const cut = Math.floor(n * (options.trainShare ?? 0.75));
  const pixels = SIZE * SIZE;
  const part = (indices: number[]) => ({
    images: Uint8Array.from(
      indices.flatMap((i) => [...data.images.subarray(i * pixels, (i + 1) * pixels)]),
    ),
    labels: Uint8Array.from(indices, (i) => data.labels[i]),
    patientIds: options.withPatients === false ? undefined : indices.map((i) => data.patientIds[i]),
    files: indices.map((i) => `image${String(i).padStart(3, "0")}.png`),
  });
  await writeLabFile(join(dir, TRAIN_FILE), part(order.slice(0, cut)), { imageSize: SIZE });
  await writeLabFile(join(dir, TEST_FILE), part(order.slice(cut)), { imageSize: SIZE });
}

/** Runs deno task crossval on the cpu backend with tiny settings; returns what it printed. */
async function runCrossvalText(dir: string, extra: string[] = []) {
  const args = [
    "--data",
    dir,
    "--folds",
    "3",
    "--steps",
    "2",
    "--width",
    "2",
    "--image-size",
    "32",
  ];
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      join(LAB_ROOT, "deno.json"),
      join(LAB_ROOT, "cli", "crossval.ts"),
      ...args,
      "--batch",
      "4",
      ...extra,
    ],
    env: { [BACKEND_ENV]: "cpu", NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, decoder.decode(stderr));
  return { stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Runs deno task crossval --json on the cpu backend with tiny settings; returns its report. */
async function runCrossval(dir: string, extra: string[] = []) {
  const { stdout, stderr } = await runCrossvalText(dir, [...extra, "--json"]);
  return { report: JSON.parse(stdout), stderr };
}

Deno.test("deno task crossval --json pools both files and prints folds and the pooled AUC", async () => {
  await withTempDir(async (dir) => {
    await writeData(dir);
    const { report, stderr } = await runCrossval(dir, ["--augment"]);
    assert.match(stderr, /fold 3\/3/, "progress goes to standard error");
    assert.equal(report.folds.length, 3);
    for (const fold of report.folds) {
      assert.deepEqual(Object.keys(fold).sort(), ["auc", "n", "positives", "seconds"]);
    }
    assert.deepEqual(Object.keys(report.pooled).sort(), ["auc", "aucCi95", "n", "positives"]);
    const images = report.folds.reduce((sum: number, fold: { n: number }) => sum + fold.n, 0);
    assert.equal(report.pooled.n, images, "every image of both files is scored once");
    assert.equal(report.pooled.aucCi95.length, 2);
    assert.deepEqual(
      [report.settings.steps, report.settings.width, report.settings.augment],
      [2, 2, true],
    );
  });
});

Deno.test("deno task crossval without --json prints a table of the folds and the pooled AUC", async () => {
  await withTempDir(async (dir) => {
    await writeData(dir);
    const { stdout } = await runCrossvalText(dir);
    const lines = stdout.trim().split("\n");
    assert.match(lines[0], /^3-fold cross-validation by patient of .*, from scratch$/);
    assert.equal(lines[1], "fold  images  positives    AUC");
    lines.slice(2, 5).forEach((line, i) =>
      assert.match(line, new RegExp(`^ +${i + 1} +\\d+ +\\d+ +(\\d\\.\\d{3}|-)$`))
    );
    assert.match(
      lines[5],
      /^pooled \d+ images, \d+ positives: AUC \d\.\d{3} \(95% CI \d\.\d{3}-\d\.\d{3}\)$/,
    );
  });
});

Deno.test("deno task crossval gives the same result however the files split the images", async () => {
  await withTempDir(async (dir) => {
    const [a, b] = [join(dir, "a"), join(dir, "b")];
    await Deno.mkdir(a);
    await Deno.mkdir(b);
    await writeData(a);
    await writeData(b, { trainShare: 0.5, reverse: true });
    const [first, second] = [(await runCrossval(a)).report, (await runCrossval(b)).report];
    assert.deepEqual(
      second.folds.map(({ seconds: _, ...fold }: { seconds: number }) => fold),
      first.folds.map(({ seconds: _, ...fold }: { seconds: number }) => fold),
    );
    assert.deepEqual(second.pooled, first.pooled);
  });
});

Deno.test("deno task crossval refuses files without patient_id, naming the file", async () => {
  await withTempDir(async (dir) => {
    await writeData(dir, { withPatients: false });
    await assert.rejects(
      () => crossvalMain(["--data", dir, "--image-size", "32", "--width", "2", "--steps", "1"]),
      (error: Error) =>
        error instanceof UsageError &&
        error.message.startsWith(`${join(dir, TRAIN_FILE)} has no 'patient_id' dataset`),
    );
  });
});

/**
 * `deno task evaluate --split all`, run as a user runs it: both files of a data folder scored
 * together, and a set of lesions only (no negatives) scored by where the maps point, with no AUC.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { saveCheckpoint } from "../../lib/model/checkpoint/mod.ts";
import { TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { writeLabFile } from "../../lib/data/lab_files.ts";
import { createModel } from "../../lib/model/model.ts";
import { loadSiimSample } from "../../lib/data/siim_sample.ts";
import { runTask } from "../support/run_task.ts";
import { selectBackend } from "../../lib/backends/backend.ts";

const PIXELS = 256 * 256;

/** Writes `indices` of the shipped SIIM films, with their masks, as one lab file. */
async function writeFilms(
  path: string,
  films: Awaited<ReturnType<typeof loadSiimSample>>,
  indices: number[],
) {
  const images = new Uint8Array(indices.length * PIXELS);
  const masks = new Uint8Array(indices.length * PIXELS);
  indices.forEach((i, k) => {
    images.set(films.images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
    masks.set(films.masks.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
  });
  await writeLabFile(path, {
    images,
    masks,
    labels: Uint8Array.from(indices, (i) => films.labels[i]),
  });
}

Deno.test("deno task evaluate --split all scores both files, and lesions alone with auc null", async () => {
  const dir = await Deno.makeTempDir({ prefix: "evaluate_all_" });
  try {
    const films = await loadSiimSample();
    const positives = [...films.labels.keys()].filter((i) => films.labels[i] === 1).slice(0, 5);
    const negatives = [...films.labels.keys()].filter((i) => films.labels[i] === 0).slice(0, 2);
    await selectBackend({ backend: "cpu" });
    const checkpoint = join(dir, "checkpoint");
    const model = createModel({ width: 1 });
    await saveCheckpoint(model, checkpoint, { step: 1 });
    model.dispose();

    const lesions = join(dir, "lesions");
    await Deno.mkdir(lesions);
    await writeFilms(join(lesions, TRAIN_FILE), films, positives.slice(0, 3));
    await writeFilms(join(lesions, TEST_FILE), films, positives.slice(3));
    const onLesions = await runTask("evaluate", [
      "--checkpoint",
      checkpoint,
      "--data",
      lesions,
      "--split",
      "all",
      "--json",
    ], dir);
    assert.equal(onLesions.code, 0, onLesions.stderr);
    const report = JSON.parse(onLesions.stdout);
    assert.equal(report.n, 5);
    assert.equal(report.positives, 5);
    assert.equal(report.auc, null);
    assert.equal(report.aucCi95, null);
    assert.equal(typeof report.pointingGame, "number");
    assert.equal(typeof report.energyInside, "number");

    const testOnly = await runTask("evaluate", [
      "--checkpoint",
      checkpoint,
      "--data",
      lesions,
      "--json",
    ], dir);
    const testReport = JSON.parse(testOnly.stdout);
    assert.equal(testReport.n, 2, "the test file alone by default");
    assert.equal(report.pointingFixedPoint, null, "--split all leaves no lesion to learn it from");
    assert.equal(typeof testReport.pointingFixedPoint, "number", "learned from the training file");

    const mixed = join(dir, "mixed");
    await Deno.mkdir(mixed);
    await writeFilms(join(mixed, TRAIN_FILE), films, [positives[0], negatives[0]]);
    await writeFilms(join(mixed, TEST_FILE), films, [positives[1], negatives[1]]);
    const both = await runTask("evaluate", [
      "--checkpoint",
      checkpoint,
      "--data",
      mixed,
      "--split",
      "all",
      "--json",
    ], dir);
    assert.equal(both.code, 0, both.stderr);
    const scored = JSON.parse(both.stdout);
    assert.equal(scored.n, 4);
    assert.equal(typeof scored.auc, "number");

    const bad = await runTask("evaluate", [
      "--checkpoint",
      checkpoint,
      "--data",
      mixed,
      "--split",
      "train",
    ], dir);
    assert.notEqual(bad.code, 0, bad.stderr);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assert.match(bad.stderr, /--split must be one of test, all, got 'train'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

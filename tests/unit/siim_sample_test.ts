import assert from "node:assert/strict";
import { join } from "node:path";
import {
  groupOf,
  loadSiimSample,
  SIIM_SAMPLE_CSV,
  SIIM_SAMPLE_DIR,
  splitSiimSample,
  writeSiimSampleFiles,
} from "../../lib/data/siim_sample.ts";
import { loadRealSample } from "../../lib/data/real_sample.ts";
import { readLabFile, TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { openHdf5, requireDataset } from "../../lib/data/lab_files.ts";
import { DataFileError } from "../../lib/core/errors.ts";

const films = await loadSiimSample();
const PIXELS = films.imageSize * films.imageSize;

Deno.test("loadSiimSample() reads the 851 shipped films, 810 with a non-empty mask", () => {
  assert.equal(films.count, 851);
  assert.equal(films.labels.reduce((a, b) => a + b, 0), 810);
  for (let i = 0; i < films.count; i++) {
    const inside = films.masks.subarray(i * PIXELS, (i + 1) * PIXELS).reduce((a, b) => a + b, 0);
    assert.equal(inside > 0, films.labels[i] === 1, films.imageIds[i]);
  }
});

Deno.test("the films matched to the NIH sample are its pictures, pixel for pixel near enough", async () => {
  const nih = await loadRealSample();
  const matched = films.nihMatches.map((file, i) => ({ file, i })).filter((m) => m.file !== "");
  assert.equal(matched.length, 2);
  for (const { file, i } of matched) {
    const k = nih.files.indexOf(file);
    assert.ok(k >= 0, file);
    let total = 0;
    for (let p = 0; p < PIXELS; p++) {
      total += Math.abs(films.images[i * PIXELS + p] - nih.images[k * PIXELS + p]);
    }
    assert.ok(total / PIXELS < 3, `${file}: mean difference ${total / PIXELS}`);
  }
});

Deno.test("splitSiimSample() keeps each group on one side and the NIH matches out", () => {
  const split = splitSiimSample(films, { seed: 3 });
  const trainGroups = new Set(split.train.map((i) => films.groups[i]));
  assert.deepEqual(split.test.filter((i) => trainGroups.has(films.groups[i])), []);
  assert.equal(split.leftOut.length, 2);
  for (const i of [...split.train, ...split.test]) assert.equal(films.nihMatches[i], "");
  assert.equal(split.train.length + split.test.length + 2, films.count);
  assert.ok(split.test.some((i) => films.labels[i] === 0), "negatives in the test file too");
});

Deno.test("writeSiimSampleFiles() writes masks, files and groups the lab reads back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "siim_sample_" });
  try {
    const report = await writeSiimSampleFiles(dir, { testFraction: 0.25 });
    const train = await readLabFile(join(dir, TRAIN_FILE));
    const test = await readLabFile(join(dir, TEST_FILE), { strings: true });
    assert.equal(train.count + test.count, 849);
    assert.equal(report.test.images, test.count);
    const first = films.imageIds.indexOf(test.files![0]);
    assert.deepEqual(
      test.images.subarray(0, PIXELS),
      films.images.subarray(first * PIXELS, (first + 1) * PIXELS),
    );
    assert.deepEqual(
      test.masks!.subarray(0, PIXELS),
      films.masks.subarray(first * PIXELS, (first + 1) * PIXELS),
    );
    const file = await openHdf5(join(dir, TEST_FILE));
    try {
      const groups = requireDataset(file, "test", "near_duplicate_group").value as string[];
      assert.equal(groups[0], films.groups[first]);
    } finally {
      file.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("groupOf() joins a near-duplicate group and leaves other films apart", () => {
  assert.equal(groupOf({ near_duplicate_group: "12", image_id: "a" }), "group-12");
  assert.equal(groupOf({ near_duplicate_group: "", image_id: "a" }), "a");
});

Deno.test("loadSiimSample() names a table whose mask column disagrees with its label", async () => {
  const dir = await Deno.makeTempDir({ prefix: "siim_bad_" });
  try {
    const text = await Deno.readTextFile(join(SIIM_SAMPLE_DIR, SIIM_SAMPLE_CSV));
    const [header, first] = text.split("\n");
    const broken = first.replace(/^([^,]*),[^,]*,/, "$1,,");
    await Deno.writeTextFile(join(dir, SIIM_SAMPLE_CSV), `${header}\n${broken}\n`);
    await assert.rejects(() => loadSiimSample({ dir }), (error: Error) => {
      assert.ok(error instanceof DataFileError);
      assert.match(error.message, /has a mask exactly when it has a pneumothorax/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { selectBackend } from "../../lib/backends/backend.ts";
import { loadCheckpoint } from "../../lib/model/checkpoint/mod.ts";
import { evaluateModel } from "../../lib/evaluation/evaluate.ts";
import { PHANTOM_CHECKPOINT } from "../../lib/notebook/setup.ts";
import { IMAGE_SIZE } from "../../lib/data/schema.ts";
import { generatePhantoms } from "../../lib/phantom/generator.ts";

await selectBackend({ backend: "wasm" });

/** Seed of phantoms the phantom model never saw (its training data's seed is checked apart). */
const HELD_OUT_SEED = 11;
/** Held-out phantoms scored here: enough for a stable AUC, few enough for a quick test. */
const HELD_OUT_IMAGES = 120;
/**
 * Floors for the held-out figures. The model card reports 964 held-out images; these floors sit
 * below those figures by the sampling error of 120 images, so a sound model passes and a
 * model at chance, or one whose maps point elsewhere, fails.
 */
const MIN_AUC = 0.9;
const MIN_POINTING_GAME = 0.7;

Deno.test("the phantom model has its model card and the data it was trained on", async () => {
  const { model, manifest } = await loadCheckpoint(PHANTOM_CHECKPOINT);
  model.dispose();
  const card = await Deno.readTextFile(join(PHANTOM_CHECKPOINT, "README.md"));
  assert.match(card, new RegExp(`\\bwidth ${manifest.model.width}\\b`));
  assert.match(card, new RegExp(`\\b${manifest.step} steps\\b`));
  assert.equal(manifest.model.imageSize, IMAGE_SIZE);
  assert.equal(manifest.data?.source?.source, "phantom");
  assert.notEqual(manifest.data?.source?.details.seed, HELD_OUT_SEED);
});

Deno.test("the phantom model detects and points at pneumothoraces on phantoms it never saw", async () => {
  const { model } = await loadCheckpoint(PHANTOM_CHECKPOINT);
  try {
    const data = await generatePhantoms(HELD_OUT_IMAGES, { seed: HELD_OUT_SEED, split: "test" });
    const report = await evaluateModel(model, { ...data, imageSize: IMAGE_SIZE }, {
      bootstrapSamples: 200,
    });
    assert.ok(report.auc !== null && report.auc >= MIN_AUC, `test AUC ${report.auc}`);
    assert.ok(
      report.pointingGame !== null && report.pointingGame >= MIN_POINTING_GAME,
      `pointing game ${report.pointingGame}`,
    );
  } finally {
    model.dispose();
  }
});

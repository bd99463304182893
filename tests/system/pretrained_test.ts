/**
 * The model the notebooks restore (`checkpoints/pretrained`): trained on real SIIM films, as its
 * card says, and it tells the half of a held-out film that holds the pneumothorax from the other
 * half far more often than chance, and its maps find the held-out lesions more often than a fixed
 * point at the apex does. Computed here on the held-out SIIM groups, not read from the card: the
 * checkpoint may be retrained.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { selectBackend } from "../../lib/backends/backend.ts";
import { loadCheckpoint } from "../../lib/model/checkpoint/mod.ts";
import { PRETRAINED_CHECKPOINT } from "../../lib/notebook/setup.ts";
import { IMAGE_SIZE } from "../../lib/data/schema.ts";
import { filmDesignOf, predictFilms } from "../../lib/evaluation/films.ts";
import {
  halfFilmImages,
  loadSiimSample,
  splitSiimSample,
  wholeFilmImages,
} from "../../lib/data/siim_sample.ts";
import { localizeDataset, priorPointing } from "../../lib/evaluation/localization.ts";

await selectBackend({ backend: "wasm" });

/**
 * The least share of held-out one-sided lesions whose lesion half must score above the other
 * half. Chance is 0.5; on the 139 held-out films a model at chance reaches 0.65 (91 films) with a
 * probability of 0.0002, so a model that learned nothing fails.
 */
const MIN_LESION_HALF_ABOVE = 0.65;

Deno.test("the shipped model has its model card and learned half-films of the SIIM films", async () => {
  const { model, manifest } = await loadCheckpoint(PRETRAINED_CHECKPOINT);
  model.dispose();
  const card = await Deno.readTextFile(join(PRETRAINED_CHECKPOINT, "README.md"));
  assert.match(card, new RegExp(`\\bwidth ${manifest.model.width}\\b`));
  assert.match(card, new RegExp(`\\b${manifest.step} steps\\b`));
  assert.equal(manifest.model.imageSize, IMAGE_SIZE);
  assert.equal(manifest.data?.source?.source, "siim-sample");
  assert.equal(filmDesignOf(manifest), "halves");
});

Deno.test("the shipped model scores the lesion half of held-out SIIM films above the other half", async () => {
  const { model, manifest } = await loadCheckpoint(PRETRAINED_CHECKPOINT);
  try {
    const films = await loadSiimSample();
    const oneSided = splitSiimSample(films).test.filter((i) =>
      films.sides[i] === "image-left" || films.sides[i] === "image-right"
    );
    const predictions = await predictFilms(
      model,
      { ...wholeFilmImages(films, oneSided), imageSize: films.imageSize },
      { design: filmDesignOf(manifest) },
    );
    const right = oneSided.filter((i, k) =>
      predictions.halves![k] === (films.sides[i] === "image-left" ? "left" : "right")
    ).length;
    const share = right / oneSided.length;
    assert.ok(
      share >= MIN_LESION_HALF_ABOVE,
      `the lesion half scored above the other on ${right} of ${oneSided.length} held-out films`,
    );
  } finally {
    model.dispose();
  }
});

Deno.test("the shipped model's maps find held-out lesions more often than the point where lesions usually are", async () => {
  const { model } = await loadCheckpoint(PRETRAINED_CHECKPOINT);
  try {
    const films = await loadSiimSample();
    const split = splitSiimSample(films);
    const halves = (indices: number[]) => ({
      ...halfFilmImages(films, indices, { seed: 0 }),
      imageSize: films.imageSize,
    });
    const heldOut = halves(split.test);
    const maps = (await localizeDataset(model, heldOut))!;
    const prior = priorPointing(halves(split.train), heldOut)!;
    assert.equal(maps.n, prior.n);
    assert.ok(
      maps.pointingGame > prior.pointingGame,
      `the maps hit ${maps.pointingGame.toFixed(3)} of ${maps.n} held-out lesion half-films, ` +
        `the fixed point (${prior.x}, ${prior.y}) ${prior.pointingGame.toFixed(3)}`,
    );
  } finally {
    model.dispose();
  }
});

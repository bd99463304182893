import assert from "node:assert/strict";
import { selectBackend } from "../../lib/backends/backend.ts";
import { createModel } from "../../lib/model/model.ts";
import { predictImages } from "../../lib/evaluation/evaluate.ts";
import { filmDesignOf, predictFilms } from "../../lib/evaluation/films.ts";
import { mirroredHalf } from "../../lib/data/halves.ts";
import type { CheckpointManifest } from "../../lib/model/checkpoint/mod.ts";

await selectBackend({ backend: "cpu" });

const SIZE = 32;
const PIXELS = SIZE * SIZE;

/** Three films of noise, each with a bright patch on one side or none. */
function films() {
  const images = new Uint8Array(3 * PIXELS);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37) % 101;
  for (let y = 4; y < 12; y++) {
    for (let x = 3; x < 10; x++) images[y * SIZE + x] = 250;
    for (let x = 22; x < 29; x++) images[PIXELS + y * SIZE + x] = 250;
  }
  return { images, labels: Uint8Array.of(1, 1, 0), imageSize: SIZE };
}

Deno.test("predictFilms() gives a half-film model's film the score of its more suspicious half", async () => {
  const model = createModel({ width: 2, imageSize: SIZE, seed: 5 });
  try {
    const data = films();
    const halves = new Uint8Array(6 * PIXELS);
    for (let i = 0; i < 3; i++) {
      const film = data.images.subarray(i * PIXELS, (i + 1) * PIXELS);
      halves.set(mirroredHalf(film, SIZE, "left"), 2 * i * PIXELS);
      halves.set(mirroredHalf(film, SIZE, "right"), (2 * i + 1) * PIXELS);
    }
    const each = await predictImages(model, {
      images: halves,
      labels: new Uint8Array(6),
      imageSize: SIZE,
    });
    const byHalf = await predictFilms(model, data, { design: "halves", batchSize: 4 });
    for (let i = 0; i < 3; i++) {
      const [left, right] = [each.scores[2 * i], each.scores[2 * i + 1]];
      assert.equal(byHalf.scores[i], Math.max(left, right), `film ${i}`);
      assert.equal(byHalf.halves![i], right > left ? "right" : "left");
      assert.deepEqual([...byHalf.halfScores!.subarray(2 * i, 2 * i + 2)], [left, right]);
    }
    assert.deepEqual([...byHalf.labels], [1, 1, 0]);

    const whole = await predictFilms(model, data);
    const direct = await predictImages(model, data);
    assert.deepEqual([...whole.scores], [...direct.scores]);
    assert.equal(whole.halves, undefined);
  } finally {
    model.dispose();
  }
});

Deno.test("filmDesignOf() reads the design from the training data's record, whole by default", () => {
  const manifest = (design?: string) =>
    ({
      data: {
        dir: "d",
        source: { source: "siim-sample", description: "", created: "", details: { design } },
      },
    }) as unknown as CheckpointManifest;
  assert.equal(filmDesignOf(manifest("halves")), "halves");
  assert.equal(filmDesignOf(manifest("whole")), "whole");
  assert.equal(filmDesignOf(manifest(undefined)), "whole");
  assert.equal(filmDesignOf({} as CheckpointManifest), "whole");
});

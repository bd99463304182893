import assert from "node:assert/strict";
import { generatePhantoms } from "../../lib/phantom/generator.ts";
import { generateTubePhantoms, TUBE_CONTRAST } from "../../lib/evaluation/tube_masks.ts";
import { crossValidate } from "../../lib/evaluation/crossval.ts";
import { createModel } from "../../lib/model/model.ts";
import { UsageError } from "../../lib/core/errors.ts";
import * as tf from "@tensorflow/tfjs";

const PIXELS = 256 * 256;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("phantoms without tubes are the bytes they were before the tube drew from its own stream", async () => {
  // The digest of these images as made before the change (commit c73e49a's generator).
  const { images } = await generatePhantoms(6, { seed: 5, split: "test", workers: 0 });
  assert.equal(
    await sha256(new Uint8Array(images)),
    "6a557d5925b1ee6c9fb2acd2db54b824512290a3e823981e961d1ff950f0cc3c",
  );
});

Deno.test("generateTubePhantoms() marks each tube, and nothing but the tube changes the image", async () => {
  const options = { seed: 3, split: "test" as const, workers: 0 };
  const data = await generateTubePhantoms(8, { ...options, tube: { positive: 1, negative: 0.5 } });
  const plain = await generatePhantoms(8, options);
  assert.deepEqual(data.labels, plain.labels, "the same cases");
  assert.ok(data.tubes.some((t) => t === 0) && data.tubes.some((t) => t === 1));
  for (let i = 0; i < 8; i++) {
    const mask = data.tubeMasks.subarray(i * PIXELS, (i + 1) * PIXELS);
    const covered = mask.reduce((sum, v) => sum + v, 0);
    if (!data.tubes[i]) {
      assert.equal(covered, 0, `image ${i} has no tube, so no tube region`);
      assert.deepEqual(
        data.images.subarray(i * PIXELS, (i + 1) * PIXELS),
        plain.images.subarray(i * PIXELS, (i + 1) * PIXELS),
        `image ${i} without a tube is the plain phantom`,
      );
      continue;
    }
    assert.ok(covered > 500 && covered < PIXELS / 4, `image ${i}: tube region of ${covered} px`);
    for (let p = 0; p < PIXELS; p++) {
      const change = Math.abs(data.images[i * PIXELS + p] - plain.images[i * PIXELS + p]);
      if (change > TUBE_CONTRAST) assert.equal(mask[p], 1, `image ${i} pixel ${p} changed`);
    }
  }
});

Deno.test("crossValidate() refuses folds that split a patient or leave a fold empty", async () => {
  await tf.setBackend("cpu");
  const data = {
    images: new Uint8Array(4 * 16 * 16),
    labels: Uint8Array.from([0, 1, 0, 1]),
    imageSize: 16,
    patientIds: ["a", "a", "b", "c"],
  };
  const base = { folds: 2, createModel: () => createModel({ width: 1, imageSize: 16 }) };
  await assert.rejects(
    crossValidate(data, { ...base, foldsOf: () => [0, 1, 0, 1] }),
    (error: Error) =>
      error instanceof UsageError && /patient a in folds 0 and 1/.test(error.message),
  );
  await assert.rejects(
    crossValidate(data, { ...base, foldsOf: () => [0, 0, 0, 0] }),
    (error: Error) => error instanceof UsageError && /left fold 1 empty/.test(error.message),
  );
});

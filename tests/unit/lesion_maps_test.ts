import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { lesionMapCost } from "../../lib/training/lesion_maps.ts";
import { UsageError } from "../../lib/core/errors.ts";

await tf.setBackend("cpu");

/** One 8x8 mask whose lesion covers the top-left 4x4 pixels: one cell of a 2x2 map. */
const topLeft = () =>
  tf.tensor4d(Array.from({ length: 64 }, (_, p) => (p % 8 < 4 && p < 32 ? 1 : 0)), [1, 8, 8, 1]);

const costOf = (cams: number[], masks: tf.Tensor4D) =>
  tf.tidy(() => lesionMapCost(tf.tensor3d(cams, [masks.shape[0], 2, 2]), masks).dataSync()[0]);

Deno.test("lesionMapCost() is minus the log of the map's softmax mass on the cells a lesion touches", () => {
  const mask = topLeft();
  assert.ok(Math.abs(costOf([0, 0, 0, 0], mask) - Math.log(4)) < 1e-5, "a flat map: log 4");
  const inside = costOf([3, 0, 0, 0], mask);
  const outside = costOf([0, 0, 0, 3], mask);
  const expected = -Math.log(Math.exp(3) / (Math.exp(3) + 3));
  assert.ok(Math.abs(inside - expected) < 1e-5, `${inside} vs ${expected}`);
  assert.ok(inside < Math.log(4) && Math.log(4) < outside, "a peak on the lesion costs least");
  mask.dispose();
});

Deno.test("lesionMapCost() averages over the images with a lesion; those without add nothing", () => {
  const masks = tf.concat([topLeft(), tf.zeros([1, 8, 8, 1])]) as tf.Tensor4D;
  const both = costOf([3, 0, 0, 0, 0, 0, 0, 9], masks);
  assert.ok(
    Math.abs(both - costOf([3, 0, 0, 0], topLeft())) < 1e-5,
    "the lesionless map is ignored",
  );
  const none = tf.zeros([2, 8, 8, 1]) as tf.Tensor4D;
  const cams = tf.variable(tf.randomNormal([2, 2, 2]) as tf.Tensor3D);
  const { value, grads } = tf.variableGrads(() => lesionMapCost(cams, none), [cams]);
  assert.equal(Math.abs(value.dataSync()[0]), 0);
  assert.ok(grads[cams.name].dataSync().every((g) => g === 0), "no lesion, no gradient");
  tf.dispose([masks, none, cams, value, grads[cams.name]]);
});

Deno.test("lesionMapCost() names masks that do not match the maps", () => {
  const mask = topLeft();
  assert.throws(
    () => lesionMapCost(tf.zeros([1, 3, 3]) as tf.Tensor3D, mask),
    (error: Error) =>
      error instanceof UsageError && /lesion masks \[1,8,8,1\] do not match maps \[1,3,3\]/.test(
        error.message,
      ),
  );
  assert.throws(() => lesionMapCost(tf.zeros([2, 2, 2]) as tf.Tensor3D, mask), UsageError);
  mask.dispose();
});

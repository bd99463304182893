import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { createAugmentation } from "../../lib/training/augment.ts";
import { UsageError } from "../../lib/core/errors.ts";

await tf.setBackend("cpu");

const SIZE = 32;

/** Images whose left half (columns 0-15) is 200 and right half 40: laterality made visible. */
function leftBright(count: number): tf.Tensor4D {
  const pixels = Float32Array.from(
    { length: count * SIZE * SIZE },
    (_, k) => (k % SIZE) < SIZE / 2 ? 200 : 40,
  );
  return tf.tensor4d(pixels, [count, SIZE, SIZE, 1]);
}

function halves(images: tf.Tensor4D): Array<[number, number]> {
  return tf.tidy(() => {
    const left = images.slice([0, 0, 0, 0], [-1, -1, SIZE / 2, -1]).mean([1, 2, 3]).arraySync();
    const right = images.slice([0, 0, SIZE / 2, 0], [-1, -1, -1, -1]).mean([1, 2, 3])
      .arraySync();
    return (left as number[]).map((value, i) => [value, (right as number[])[i]]);
  });
}

Deno.test("augmentation keeps laterality: the bright side stays on the left", () => {
  const images = leftBright(16);
  const out = createAugmentation({ seed: 1 })(images);
  for (const [left, right] of halves(out)) assert.ok(left > right + 80, `${left} vs ${right}`);
  const [min, max] = [out.min().dataSync()[0], out.max().dataSync()[0]];
  assert.ok(min >= 0 && max <= 255, `pixels in [${min}, ${max}]`);
  assert.deepEqual(out.shape, images.shape);
  tf.dispose([images, out]);
});

Deno.test("augmentation changes each image differently and repeats with its seed", () => {
  const images = leftBright(4);
  const [a, b, c] = [1, 1, 2].map((seed) => createAugmentation({ seed })(images));
  assert.deepEqual(a.dataSync(), b.dataSync(), "same seed, same images");
  assert.notDeepEqual(a.dataSync(), c.dataSync(), "another seed, other images");
  const [first, second] = tf.unstack(a);
  assert.notDeepEqual(first.dataSync(), second.dataSync(), "each image draws its own");
  assert.notDeepEqual(a.dataSync(), images.dataSync(), "the images changed");
  tf.dispose([images, a, b, c, first, second]);
});

Deno.test("augmentation with every range zero returns the images unchanged", () => {
  const images = tf.tensor4d(
    Float32Array.from({ length: 2 * SIZE * SIZE }, (_, k) => (k * 7) % 256),
    [2, SIZE, SIZE, 1],
  );
  const identity = createAugmentation({ maxRotation: 0, maxShift: 0, maxScale: 0, maxGamma: 1 });
  const out = identity(images);
  const difference = tf.max(tf.abs(tf.sub(out, images))).dataSync()[0];
  assert.ok(difference < 1e-3, `largest change ${difference}`);
  tf.dispose([images, out]);
});

Deno.test("augmentation refuses ranges that would not keep an X-ray an X-ray", () => {
  assert.throws(() => createAugmentation({ maxRotation: 90 }), UsageError);
  assert.throws(() => createAugmentation({ maxShift: -0.1 }), UsageError);
  assert.throws(
    () => createAugmentation({ maxGamma: 0.5 }),
    /maxGamma must be a number in \[1, 3\], got 0.5/,
  );
});

Deno.test("augmentation moves every channel of an image alike (a lesion mask with its film)", () => {
  const augment = createAugmentation({ seed: 5, maxRotation: 10, maxShift: 0.2, maxScale: 0.1 });
  const images = leftBright(3);
  const mask = tf.tidy(() => tf.mul(tf.greater(images, 100).toFloat(), 255));
  const moved = augment(tf.concat([images, mask], 3) as tf.Tensor4D);
  const [film, outline] = tf.split(moved, 2, 3);
  const bright = tf.tidy(() => tf.greater(film, 120).dataSync());
  const inside = tf.tidy(() => tf.greater(outline, 127.5).dataSync());
  const agree = bright.filter((value, i) => value === inside[i]).length / bright.length;
  assert.ok(agree > 0.98, `film and mask moved together on ${(agree * 100).toFixed(1)}% of pixels`);
  const still = tf.tidy(() =>
    tf.equal(outline, tf.tidy(() => tf.mul(tf.greater(images, 100), 255))).all().dataSync()[0]
  );
  assert.equal(still, 0, "the draw did move them");
  tf.dispose([images, mask, moved, film, outline]);
});

import assert from "node:assert/strict";
import { withTempDir } from "../support/temp.ts";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  PneumothoraxDataset,
  readLabFile,
  TEST_FILE,
  TRAIN_FILE,
  validateLabFile,
} from "../../lib/data/dataset.ts";
import { DataFileError, UsageError } from "../../lib/core/errors.ts";
import { fixturePixel, writeFixtureLabFile, writeRawH5 } from "../fixtures/lab_files.ts";

await tf.setBackend("cpu");
const SIZE = 256;
const PIXELS = SIZE * SIZE;

async function writeDataset(dir: string, train = 7, test = 5) {
  await writeFixtureLabFile(join(dir, TRAIN_FILE), train);
  await writeFixtureLabFile(join(dir, TEST_FILE), test, SIZE, true);
}

Deno.test("PneumothoraxDataset.load() reads both files as the lab's class", async () => {
  await withTempDir(async (dir) => {
    await writeDataset(dir);
    const data = await PneumothoraxDataset.load(dir);
    assert.equal(data.numTrain, 7);
    assert.equal(data.numTest, 5);
    assert.equal(data.getTotalNumDataPoints(), 12);
    assert.equal(data.train.images.length, 7 * PIXELS);
    assert.ok(data.train.images instanceof Uint8Array);
    assert.deepEqual([...data.train.labels], [0, 1, 0, 1, 0, 1, 0]);
    assert.equal(data.train.masks, undefined);
    assert.equal(data.test.masks?.length, 5 * PIXELS);
    assert.deepEqual(data.notes, []);
  });
});

Deno.test("getTrainBatch() cycles through the training set in order", async () => {
  await withTempDir(async (dir) => {
    await writeDataset(dir);
    const data = await PneumothoraxDataset.load(dir);
    const seen: number[] = [];
    for (let step = 0; step < 3; step++) {
      const [x, y] = data.getTrainBatch(3);
      assert.deepEqual(x.shape, [3, SIZE, SIZE, 1]);
      assert.equal(x.dtype, "float32");
      const pixels = x.dataSync();
      const labels = y.argMax(1).dataSync();
      for (let k = 0; k < 3; k++) {
        const index = [0, 1, 2, 3, 4, 5, 6].find((i) =>
          fixturePixel(i, 1) === pixels[k * PIXELS + 1]
        );
        assert.notEqual(index, undefined);
        seen.push(index!);
        assert.equal(labels[k], index! % 2);
      }
      tf.dispose([x, y]);
    }
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 0, 1]);
    assert.deepEqual(data.batchState, { trainPointer: 2, testBatches: 0 });
  });
});

Deno.test("getTestBatch() draws distinct images, repeatably by seed, resumable", () => {
  const split = (n: number) => ({
    images: Uint8Array.from({ length: n * 4 }, (_, k) => Math.floor(k / 4)),
    labels: Uint8Array.from({ length: n }, (_, i) => i % 2),
  });
  const draw = (data: PneumothoraxDataset) => {
    const [x, y] = data.getTestBatch(10);
    const ids = Array.from(x.dataSync().filter((_, k) => k % 4 === 0));
    tf.dispose([x, y]);
    return ids;
  };
  const make = (seed: number) =>
    PneumothoraxDataset.fromArrays(split(4), split(50), { imageSize: 2, seed });
  const a = make(1);
  const first = draw(a);
  assert.equal(new Set(first).size, 10);
  assert.notDeepEqual(draw(a), first, "successive batches differ");
  assert.deepEqual(draw(make(1)), first, "same seed, same batch");
  assert.notDeepEqual(draw(make(2)), first, "another seed, another batch");
  const resumed = make(1);
  resumed.batchState = { trainPointer: 0, testBatches: 1 };
  const b = make(1);
  draw(b);
  assert.deepEqual(draw(resumed), draw(b));
});

Deno.test("getTrainBatch() rejects batch sizes that are not positive or exceed the set", () => {
  const data = PneumothoraxDataset.fromArrays(
    { images: new Uint8Array(12), labels: new Uint8Array(3) },
    { images: new Uint8Array(8), labels: new Uint8Array(2) },
    { imageSize: 2 },
  );
  assert.throws(() => data.getTrainBatch(0), UsageError);
  assert.throws(() => data.getTrainBatch(1.5), /batch size must be an integer >= 1, got 1.5/);
  assert.throws(() => data.getTrainBatch(4), /larger than the training set \(3 images\)/);
  assert.throws(() => data.getTestBatch(3), /larger than the test set \(2 images\)/);
});

Deno.test("readLabFile() accepts (N,S,S) float images and converts them, saying so", async () => {
  await withTempDir(async (dir) => {
    const unit = join(dir, "unit.h5");
    const values = Float32Array.from({ length: 2 * 16 }, (_, k) => (k % 16) / 15);
    await writeRawH5(unit, {
      image: { data: values, shape: [2, 4, 4], dtype: "<f" },
      label: { data: [1, 0, 0, 1], shape: [2, 2], dtype: "<f" },
    });
    const split = await readLabFile(unit, { imageSize: 4 });
    assert.equal(split.images[15], 255);
    assert.equal(split.images[5], Math.round(5 / 15 * 255));
    assert.match(split.notes[0], /dataset 'image': float pixels in \[0,1\] were scaled/);

    const wide = join(dir, "wide.h5");
    await writeRawH5(wide, {
      image: {
        data: Uint16Array.from({ length: 16 }, (_, k) => k * 1000),
        shape: [1, 4, 4, 1],
        dtype: "<H",
      },
      label: { data: Int32Array.from([0, 1]), shape: [1, 2], dtype: "<i" },
    });
    const rescaled = await readLabFile(wide, { imageSize: 4 });
    assert.equal(rescaled.images[15], 255);
    assert.equal(rescaled.images[0], 0);
    assert.deepEqual([...rescaled.labels], [1]);
    assert.match(rescaled.notes[0], /rescaled linearly/);
  });
});

Deno.test("validateLabFile() names the file, the dataset and the problem", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, Parameters<typeof writeRawH5>[1], RegExp][] = [
      [
        "nolabel",
        { image: { data: new Uint8Array(16), shape: [1, 4, 4, 1] } },
        /dataset 'label': missing/,
      ],
      [
        "threeclass",
        {
          image: { data: new Uint8Array(16), shape: [1, 4, 4, 1] },
          label: { data: [0, 1, 0], shape: [1, 3], dtype: "<f" },
        },
        /dataset 'label': has shape \(1,3\) \(3 classes\)/,
      ],
      [
        "rows",
        {
          image: { data: new Uint8Array(32), shape: [2, 4, 4, 1] },
          label: { data: [0, 1], shape: [1, 2], dtype: "<f" },
        },
        /dataset 'label': has 1 rows but 'image' has 2 images/,
      ],
      [
        "notonehot",
        {
          image: { data: new Uint8Array(32), shape: [2, 4, 4, 1] },
          label: { data: [0, 1, 0.5, 0.5], shape: [2, 2], dtype: "<f" },
        },
        /dataset 'label': row 1 is \[0.5, 0.5\]/,
      ],
      [
        "size",
        {
          image: { data: new Uint8Array(18), shape: [2, 3, 3, 1] },
          label: { data: [0, 1, 1, 0], shape: [2, 2], dtype: "<f" },
        },
        /dataset 'image': images are 3x3; the lab expects 4x4/,
      ],
      [
        "channels",
        {
          image: { data: new Uint8Array(48), shape: [1, 4, 4, 3] },
          label: { data: [0, 1], shape: [1, 2], dtype: "<f" },
        },
        /dataset 'image': has shape \(1,4,4,3\)/,
      ],
      [
        "strings",
        { image: { data: ["a"], shape: [1] }, label: { data: [0, 1], shape: [1, 2], dtype: "<f" } },
        /dataset 'image': has non-numeric type/,
      ],
    ];
    for (const [name, datasets, pattern] of cases) {
      const path = join(dir, `${name}.h5`);
      await writeRawH5(path, datasets);
      await assert.rejects(validateLabFile(path, { imageSize: 4 }), (error: unknown) => {
        assert.ok(error instanceof DataFileError, `${name}: ${error}`);
        assert.match(error.message, pattern, name);
        assert.ok(error.message.startsWith(path), name);
        return true;
      });
    }
  });
});

Deno.test("readLabFile() rejects NaN pixels naming the image", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "nan.h5");
    const values = new Float32Array(32);
    values[20] = NaN;
    await writeRawH5(path, {
      image: { data: values, shape: [2, 4, 4, 1], dtype: "<f" },
      label: { data: [0, 1, 1, 0], shape: [2, 2], dtype: "<f" },
    });
    await assert.rejects(readLabFile(path, { imageSize: 4 }), /dataset 'image': image 1 holds NaN/);
  });
});

Deno.test("validateLabFile() summarises a valid file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, TEST_FILE);
    await writeFixtureLabFile(path, 5, 8, true);
    const summary = await validateLabFile(path, { imageSize: 8 });
    assert.deepEqual(summary, {
      path,
      count: 5,
      positives: 2,
      imageSize: 8,
      imageType: "<B",
      hasMask: true,
    });
  });
});

Deno.test("getTrainBatchWithMasks() gives each image's mask and shares getTrainBatch()'s cursor", () => {
  const size = 4;
  const count = 3;
  const images = Uint8Array.from({ length: count * 16 }, (_, k) => Math.floor(k / 16) * 10);
  const masks = Uint8Array.from(
    { length: count * 16 },
    (_, k) => (k % 16 === Math.floor(k / 16) ? 255 : 0),
  );
  const labels = Uint8Array.from([1, 1, 0]);
  const data = PneumothoraxDataset.fromArrays({ images, labels, masks }, { images, labels }, {
    imageSize: size,
  });
  tf.dispose(data.getTrainBatch(2));
  const [x, y, m] = data.getTrainBatchWithMasks(2);
  assert.deepEqual(m.shape, [2, size, size, 1]);
  assert.deepEqual(Array.from(x.dataSync().filter((_, p) => p % 16 === 0)), [20, 0]);
  const ones = Array.from(m.dataSync());
  assert.deepEqual([ones[2], ones[16]], [1, 1], "image 2's mask at pixel 2, image 0's at pixel 0");
  assert.equal(ones.reduce((sum, v) => sum + v, 0), 2, "masks read as 0 or 1");
  tf.dispose([x, y, m]);
  const plain = PneumothoraxDataset.fromArrays({ images, labels }, { images, labels }, {
    imageSize: size,
  });
  assert.throws(
    () => plain.getTrainBatchWithMasks(1),
    /train \(in memory\) holds no lesion masks, so the maps cannot be trained on them/,
  );
});

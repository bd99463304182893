import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { main as trainMain } from "../../cli/train.ts";
import { readCheckpointManifest, restoreCheckpoint } from "../../lib/model/checkpoint/mod.ts";
import { PneumothoraxDataset } from "../../lib/data/dataset.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { createModel, type PneumothoraxDetectionModel } from "../../lib/model/model.ts";
import { train } from "../../lib/training/train.ts";
import { runTask } from "../support/run_task.ts";
import { withTempDir } from "../support/temp.ts";
import { squareImages, writeFixtureDataFolder } from "../fixtures/lab_files.ts";

await tf.setBackend("cpu");

const SIZE = 32;

const dataset = (seed: number) =>
  PneumothoraxDataset.fromArrays(
    squareImages(24, { seed, size: SIZE, square: 6 }),
    squareImages(8, { seed: seed + 1, size: SIZE, square: 6 }),
    {
      imageSize: SIZE,
      seed,
    },
  );
const model = (seed: number, width = 2, imageSize = SIZE) =>
  createModel({ width, imageSize, seed });

function weightsOf(model: PneumothoraxDetectionModel): Float32Array[] {
  return model.network.getWeights().map((w) => w.dataSync() as Float32Array);
}

/** A checkpoint of a width-2 model trained 3 steps with Adam on one dataset, in `dir`/ckpt. */
async function pretrained(dir: string, width = 2): Promise<string> {
  const out = join(dir, "ckpt");
  const source = model(7, width);
  await train(source, dataset(1), {
    steps: 3,
    batchSize: 4,
    optimizer: "adam",
    learningRate: 0.01,
    checkpointDir: out,
  });
  source.dispose();
  return out;
}

Deno.test("train with initFrom takes its first step from the checkpoint's weights", async () => {
  await withTempDir(async (dir) => {
    const ckpt = await pretrained(dir);
    const saved = model(99);
    await restoreCheckpoint(saved, ckpt);
    const fresh = model(3);
    const initial = weightsOf(fresh);
    let beforeFirstStep: Float32Array[] | undefined;
    await train(fresh, dataset(5), {
      steps: 2,
      batchSize: 4,
      optimizer: "adam",
      initFrom: ckpt,
      augment: (images) => {
        beforeFirstStep ??= weightsOf(fresh);
        return images.clone();
      },
    });
    assert.deepEqual(beforeFirstStep, weightsOf(saved), "the weights before step 1 are saved ones");
    assert.notDeepEqual(beforeFirstStep, initial, "not the model's own initial weights");
    assert.notDeepEqual(weightsOf(fresh), weightsOf(saved), "and training moved them");
    saved.dispose();
    fresh.dispose();
  });
});

Deno.test("train with initFrom starts a fresh optimizer and the dataset's own batches", async () => {
  await withTempDir(async (dir) => {
    const ckpt = await pretrained(dir);
    const { manifest } = await readCheckpointManifest(ckpt);
    assert.equal(manifest.training?.batchState.trainPointer, 12, "the checkpoint read 12 images");

    const tuned = model(3);
    const tunedData = dataset(5);
    const result = await train(tuned, tunedData, {
      steps: 2,
      batchSize: 4,
      optimizer: "adam",
      initFrom: ckpt,
      checkpointDir: join(dir, "tuned"),
    });
    assert.equal(result.startStep, 0, "a new run counts its steps from 0");
    assert.equal(tunedData.batchState.trainPointer, 8, "two batches of 4 from the first image");
    const saved = (await readCheckpointManifest(join(dir, "tuned"))).manifest;
    assert.equal(saved.step, 2);

    // The same two steps from the same weights with an optimizer made here: equal only if
    // initFrom loaded no Adam moments and no iteration count.
    const reference = model(3);
    await restoreCheckpoint(reference, ckpt);
    await train(reference, dataset(5), { steps: 2, batchSize: 4, optimizer: "adam" });
    assert.deepEqual(weightsOf(tuned), weightsOf(reference));
    tuned.dispose();
    reference.dispose();
  });
});

Deno.test("initFrom with another width or image size is a UsageError naming both", async () => {
  await withTempDir(async (dir) => {
    const ckpt = await pretrained(dir);
    const wide = model(1, 4);
    await assert.rejects(
      () => train(wide, dataset(5), { steps: 1, batchSize: 4, initFrom: ckpt }),
      (error: Error) =>
        error instanceof UsageError &&
        error.message === `initFrom: ${ckpt} has width 2, the model has width 4`,
    );
    const small = model(1, 2, 16);
    const smallData = PneumothoraxDataset.fromArrays(
      { images: new Uint8Array(4 * 256), labels: Uint8Array.from([0, 1, 0, 1]) },
      { images: new Uint8Array(2 * 256), labels: Uint8Array.from([0, 1]) },
      { imageSize: 16 },
    );
    await assert.rejects(
      () => train(small, smallData, { steps: 1, batchSize: 4, initFrom: ckpt }),
      (error: Error) =>
        error instanceof UsageError &&
        error.message === `initFrom: ${ckpt} has image size 32, the model has image size 16`,
    );
    await assert.rejects(
      () =>
        train(model(1), dataset(5), {
          steps: 1,
          initFrom: ckpt,
          resume: true,
          checkpointDir: ckpt,
        }),
      UsageError,
    );
    wide.dispose();
    small.dispose();
  });
});

Deno.test("freezeBlocks keeps the first blocks' weights and thaws them after the run", async () => {
  const frozen = model(3);
  const before = weightsOf(frozen);
  const names = frozen.network.weights.map((w) => w.originalName);
  await train(frozen, dataset(5), { steps: 3, batchSize: 4, optimizer: "adam", freezeBlocks: 2 });
  const after = weightsOf(frozen);
  names.forEach((name, i) => {
    const layer = Number(/^conv(\d+)\//.exec(name)?.[1] ?? 99);
    if (layer <= 4) assert.deepEqual(after[i], before[i], `${name} is frozen`);
    else assert.notDeepEqual(after[i], before[i], `${name} trains`);
  });
  assert.equal(frozen.trainableVariables().length, names.length, "every weight trainable again");
  await assert.rejects(
    () => train(frozen, dataset(5), { steps: 1, batchSize: 4, freezeBlocks: 5 }),
    /freezeBlocks must be an integer in \[0, 4\], got 5/,
  );
  frozen.dispose();
});

Deno.test("deno task train --init-from refuses --resume and a --width other than the checkpoint's", async () => {
  await withTempDir(async (dir) => {
    const ckpt = await pretrained(dir);
    const data = await writeFixtureDataFolder(dir, { train: 12, test: 4, size: SIZE });
    const base = ["--data", data, "--out", join(dir, "out"), "--steps", "2", "--init-from", ckpt];
    await assert.rejects(
      () => trainMain([...base, "--resume"]),
      (error: Error) => error instanceof UsageError && /give one of them/.test(error.message),
    );
    await assert.rejects(
      () => trainMain([...base, "--width", "4"]),
      (error: Error) =>
        error instanceof UsageError &&
        error.message === `--init-from ${ckpt} has width 2, but --width is 4`,
    );
    await assert.rejects(
      () => trainMain([...base, "--image-size", "64"]),
      (error: Error) =>
        error instanceof UsageError &&
        error.message === `--init-from ${ckpt} has image size 32, but --image-size is 64`,
    );
    await assert.rejects(
      () => trainMain([...base.slice(0, -1), join(dir, "nothing")]),
      /--init-from: there is no checkpoint in/,
    );
  });
});

Deno.test("deno task train --init-from fine-tunes at the checkpoint's width and image size", async () => {
  await withTempDir(async (dir) => {
    const ckpt = await pretrained(dir);
    const data = await writeFixtureDataFolder(dir, { train: 12, test: 4, size: SIZE });
    const out = join(dir, "out");
    const args = [
      "--data",
      data,
      "--out",
      out,
      "--steps",
      "2",
      "--batch",
      "4",
      "--init-from",
      ckpt,
    ];
    const { code, stdout, stderr } = await runTask("train", args, dir, "cpu");
    assert.equal(code, 0, stderr);
    assert.match(stdout, /model: width 2, 32x32 images/);
    assert.match(stdout, new RegExp(`starting from the weights of ${ckpt} \\(step 3\\)`));
    const { manifest } = await readCheckpointManifest(out);
    assert.deepEqual([manifest.step, manifest.model.width, manifest.training?.optimizer], [
      2,
      2,
      "momentum",
    ]);
  });
});

/**
 * Keras itself reads and writes the lab's weights: the README promises that a Keras user can load
 * what `exportKerasWeights` writes and hand weights back through `importKerasWeights`, and until
 * these tests only h5py had looked at the file. Here the lab's network is rebuilt in Keras 3 with
 * the PyTorch backend (`tests/support/keras_model.py`, written from the architecture, not
 * converted from the lab's code), the weights cross over in each direction, and both sides
 * predict the same images: any misnamed, misordered or transposed weight, or a layer that
 * computes something else (padding, standardization, pooling), shows as different probabilities.
 *
 * Python: `python3` on PATH (pyenv's CPython in CI, where `.ci/run` pip-installs torch, keras and
 * h5py), not Debian's `/usr/bin/python3` that the h5py tests use. The tests skip, saying so in one
 * line, where keras 3, torch or h5py is missing there.
 *
 * Every weight, biases included, gets random non-zero values before it crosses, so that a bias
 * left at zero or a swapped pair of layers cannot go unnoticed, and the test checks that the
 * probabilities differ between images, so that a comparison of saturated outputs cannot pass.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { exportKerasWeights, importKerasWeights } from "../../lib/model/checkpoint/mod.ts";
import { createModel, type PneumothoraxDetectionModel } from "../../lib/model/model.ts";
import { createRandom } from "../../lib/core/random.ts";
import { withTempDir } from "../support/temp.ts";

await tf.setBackend("cpu");

/** The Python that has Keras 3 and PyTorch (see the module doc). */
const KERAS_PYTHON = "python3";
const SCRIPT = new URL("../support/keras_model.py", import.meta.url).pathname;
/** Small enough that a Keras start-up dominates: width 2 (2, 4, 8, 16 filters), 32x32 images. */
const SIZE = 32;
const WIDTH = 2;
const COUNT = 6;
/** The tolerance on probabilities; float32 on two backends differ by about 1e-7 here. */
const TOLERANCE = 1e-4;

/** Why Keras cannot be run here, or undefined when it can. */
function kerasMissing(): string | undefined {
  const probe = `
import importlib.util, sys
missing = [m for m in ("keras", "torch", "h5py", "numpy") if importlib.util.find_spec(m) is None]
if missing: sys.exit("missing " + ", ".join(missing))
from importlib.metadata import version
if int(version("keras").split(".")[0]) < 3: sys.exit("keras " + version("keras") + " is not Keras 3")
`;
  try {
    const result = new Deno.Command(KERAS_PYTHON, {
      args: ["-c", probe],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    return result.success ? undefined : new TextDecoder().decode(result.stderr).trim();
  } catch (error) {
    return `${KERAS_PYTHON} cannot be run (${(error as Error).message})`;
  }
}

const missing = kerasMissing();
if (missing !== undefined) {
  console.log(
    `Keras tests skipped: ${KERAS_PYTHON}: ${missing} (pip install torch==2.13.0 keras h5py)`,
  );
}

/** What the Keras script prints. */
interface KerasAnswer {
  keras: string;
  backend: string;
  probabilities: number[][];
}

/** Runs the Keras script; throws with its stderr when it fails. */
async function keras(args: string[]): Promise<KerasAnswer> {
  const result = await new Deno.Command(KERAS_PYTHON, {
    args: [SCRIPT, ...args],
    env: { KERAS_BACKEND: "torch" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!result.success) throw new Error(`keras_model.py failed:\n${decoder.decode(result.stderr)}`);
  const answer: KerasAnswer = JSON.parse(decoder.decode(result.stdout).trim().split("\n").at(-1)!);
  assert.equal(answer.backend, "torch");
  return answer;
}

/**
 * `COUNT` float32 images in [0, 255] that differ in structure, not only in noise: a gradient in a
 * direction of its own, a bright disc at a place of its own, and noise.
 */
function images(): Float32Array {
  const random = createRandom(11);
  const pixels = new Float32Array(COUNT * SIZE * SIZE);
  for (let i = 0; i < COUNT; i++) {
    const angle = (i / COUNT) * 2 * Math.PI;
    const [cy, cx] = [4 + random() * (SIZE - 8), 4 + random() * (SIZE - 8)];
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const gradient = 60 * (Math.cos(angle) * x + Math.sin(angle) * y) / SIZE;
        const disc = (y - cy) ** 2 + (x - cx) ** 2 < 16 ? 120 : 0;
        pixels[(i * SIZE + y) * SIZE + x] = 60 + gradient + disc + 40 * random();
      }
    }
  }
  return pixels;
}

/** The lab's probabilities of the images, as rows [p0, p1]. */
function labProbabilities(model: PneumothoraxDetectionModel, pixels: Float32Array): number[][] {
  return tf.tidy(() => {
    const x = tf.tensor4d(pixels, [COUNT, SIZE, SIZE, 1]);
    return model.predictProbabilities(x).arraySync();
  });
}

/**
 * Gives every weight of the model seeded random values, biases clearly non-zero, scaled so that
 * the probabilities neither saturate nor all sit at 0.5 (as keras_model.py's `randomize`).
 */
function randomizeWeights(model: PneumothoraxDetectionModel, seed: number): void {
  const values = model.network.weights.map((weight, k) =>
    tf.tidy(() => {
      const shape = weight.shape as number[];
      if (shape.length === 1) return tf.randomNormal(shape, 0, 0.05, "float32", seed + k);
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      return tf.randomNormal(shape, 0, 0.7 * Math.sqrt(1 / fanIn), "float32", seed + k);
    })
  );
  model.network.setWeights(values);
  tf.dispose(values);
}

/** Largest absolute difference between two [n, 2] tables. */
function maxDifference(a: number[][], b: number[][]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));
}

/** Asserts that the images get different pneumothorax probabilities, none saturated. */
function assertInformative(probabilities: number[][]): void {
  const p1 = probabilities.map((row) => row[1]);
  const spread = Math.max(...p1) - Math.min(...p1);
  assert.ok(spread > 1e-3, `probabilities too alike to compare weights: ${p1}`);
  assert.ok(p1.every((p) => p > 1e-3 && p < 1 - 1e-3), `saturated probabilities: ${p1}`);
}

async function writeImages(dir: string, pixels: Float32Array): Promise<string> {
  const path = join(dir, "images.f32");
  await Deno.writeFile(path, new Uint8Array(pixels.buffer));
  return path;
}

Deno.test({
  name: "Keras 3 load_weights reads exportKerasWeights' file and predicts the lab's probabilities",
  ignore: missing !== undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const model = createModel({ width: WIDTH, imageSize: SIZE, seed: 3 });
      randomizeWeights(model, 100);
      const pixels = images();
      const lab = labProbabilities(model, pixels);
      assertInformative(lab);
      const weights = join(dir, "lab.h5");
      await exportKerasWeights(model, weights);
      const args = [weights, await writeImages(dir, pixels), `${COUNT}`, `${SIZE}`, `${WIDTH}`];
      const answer = await keras(["predict", ...args]);
      const difference = maxDifference(answer.probabilities, lab);
      console.log(
        `Keras ${answer.keras} (torch) vs lab: max |dp| = ${difference.toExponential(2)}`,
      );
      assert.ok(difference <= TOLERANCE, `Keras and the lab differ by ${difference}`);
      model.dispose();
    });
  },
});

Deno.test({
  name: "importKerasWeights reads weights Keras 3 saved in save_weights' HDF5 layout",
  ignore: missing !== undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const pixels = images();
      const weights = join(dir, "keras.h5");
      const args = [weights, await writeImages(dir, pixels), `${COUNT}`, `${SIZE}`, `${WIDTH}`];
      const answer = await keras(["export", ...args, "5", "legacy"]);
      assertInformative(answer.probabilities);
      const model = createModel({ width: WIDTH, imageSize: SIZE, seed: 3 });
      const before = labProbabilities(model, pixels);
      await importKerasWeights(model, weights);
      const lab = labProbabilities(model, pixels);
      const difference = maxDifference(lab, answer.probabilities);
      console.log(
        `lab vs Keras ${answer.keras} (torch): max |dp| = ${difference.toExponential(2)}`,
      );
      assert.ok(difference <= TOLERANCE, `the lab and Keras differ by ${difference}`);
      assert.ok(maxDifference(before, lab) > 1e-3, "the import changed nothing");
      model.dispose();
    });
  },
});

/**
 * Keras 3's public `model.save_weights("x.weights.h5")` writes its own layout
 * (`layers/conv2d/vars/0`, layers keyed by class and order, not by `name`), the one a Keras 3
 * user has; the test above writes Keras 2's layout through Keras' private legacy module.
 */
Deno.test({
  name: "importKerasWeights reads Keras 3's own model.save_weights('x.weights.h5') layout",
  ignore: missing !== undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const pixels = images();
      const weights = join(dir, "keras.weights.h5");
      const args = [weights, await writeImages(dir, pixels), `${COUNT}`, `${SIZE}`, `${WIDTH}`];
      const answer = await keras(["export", ...args, "5", "native"]);
      assertInformative(answer.probabilities);
      const model = createModel({ width: WIDTH, imageSize: SIZE, seed: 3 });
      try {
        await importKerasWeights(model, weights);
        const difference = maxDifference(labProbabilities(model, pixels), answer.probabilities);
        assert.ok(difference <= TOLERANCE, `the lab and Keras differ by ${difference}`);
      } finally {
        model.dispose();
      }
    });
  },
});

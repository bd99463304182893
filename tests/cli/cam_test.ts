import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import * as tf from "@tensorflow/tfjs";
import { camTask } from "../../cli/cam.ts";
import { PANEL_GAP } from "../../lib/figures/cam.ts";
import { saveCheckpoint } from "../../lib/model/checkpoint/mod.ts";
import { TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { writeLabFile } from "../../lib/data/lab_files.ts";
import { createModel } from "../../lib/model/model.ts";
import { createRandom } from "../../lib/core/random.ts";

await tf.setBackend("cpu");

const SIZE = 32;
const PIXELS = SIZE * SIZE;
const COUNT = 4;
const CAM_TASK = new URL("../../cli/cam.ts", import.meta.url).pathname;

/** A folder with a width-2 checkpoint, and lab files of 4 random images with lesion masks. */
async function fixture(): Promise<{ dir: string; checkpoint: string; probabilities: number[] }> {
  const dir = await Deno.makeTempDir();
  const model = createModel({ width: 2, imageSize: SIZE, seed: 4 });
  const checkpoint = join(dir, "ckpt");
  await saveCheckpoint(model, checkpoint);
  const random = createRandom(7);
  const images = Uint8Array.from({ length: COUNT * PIXELS }, () => Math.floor(random() * 256));
  const labels = Uint8Array.from([0, 1, 1, 0]);
  const masks = new Uint8Array(COUNT * PIXELS).map((_, k) =>
    labels[Math.floor(k / PIXELS)] && k % SIZE >= 8 && k % SIZE < 24 ? 1 : 0
  );
  for (const file of [TRAIN_FILE, TEST_FILE]) {
    await writeLabFile(join(dir, file), { images, labels, masks }, { imageSize: SIZE });
  }
  const batch = tf.tensor4d(Float32Array.from(images), [COUNT, SIZE, SIZE, 1]);
  const probabilities = model.predictProbabilities(batch);
  const values = Array.from(probabilities.dataSync()).filter((_, i) => i % 2 === 1);
  tf.dispose([batch, probabilities]);
  model.dispose();
  return { dir, checkpoint, probabilities: values };
}

Deno.test("camTask() writes the X-ray|overlay PNG and the titled SVG, and says the prediction", async () => {
  const { dir, checkpoint, probabilities } = await fixture();
  try {
    const out = join(dir, "figures", "cam.png");
    const result = await camTask([
      "--checkpoint",
      checkpoint,
      "--data",
      dir,
      "--index",
      "2",
      "--out",
      out,
    ]);
    assert.deepEqual([result.png, result.svg], [out, join(dir, "figures", "cam.svg")]);
    const p = probabilities[2];
    const predicted = p > 0.5 ? "pneumothorax" : "normal";
    assert.match(
      result.line,
      new RegExp(
        `^test image 2: label pneumothorax, prediction ${predicted}, ` +
          `P\\(pneumothorax\\) = ${p.toFixed(3)}; map maximum at \\(\\d+, \\d+\\) ` +
          "(hits|misses) the lesion, \\d+% of the positive map inside it$",
      ),
    );
    const png = decode(await Deno.readFile(out));
    assert.deepEqual([png.width, png.height, png.channels], [2 * SIZE + PANEL_GAP, SIZE, 3]);
    const svg = await Deno.readTextFile(result.svg);
    assert.ok(svg.includes(`test image 2: label pneumothorax, prediction ${predicted}`));
    assert.ok(svg.includes("with the mask outline"));
    assert.ok(svg.includes("class activation"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("camTask() draws Grad-CAM at --layer, and no localization for a normal image", async () => {
  const { dir, checkpoint } = await fixture();
  try {
    const out = join(dir, "grad.png");
    const args = ["--checkpoint", checkpoint, "--data", dir, "--split", "train", "--out", out];
    const result = await camTask([...args, "--index", "0", "--layer", "conv6"]);
    assert.match(
      result.line,
      /^train image 0: label normal, prediction \w+, P\(pneumothorax\) = [\d.]+$/,
    );
    assert.ok((await Deno.readTextFile(result.svg)).includes("Grad-CAM at conv6"));
    await assert.rejects(
      () => camTask([...args, "--index", "0", "--layer", "dense"]),
      /layer 'dense' is not a convolutional layer/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("camTask() rejects an index outside the file, naming the range, and bad flags", async () => {
  const { dir, checkpoint } = await fixture();
  try {
    const base = ["--checkpoint", checkpoint, "--data", dir];
    const out = ["--out", join(dir, "x.png")];
    for (const index of ["4", "-1", "two"]) {
      await assert.rejects(
        () => camTask([...base, ...out, `--index=${index}`]),
        (e: unknown) =>
          e instanceof UsageError &&
          e.message === `--index must be an integer in [0, 3], got '${index}'`,
      );
    }
    await assert.rejects(() => camTask([...base, ...out]), /--index is required/);
    await assert.rejects(() => camTask([...base, "--index", "1"]), /--out is required/);
    await assert.rejects(
      () => camTask([...base, "--index", "1", "--out", join(dir, "x.jpg")]),
      /--out must name a .png file/,
    );
    await assert.rejects(
      () => camTask(["--data", dir, ...out, "--index", "1"]),
      /--checkpoint is required/,
    );
    await assert.rejects(
      () => camTask([...base, ...out, "--index", "1", "--split", "val"]),
      /--split must be one of test, train, got 'val'/,
    );
    await assert.rejects(
      () =>
        camTask(["--checkpoint", checkpoint, "--data", join(dir, "none"), ...out, "--index", "0"]),
      /pneumothorax_test\.h5/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task cam prints the line, and a bad index as one error line with exit 1", async () => {
  const { dir, checkpoint } = await fixture();
  try {
    const run = async (index: string) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          CAM_TASK,
          "--checkpoint",
          checkpoint,
          "--data",
          dir,
          "--index",
          index,
          "--out",
          join(dir, "cli.png"),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
      return { code: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
    };
    const ok = await run("1");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^test image 1: label pneumothorax, prediction/);
    assert.ok((await Deno.stat(join(dir, "cli.png"))).isFile);
    const bad = await run("9");
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /^error: --index must be an integer in \[0, 3\], got '9'$/m);
    assert.ok(!bad.stderr.includes("    at "), "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

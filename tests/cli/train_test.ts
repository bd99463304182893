import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { main as trainMain } from "../../cli/train.ts";
import {
  findCheckpoint,
  loadCheckpoint,
  readCheckpointManifest,
  saveCheckpoint,
} from "../../lib/model/checkpoint/mod.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { createModel } from "../../lib/model/model.ts";
import { squareImages, writeFixtureDataFolder } from "../fixtures/lab_files.ts";
import { writeLabFile } from "../../lib/data/lab_files.ts";
import { TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { writeSourceRecord } from "../../lib/data/source.ts";
import { finishTask, spawnTask, type Task } from "../support/run_task.ts";

await tf.setBackend("cpu");

const SIZE = 16;
const TINY = ["--image-size", String(SIZE), "--width", "1", "--batch", "4"];
/**
 * When to kill a run, in milliseconds after it saved a new checkpoint: spread over one
 * step-and-save cycle (about 60 ms here, a third of it saving) and beyond.
 */
const KILL_DELAYS_MS = [0, 3, 9, 14, 20, 27, 33, 41, 52, 150];

async function withData(fn: (dir: string, data: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir, await writeFixtureDataFolder(dir, { train: 20, test: 8, size: SIZE }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs a task on the cpu backend: these tests are about flags, checkpoints and interruptions,
 * and should not depend on which backend the machine's ladder picks.
 */
function spawnOnCpu(task: Task, args: string[], cwd: string): Deno.ChildProcess {
  return spawnTask(task, args, cwd, "cpu");
}

/** The checkpoint's step, or -1 while there is none (or it is being replaced). */
async function checkpointStep(out: string): Promise<number> {
  try {
    return (await readCheckpointManifest(out)).manifest.step;
  } catch {
    return -1;
  }
}

/** Waits until the checkpoint's step passes `step` (the run is training), or fails after 30 s. */
async function waitForStepAfter(out: string, step: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (await checkpointStep(out) <= step) {
    if (Date.now() > deadline) throw new Error(`no checkpoint after step ${step} within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("deno task train names the flag and the allowed range of a bad value", async () => {
  await withData(async (dir, data) => {
    const out = join(dir, "ckpt");
    const run = (...flags: string[]) =>
      trainMain(["--data", data, "--out", out, ...TINY, ...flags]);
    const cases: Array<[string[], RegExp]> = [
      [["--batch", "0"], /^--batch must be an integer >= 1, got '0'$/],
      [
        ["--batch", "25"],
        /^--batch must be an integer in \[1, 20\] \(the training images\), got 25$/,
      ],
      [["--steps=-3"], /^--steps must be an integer >= 1, got '-3'$/],
      [["--steps", "-3"], /^--steps must be an integer >= 1, got '-3'$/],
      [["--width", "2.5"], /^--width must be an integer >= 1, got '2.5'$/],
      [["--lr=-1"], /^--lr must be a positive number, got '-1'$/],
      [["--lr", "abc"], /^--lr must be a positive number, got 'abc'$/],
      [["--optimizer", "rmsprop"], /^--optimizer must be 'momentum' or 'adam', got 'rmsprop'$/],
      [["--image-size", "20"], /^--image-size must be a multiple of 16/],
      [["--checkpoint-every", "0"], /^--checkpoint-every must be an integer >= 1/],
      [["--resume"], /^--resume: there is no checkpoint in .*ckpt to continue$/],
      [["--epochs", "3"], /Unknown option '--epochs'/],
      [["--lesion-maps", "0"], /^--lesion-maps must be a positive number, got '0'$/],
      [
        ["--lesion-maps", "1"],
        /lesionMaps needs lesion masks, and .*pneumothorax_train\.h5 holds none/,
      ],
    ];
    for (const [flags, message] of cases) {
      await assert.rejects(() => run(...flags), (error: Error) => {
        assert.ok(error instanceof UsageError, `${flags}: ${error}`);
        assert.match(error.message, message);
        return true;
      });
    }
    await assert.rejects(
      () => run("--image-size", "32"),
      /images are 16x16; the lab expects 32x32/,
    );
    await saveCheckpoint(createModel({ width: 1, imageSize: SIZE }), out, { step: 5 });
    await assert.rejects(
      () => run("--steps", "9"),
      /already holds a checkpoint \(step 5\); continue it with --resume/,
    );
  });
});

Deno.test("deno task train --resume keeps the checkpoint's optimizer and refuses another one", async () => {
  await withData(async (dir, data) => {
    const out = join(dir, "ckpt");
    const flags = ["--data", data, "--out", out, ...TINY];
    const first = await finishTask(
      spawnOnCpu("train", [...flags, "--optimizer", "adam", "--steps", "2"], dir),
    );
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout + first.stderr, /adam at learning rate 0\.0003/);
    const resumed = await finishTask(
      spawnOnCpu("train", [...flags, "--steps", "4", "--resume"], dir),
    );
    assert.equal(resumed.code, 0, resumed.stderr);
    const { manifest } = await readCheckpointManifest(out);
    assert.deepEqual([manifest.step, manifest.training?.optimizer], [4, "adam"]);
    const other = await finishTask(
      spawnOnCpu("train", [...flags, "--steps", "6", "--resume", "--optimizer", "momentum"], dir),
    );
    assert.equal(other.code, 1);
    assert.match(
      other.stderr,
      /^error: .*ckpt was trained with the adam optimizer; resume it with that one, not momentum$/m,
    );
    assert.equal((await readCheckpointManifest(out)).manifest.step, 4, "the checkpoint is kept");
  });
});

Deno.test("deno task train prints a bad flag as one line and exits 1", async () => {
  await withData(async (dir, data) => {
    const result = await finishTask(
      spawnOnCpu("train", ["--data", data, "--out", join(dir, "c"), "--batch", "0"], dir),
    );
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "error: --batch must be an integer >= 1, got '0'\n");
  });
});

Deno.test("deno task train killed with SIGKILL at many moments always leaves a loadable checkpoint, and --resume finishes", async () => {
  await withData(async (dir, data) => {
    const out = join(dir, "ckpt");
    const flags = ["--data", data, "--out", out, ...TINY, "--checkpoint-every", "1"];
    let step = -1;
    for (const [k, delayMs] of KILL_DELAYS_MS.entries()) {
      const child = spawnOnCpu("train", [
        ...flags,
        "--steps",
        "100000",
        ...(k ? ["--resume"] : []),
      ], dir);
      await waitForStepAfter(out, step);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill("SIGKILL");
      const { code } = await finishTask(child);
      assert.notEqual(code, 0);
      const loaded = await loadCheckpoint(out);
      assert.ok(loaded.manifest.step > step, `step ${loaded.manifest.step} after ${step}`);
      assert.ok(
        loaded.model.network.getWeights().every((w) => w.dataSync().every(Number.isFinite)),
      );
      step = loaded.manifest.step;
      loaded.model.dispose();
    }
    const result = await finishTask(
      spawnOnCpu("train", [...flags, "--steps", String(step + 5), "--resume"], dir),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`resuming .*ckpt at step ${step}`));
    assert.match(result.stdout, new RegExp(`checkpoint: .*ckpt \\(step ${step + 5}\\)`));
    const { manifest } = await readCheckpointManifest(out);
    assert.equal(manifest.step, step + 5);
    assert.equal(manifest.data?.source?.source, "phantom");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "ckpt",
      "data",
      "logs",
    ]);
    assert.equal(await findCheckpoint(out), out);
  });
});

Deno.test("deno task train stops on Ctrl-C after the current step, with a final checkpoint", async () => {
  await withData(async (dir, data) => {
    const out = join(dir, "ckpt");
    const child = spawnOnCpu("train", [
      "--data",
      data,
      "--out",
      out,
      ...TINY,
      "--steps",
      "100000",
      "--checkpoint-every",
      "5",
    ], dir);
    await waitForStepAfter(out, 0);
    child.kill("SIGINT");
    const result = await finishTask(child);
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /stopping after this step and saving a checkpoint/);
    const stopped = Number(result.stdout.match(/interrupted at step (\d+)/)?.[1]);
    assert.equal((await readCheckpointManifest(out)).manifest.step, stopped);
    assert.match(result.stdout, /continue with: deno task train .* --resume/);
  });
});

Deno.test("deno task evaluate --roc draws the ROC curve to an SVG file, and refuses another format", async () => {
  await withData(async (dir, data) => {
    const out = join(dir, "ckpt");
    await saveCheckpoint(createModel({ width: 1, imageSize: SIZE, seed: 3 }), out, { step: 2 });
    const svg = join(dir, "roc.svg");
    const result = await finishTask(
      spawnOnCpu("evaluate", ["--checkpoint", out, "--data", data, "--roc", svg], dir),
    );
    assert.equal(result.code, 0, result.stderr);
    const text = await Deno.readTextFile(svg);
    assert.match(text, /^<\?xml[^>]*>\n<svg /);
    const auc = Number(result.stdout.match(/ROC AUC: +([0-9.]+)/)?.[1]);
    assert.ok(text.includes(`AUC ${auc.toFixed(3)}`), "the legend holds the reported AUC");
    assert.match(text, />width 1, 8 test images</);
    assert.match(text, /step 2: AUC/);
    const png = await finishTask(
      spawnOnCpu("evaluate", ["--checkpoint", out, "--data", data, "--roc", "roc.png"], dir),
    );
    assert.equal(png.code, 1, png.stderr);
    assert.match(
      png.stderr,
      /--roc writes an SVG figure; give a path ending in \.svg, not 'roc\.png'/,
    );
  });
});

Deno.test("deno task evaluate --json reports n, positives, auc, aucCi95, accuracy and the CAM scores", async () => {
  await withData(async (dir, data) => {
    const out = join(dir, "ckpt");
    await saveCheckpoint(createModel({ width: 1, imageSize: SIZE, seed: 3 }), out, { step: 2 });
    const result = await finishTask(
      spawnOnCpu("evaluate", ["--checkpoint", out, "--data", data, "--json"], dir),
    );
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.deepEqual(Object.keys(report), [
      "n",
      "positives",
      "auc",
      "aucCi95",
      "accuracy",
      "pointingGame",
      "pointingChance",
      "pointingFixedPoint",
      "energyInside",
      "backend",
      "imagesPerSecond",
    ]);
    assert.equal(report.n, 8);
    assert.equal(report.positives, 4);
    assert.ok(report.auc >= 0 && report.auc <= 1);
    assert.equal(report.pointingGame, null);
    assert.equal(report.pointingChance, null);
    assert.equal(report.pointingFixedPoint, null);
    assert.equal(report.backend, "cpu");
    assert.match(result.stderr, /backend: cpu/);
    assert.match(result.stderr, /PHANTOM DATA/);
  });
});

Deno.test("deno task train --lesion-maps trains on a folder with lesion outlines", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = join(dir, "data");
    await Deno.mkdir(data);
    const size = 32;
    await writeLabFile(join(data, TRAIN_FILE), squareImages(12, { seed: 1, size, masks: true }), {
      imageSize: size,
    });
    await writeLabFile(join(data, TEST_FILE), squareImages(6, { seed: 2, size, masks: true }), {
      imageSize: size,
    });
    await writeSourceRecord(data, {
      source: "phantom",
      description: "test fixture with outlines",
      created: new Date(0).toISOString(),
      details: {},
    });
    const out = join(dir, "ckpt");
    const run = await finishTask(
      spawnOnCpu("train", [
        "--data",
        data,
        "--out",
        out,
        "--image-size",
        String(size),
        "--width",
        "1",
        "--batch",
        "4",
        "--steps",
        "2",
        "--lesion-maps",
        "0.5",
        "--augment",
      ], dir),
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await readCheckpointManifest(out)).manifest.step, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

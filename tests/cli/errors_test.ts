/**
 * Every task (`deno task data|train|evaluate|cam|grade`), run as the user runs it, meets bad
 * input with one line on standard error that names the file, flag or problem, exit status 1, no
 * stack trace, and its input files byte for byte as they were.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { MANIFEST_FILE, saveCheckpoint, WEIGHTS_FILE } from "../../lib/model/checkpoint/mod.ts";
import { TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { createModel } from "../../lib/model/model.ts";
import { BAD_LAB_FILES, fingerprint } from "../fixtures/bad_lab_files.ts";
import { writeFixtureLabFile, writeRawH5 } from "../fixtures/lab_files.ts";
import { runTask, type Task, type TaskResult } from "../support/run_task.ts";

await tf.setBackend("cpu");

/** The lab's image side: `deno task data` checks files at this size only. */
const SIZE = 256;
/** Tasks run at once: the machine has two cores. */
const CONCURRENCY = 2;

/** One run and what it must print: one error line matching `message`. */
interface ErrorCase {
  task: Task;
  args: string[];
  message: RegExp;
}

/**
 * Asserts a failed run: exit status 1, standard error exactly one line `error: ...` matching
 * `message`, and no stack trace.
 */
function assertOneLineError(result: TaskResult, message: RegExp, what: string): void {
  const lines = result.stderr.split("\n").filter((line) => line.trim() !== "");
  assert.equal(result.code, 1, `${what}: exit status\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `${what}: stack trace\n${result.stderr}`);
  assert.equal(lines.length, 1, `${what}: one line on standard error, got\n${result.stderr}`);
  assert.ok(lines[0].startsWith("error: "), `${what}: ${lines[0]}`);
  assert.match(lines[0].slice("error: ".length), message, what);
}

/** Runs `cases` two at a time in `cwd`, each checked by {@link assertOneLineError}. */
async function expectErrors(cases: ErrorCase[], cwd: string): Promise<void> {
  const queue = [...cases];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { task, args, message } = next;
      assertOneLineError(await runTask(task, args, cwd), message, `${task} ${args.join(" ")}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** A temporary folder with a valid data folder and a width-1 checkpoint; removed afterwards. */
interface Fixture {
  /** Data and checkpoints, whose bytes the tests compare before and after. */
  inputs: string;
  /** Working directory of the tasks, where they may write. */
  work: string;
  /** A valid data folder: 4 training and 2 test images of 256 x 256. */
  good: string;
  /** A checkpoint of a width-1 model for 256 x 256 images. */
  checkpoint: string;
}

async function withFixture(fn: (fixture: Fixture) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cli_errors_" });
  try {
    const inputs = join(dir, "inputs");
    const work = join(dir, "work");
    const good = join(inputs, "good");
    await Deno.mkdir(good, { recursive: true });
    await Deno.mkdir(work);
    await writeFixtureLabFile(join(good, TRAIN_FILE), 4, SIZE);
    await writeFixtureLabFile(join(good, TEST_FILE), 2, SIZE);
    const checkpoint = join(inputs, "checkpoint");
    const model = createModel({ width: 1, imageSize: SIZE });
    await saveCheckpoint(model, checkpoint, { step: 1 });
    model.dispose();
    await fn({ inputs, work, good, checkpoint });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A data folder holding the fixture's training file and `writeTest` as the test file. */
async function dataFolderWithTest(
  fixture: Fixture,
  name: string,
  writeTest: (path: string) => Promise<void>,
): Promise<string> {
  const dir = join(fixture.inputs, name);
  await Deno.mkdir(dir);
  await Deno.copyFile(join(fixture.good, TRAIN_FILE), join(dir, TRAIN_FILE));
  await writeTest(join(dir, TEST_FILE));
  return dir;
}

/** The four tasks that read a data folder, as a user would point them at `data`. */
function dataTasks(fixture: Fixture, data: string): Array<{ task: Task; args: string[] }> {
  const out = join(fixture.work, "never-written");
  return [
    { task: "data", args: ["--out", data] },
    { task: "train", args: ["--data", data, "--out", out, "--width", "1", "--batch", "2"] },
    { task: "evaluate", args: ["--checkpoint", fixture.checkpoint, "--data", data] },
    {
      task: "cam",
      args: [
        "--checkpoint",
        fixture.checkpoint,
        "--data",
        data,
        "--index",
        "0",
        "--out",
        `${out}.png`,
      ],
    },
  ];
}

Deno.test("deno task data|train|evaluate|cam refuse each bad data file in one line naming it, and leave it untouched", async () => {
  await withFixture(async (fixture) => {
    const cases: ErrorCase[] = [];
    const accepted: Array<{ task: Task; args: string[] }> = [];
    for (const [k, bad] of BAD_LAB_FILES.entries()) {
      const data = await dataFolderWithTest(fixture, `bad${k}`, (path) => bad.write(path, SIZE));
      const where = join(data, TEST_FILE) +
        (bad.dataset === undefined ? "" : `: dataset '${bad.dataset}'`);
      const message = new RegExp(`^${RegExp.escape(where)}: ${bad.problem(SIZE).source.slice(1)}`);
      for (const run of dataTasks(fixture, data)) {
        if (bad.pixelsOnly && run.task === "data") accepted.push(run);
        else cases.push({ ...run, message });
      }
    }
    const before = await fingerprint(fixture.inputs);
    await expectErrors(cases, fixture.work);
    for (const { task, args } of accepted) {
      const result = await runTask(task, args, fixture.work);
      assert.equal(result.code, 0, `${task} checks the schema, not the pixels: ${result.stderr}`);
    }
    assert.deepEqual(await fingerprint(fixture.inputs), before);
    assert.deepEqual([...Deno.readDirSync(fixture.work)], []);
  });
});

Deno.test("deno task train|evaluate|cam apply the sensible fixes and say so: no channel axis, floats in [0,1]", async () => {
  await withFixture(async (fixture) => {
    const pixels = Float32Array.from({ length: 2 * SIZE * SIZE }, (_, k) => (k % 256) / 255);
    const data = await dataFolderWithTest(fixture, "unit-floats", (path) =>
      writeRawH5(path, {
        image: { data: pixels, shape: [2, SIZE, SIZE], dtype: "<f" },
        label: { data: [1, 0, 0, 1], shape: [2, 2], dtype: "<f" },
      }));
    const file = join(data, TEST_FILE);
    const notes = [
      `note: ${file}: dataset 'image': float pixels in [0,1] were scaled to [0,255]`,
      `note: ${file}: dataset 'image': shape (2,${SIZE},${SIZE}) has no channel axis; read as ` +
      `(2,${SIZE},${SIZE},1)`,
    ];
    const before = await fingerprint(fixture.inputs);
    const out = join(fixture.work, "checkpoint");
    const train = await runTask("train", [
      ...["--data", data, "--out", out, "--width", "1", "--batch", "2", "--steps", "1"],
      ...["--eval-every", "1"],
    ], fixture.work);
    assert.equal(train.code, 0, train.stderr);
    for (const note of notes) assert.ok(train.stdout.includes(note), train.stdout);
    const evaluate = await runTask("evaluate", [
      ...["--checkpoint", fixture.checkpoint, "--data", data, "--json"],
    ], fixture.work);
    assert.equal(evaluate.code, 0, evaluate.stderr);
    assert.equal(JSON.parse(evaluate.stdout).n, 2);
    for (const note of notes) assert.ok(evaluate.stderr.includes(note), evaluate.stderr);
    const cam = await runTask("cam", [
      ...["--checkpoint", fixture.checkpoint, "--data", data, "--index", "1"],
      ...["--out", join(fixture.work, "cam.png")],
    ], fixture.work);
    assert.equal(cam.code, 0, cam.stderr);
    for (const note of notes) assert.ok(cam.stderr.includes(note), cam.stderr);
    assert.deepEqual(await fingerprint(fixture.inputs), before);
  });
});

Deno.test("deno task train|evaluate|cam name a data folder or checkpoint that is missing, truncated or not a folder", async () => {
  await withFixture(async (fixture) => {
    const { good, checkpoint, inputs } = fixture;
    const missingData = join(inputs, "no-such-data");
    const missingCheckpoint = join(inputs, "no-such-checkpoint");
    const truncated = join(inputs, "truncated-checkpoint");
    const cutManifest = join(inputs, "cut-manifest");
    for (const copy of [truncated, cutManifest]) {
      await Deno.mkdir(copy);
      for (const entry of Deno.readDirSync(checkpoint)) {
        await Deno.copyFile(join(checkpoint, entry.name), join(copy, entry.name));
      }
    }
    const weights = await Deno.readFile(join(checkpoint, WEIGHTS_FILE));
    await Deno.writeFile(join(truncated, WEIGHTS_FILE), weights.subarray(0, 1000));
    const manifest = await Deno.readFile(join(checkpoint, MANIFEST_FILE));
    await Deno.writeFile(join(cutManifest, MANIFEST_FILE), manifest.subarray(0, 200));
    const aFile = join(good, TEST_FILE);
    const cam = (ckpt: string, data = good) => [
      ...["--checkpoint", ckpt, "--data", data, "--index", "0"],
      ...["--out", join(fixture.work, "cam.png")],
    ];
    const resume = (out: string) => ["--data", good, "--out", out, "--resume", "--batch", "2"];
    const truncatedWeights = new RegExp(
      `^${RegExp.escape(join(truncated, WEIGHTS_FILE))} is 1000 bytes but manifest\\.json says ` +
        `${weights.length} \\(truncated or replaced\\)$`,
    );
    const notValidJson = new RegExp(
      `^${RegExp.escape(join(cutManifest, MANIFEST_FILE))}: not valid JSON`,
    );
    const noCheckpoint = new RegExp(`^no checkpoint in ${RegExp.escape(missingCheckpoint)}`);
    const notAFolder = new RegExp(`^Not a directory \\(os error 20\\): .*${RegExp.escape(aFile)}`);
    const before = await fingerprint(inputs);
    await expectErrors([
      {
        task: "train",
        args: ["--data", missingData, "--out", join(fixture.work, "c")],
        message: new RegExp(`^${RegExp.escape(join(missingData, TRAIN_FILE))}: file not found$`),
      },
      {
        task: "evaluate",
        args: ["--checkpoint", checkpoint, "--data", missingData],
        message: new RegExp(`^${RegExp.escape(join(missingData, TEST_FILE))}: file not found$`),
      },
      {
        task: "cam",
        args: cam(checkpoint, missingData),
        message: new RegExp(`^${RegExp.escape(join(missingData, TEST_FILE))}: file not found$`),
      },
      {
        task: "evaluate",
        args: ["--checkpoint", missingCheckpoint, "--data", good],
        message: noCheckpoint,
      },
      { task: "cam", args: cam(missingCheckpoint), message: noCheckpoint },
      {
        task: "train",
        args: resume(missingCheckpoint),
        message: /^--resume: there is no checkpoint in .*no-such-checkpoint to continue$/,
      },
      {
        task: "evaluate",
        args: ["--checkpoint", truncated, "--data", good],
        message: truncatedWeights,
      },
      { task: "cam", args: cam(truncated), message: truncatedWeights },
      { task: "train", args: resume(truncated), message: truncatedWeights },
      {
        task: "evaluate",
        args: ["--checkpoint", cutManifest, "--data", good],
        message: notValidJson,
      },
      { task: "train", args: resume(cutManifest), message: notValidJson },
      { task: "evaluate", args: ["--checkpoint", aFile, "--data", good], message: notAFolder },
      { task: "cam", args: cam(aFile), message: notAFolder },
      {
        task: "train",
        args: ["--data", good, "--out", aFile, "--batch", "2"],
        message: notAFolder,
      },
    ], fixture.work);
    assert.deepEqual(await fingerprint(inputs), before);
  });
});

Deno.test("every task names an unknown flag, and a bad value with its allowed range", async () => {
  await withFixture(async (fixture) => {
    const { good, checkpoint, work } = fixture;
    const out = join(work, "c");
    const train = (...flags: string[]) => ["--data", good, "--out", out, "--width", "1", ...flags];
    const cam = (...flags: string[]) => [
      ...["--checkpoint", checkpoint, "--data", good, "--out", join(work, "cam.png"), ...flags],
    ];
    const unknown = (task: Task) =>
      new RegExp(`^Unknown option '--bogus'.* 'deno task ${task} --help'`);
    const before = await fingerprint(fixture.inputs);
    await expectErrors([
      ...(["data", "train", "evaluate", "cam", "grade"] as const).map((task) => ({
        task,
        args: ["--bogus", "1"],
        message: unknown(task),
      })),
      {
        task: "train",
        args: train("--batch", "0"),
        message: /^--batch must be an integer >= 1, got '0'$/,
      },
      {
        task: "train",
        args: train("--batch", "5"),
        message: /^--batch must be an integer in \[1, 4\] \(the training images\), got 5$/,
      },
      {
        task: "train",
        args: train("--steps", "-3"),
        message: /^--steps must be an integer >= 1, got '-3'$/,
      },
      {
        task: "train",
        args: train("--steps=-3"),
        message: /^--steps must be an integer >= 1, got '-3'$/,
      },
      ...["0", "2.5", "abc", "-1"].map((width) => ({
        task: "train" as const,
        args: ["--data", good, "--out", out, "--width", width],
        message: new RegExp(`^--width must be an integer >= 1, got '${RegExp.escape(width)}'$`),
      })),
      {
        task: "train",
        args: train("--lr", "abc"),
        message: /^--lr must be a positive number, got 'abc'$/,
      },
      {
        task: "train",
        args: train("--image-size", "100"),
        message: /^--image-size must be a multiple of 16/,
      },
      {
        task: "evaluate",
        args: ["--checkpoint", checkpoint, "--data", good, "--batch", "0"],
        message: /^--batch must be an integer >= 1, got '0'$/,
      },
      {
        task: "evaluate",
        args: ["--checkpoint", checkpoint, "--data", good, "--batch", "2.5"],
        message: /^--batch must be an integer >= 1, got '2.5'$/,
      },
      {
        task: "cam",
        args: cam("--index", "2"),
        message: /^--index must be an integer in \[0, 1\], got '2'$/,
      },
      {
        task: "cam",
        args: cam("--index", "-1"),
        message: /^--index must be an integer in \[0, 1\], got '-1'$/,
      },
      {
        task: "cam",
        args: cam("--index", "abc"),
        message: /^--index must be an integer in \[0, 1\], got 'abc'$/,
      },
      { task: "cam", args: cam(), message: /^--index is required/ },
      {
        task: "cam",
        args: [...cam("--index", "0"), "--split", "valid"],
        message: /^--split must be one of test, train, got 'valid'$/,
      },
      {
        task: "data",
        args: ["--out", good, "--source", "bogus"],
        message:
          /^--source must be one of auto, real, phantom, nih, siim, sample, siim-sample, got 'bogus'$/,
      },
      {
        task: "data",
        args: ["--out", good, "--train", "0"],
        message: /^--train must be an integer >= 1, got '0'$/,
      },
      {
        task: "data",
        args: ["--out", good, "--seed", "-1"],
        message: /^--seed must be an integer >= 0, got '-1'$/,
      },
      {
        task: "data",
        args: ["--out", good, "--test-fraction", "1.5"],
        message: /^--test-fraction must be a number in \(0, 1\), got '1\.5'$/,
      },
      {
        task: "data",
        args: ["--out", good, "--train-tube", "0.9"],
        message: /^--train-tube must be two probabilities in \[0, 1\]/,
      },
      {
        task: "grade",
        args: ["--timeout", "0", "x.ipynb"],
        message: /^--timeout must be a positive number of seconds$/,
      },
      { task: "grade", args: [], message: /^give one PATH: a notebook or a folder/ },
      {
        task: "grade",
        args: ["a.ipynb", "b.ipynb"],
        message: /^give one PATH: a notebook or a folder/,
      },
    ], work);
    assert.deepEqual(await fingerprint(fixture.inputs), before);
    assert.deepEqual([...Deno.readDirSync(work)], []);
  });
});

Deno.test("deno task train --workers 0 names a batch that one pass of the wasm heap cannot hold", async () => {
  await withFixture(async (fixture) => {
    const out = join(fixture.work, "too-wide");
    const args = ["--data", fixture.good, "--out", out, "--width", "128", "--batch", "4"];
    assertOneLineError(
      await runTask("train", [...args, "--workers", "0", "--steps", "1"], fixture.work),
      /^a batch of 4 images at width 128 needs more than the wasm heap holds in one pass \(at most 3 images here\); train with workers \(--workers 1 or more\)/,
      "train --width 128 --workers 0",
    );
    await assert.rejects(Deno.stat(join(out, "manifest.json")), Deno.errors.NotFound);
  });
});

Deno.test("deno task evaluate takes a --batch larger than the test set as one pass", async () => {
  await withFixture(async (fixture) => {
    const result = await runTask("evaluate", [
      ...["--checkpoint", fixture.checkpoint, "--data", fixture.good, "--batch", "1000", "--json"],
    ], fixture.work);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).n, 2);
  });
});

Deno.test("deno task grade names a missing, foreign, empty or broken notebook in one line", async () => {
  await withFixture(async (fixture) => {
    const dir = join(fixture.inputs, "submissions");
    await Deno.mkdir(dir);
    const notJson = join(dir, "01_dataset.ipynb");
    const empty = join(dir, "02_training.ipynb");
    const notNotebook = join(dir, "03_restore.ipynb");
    await Deno.writeTextFile(notJson, "{ not json");
    await Deno.writeFile(empty, new Uint8Array());
    await Deno.writeTextFile(notNotebook, JSON.stringify({ cells: 5 }));
    const foreign = join(fixture.good, TEST_FILE);
    const before = await fingerprint(fixture.inputs);
    await expectErrors([
      {
        task: "grade",
        args: [join(dir, "04_roc.ipynb")],
        message: new RegExp(`^${RegExp.escape(join(dir, "04_roc.ipynb"))}: not found$`),
      },
      {
        task: "grade",
        args: [foreign],
        message: new RegExp(`^${RegExp.escape(foreign)}: not one of the lab's notebooks`),
      },
      {
        task: "grade",
        args: [notJson],
        message: new RegExp(`^${RegExp.escape(notJson)}: not a notebook \\(`),
      },
      {
        task: "grade",
        args: [empty],
        message: new RegExp(`^${RegExp.escape(empty)}: not a notebook \\(`),
      },
      {
        task: "grade",
        args: [notNotebook],
        message: new RegExp(`^${RegExp.escape(notNotebook)}: not an nbformat 4 notebook$`),
      },
    ], fixture.work);
    assert.deepEqual(await fingerprint(fixture.inputs), before);
  });
});

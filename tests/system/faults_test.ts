/**
 * Faults injected below the command line: every bad data file through the library, damaged
 * HDF5 internals, a file cut inside its header, an HDF5 abort, a full disk under `deno task
 * train` and `deno task cam`, and `deno task data` killed while it writes.
 *
 * @module
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { canMountTmpfs, mountTmpfs, withTempDir } from "../support/temp.ts";
import { join } from "node:path";
import { FS } from "h5wasm/node";
import * as tf from "@tensorflow/tfjs";
import { loadCheckpoint, saveCheckpoint } from "../../lib/model/checkpoint/mod.ts";
import {
  PneumothoraxDataset,
  readLabFile,
  TEST_FILE,
  TRAIN_FILE,
  validateLabFile,
} from "../../lib/data/dataset.ts";
import { DataFileError } from "../../lib/core/errors.ts";
import { checkHdf5File } from "../../lib/data/lab_files.ts";
import { createModel } from "../../lib/model/model.ts";
import {
  BAD_LAB_FILES,
  fingerprint,
  offsetsOf,
  writeLabFileWithStrings,
} from "../fixtures/bad_lab_files.ts";
import { writeFixtureLabFile } from "../fixtures/lab_files.ts";
import { finishTask, runTask, spawnTask } from "../support/run_task.ts";

await tf.setBackend("cpu");

const SIZE = 16;
/** The message of an HDF5 abort turned into a DataFileError by `readHdf5Guarded`. */
const ABORTED = "the HDF5 library aborted while reading it (damaged?); restart this program, " +
  "or the notebook's kernel, to read HDF5 files again";

/** Open files of the h5wasm module, and of the process where /proc tells. */
function openFiles(): { module: number; process?: number } {
  const streams = (FS as unknown as { streams: unknown[] }).streams;
  let process: number | undefined;
  try {
    process = [...Deno.readDirSync("/proc/self/fd")].length;
  } catch {
    process = undefined;
  }
  return { module: streams.filter((stream) => stream).length, process };
}

Deno.test("PneumothoraxDataset.load() and validateLabFile() throw a DataFileError naming the file, dataset and problem of each bad file, and leave it untouched", async () => {
  await withTempDir(async (dir) => {
    for (const [k, bad] of BAD_LAB_FILES.entries()) {
      const data = join(dir, `bad${k}`);
      await Deno.mkdir(data);
      await writeFixtureLabFile(join(data, TRAIN_FILE), 4, SIZE);
      const path = join(data, TEST_FILE);
      await bad.write(path, SIZE);
      const before = await fingerprint(data);
      const where = bad.dataset === undefined ? path : `${path}: dataset '${bad.dataset}'`;
      const named = (error: unknown) => {
        assert.ok(error instanceof DataFileError, `${bad.fault}: ${error}`);
        assert.equal(error.file, path, bad.fault);
        assert.equal(error.dataset, bad.dataset, bad.fault);
        assert.ok(error.message.startsWith(`${where}: `), error.message);
        assert.match(error.message.slice(where.length + 2), bad.problem(SIZE), bad.fault);
        assert.ok(!error.message.includes("\n"), `${bad.fault}: one line`);
        return true;
      };
      if (bad.pixelsOnly) {
        assert.equal((await validateLabFile(path, { imageSize: SIZE })).count, 2, bad.fault);
      } else {
        await assert.rejects(validateLabFile(path, { imageSize: SIZE }), named);
      }
      await assert.rejects(PneumothoraxDataset.load(data, { imageSize: SIZE }), named);
      assert.deepEqual(await fingerprint(data), before, `${bad.fault}: untouched`);
    }
  });
});

Deno.test("readLabFile() names a damaged HDF5 object header in one line, and leaves no file open", async () => {
  await withTempDir(async (dir) => {
    const pristine = join(dir, "pristine.h5");
    await writeFixtureLabFile(pristine, 4, SIZE, true);
    const bytes = await Deno.readFile(pristine);
    const headers = offsetsOf(bytes, "OHDR");
    assert.ok(headers.length >= 4, `object headers at ${headers}`);
    const damaged = join(dir, "damaged.h5");
    for (const offset of headers) {
      const copy = bytes.slice();
      copy[offset + 5] ^= 0xff;
      await Deno.writeFile(damaged, copy);
      await assert.rejects(readLabFile(damaged, { imageSize: SIZE }), (error: unknown) => {
        assert.ok(error instanceof DataFileError, `header at ${offset}: ${error}`);
        assert.ok(
          error.message.startsWith(
            `${damaged}: HDF5 cannot read it (damaged or incompletely written?): H5`,
          ),
          error.message,
        );
        assert.ok(!error.message.includes("\n"));
        return true;
      });
    }
    const before = openFiles();
    for (let i = 0; i < 30; i++) await readLabFile(damaged, { imageSize: SIZE }).catch(() => {});
    assert.deepEqual(openFiles(), before, "open files after 30 failed reads");
    assert.equal((await readLabFile(pristine, { imageSize: SIZE })).count, 4);
  });
});

Deno.test("checkHdf5File() calls a file cut inside its HDF5 header truncated", async () => {
  await withTempDir(async (dir) => {
    const pristine = join(dir, "pristine.h5");
    await writeFixtureLabFile(pristine, 2, SIZE);
    const bytes = await Deno.readFile(pristine);
    const cut = join(dir, "cut.h5");
    for (const length of [9, 12, 20, 30]) {
      await Deno.writeFile(cut, bytes.subarray(0, length));
      await assert.rejects(
        checkHdf5File(cut),
        (error: unknown) =>
          error instanceof DataFileError &&
          error.message === `${cut}: file is truncated: ${length} bytes end inside its HDF5 ` +
              "header (an interrupted download or copy?)",
      );
    }
    await Deno.writeFile(cut, bytes.subarray(0, 40));
    await assert.rejects(
      checkHdf5File(cut),
      new RegExp(`file is truncated: 40 bytes, but its HDF5 header says ${bytes.length} `),
    );
  });
});

/** Reads `paths` in a fresh process (see read_lab_files_child.ts); outcomes and stderr. */
async function readInChild(paths: string[], strings: boolean) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", "--config", join(LAB_ROOT, "deno.json")],
      join(LAB_ROOT, "tests", "support", "read_lab_files_child.ts"),
      ...[String(SIZE), strings ? "strings" : "no-strings", ...paths],
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return {
    outcomes: JSON.parse(new TextDecoder().decode(stdout)) as string[],
    stderr: new TextDecoder().decode(stderr),
  };
}

Deno.test("readLabFile() meets a damaged heap of strings: unread by default; with strings, an HDF5 abort becomes a DataFileError, and later reads say why they fail", async () => {
  await withTempDir(async (dir) => {
    const pristine = join(dir, "pristine.h5");
    await writeLabFileWithStrings(pristine, 6, SIZE);
    const bytes = await Deno.readFile(pristine);
    const [heap] = offsetsOf(bytes, "GCOL");
    // Zeroes the size of the heap's first object. HDF5 aborts on this file of 6 images; with 4,
    // the heap is laid out otherwise and it reports the damage as an error instead.
    assert.ok(heap !== undefined, "the strings live in a global heap collection");
    const damaged = join(dir, "damaged.h5");
    const copy = bytes.slice();
    copy.fill(0, heap + 24, heap + 32);
    await Deno.writeFile(damaged, copy);

    const unread = await readInChild([damaged, pristine], false);
    assert.deepEqual(unread, { outcomes: ["ok", "ok"], stderr: "" });

    const read = await readInChild([damaged, pristine], true);
    assert.deepEqual(read.outcomes, [
      `DataFileError: ${damaged}: ${ABORTED}`,
      `DataFileError: ${pristine}: cannot read HDF5 files any more: the HDF5 library aborted ` +
      `while reading ${damaged}; restart this program, or the notebook's kernel`,
    ]);
    assert.equal(read.stderr, "Aborted(native code called abort())\n");
    assert.deepEqual(await readInChild([pristine], true), { outcomes: ["ok"], stderr: "" });
  });
});

/** Runs `fn` with a tmpfs of `kilobytes` mounted at a fresh folder, unmounted afterwards. */
async function withSmallDisk(kilobytes: number, fn: (disk: string) => Promise<void>) {
  const disk = await Deno.makeTempDir({ prefix: "full_disk_" });
  assert.ok(mountTmpfs(disk, kilobytes));
  try {
    await fn(disk);
  } finally {
    new Deno.Command("umount", { args: [disk] }).outputSync();
    await Deno.remove(disk, { recursive: true });
  }
}

/** A data folder of 16 x 16 images for the tasks, in `dir`. */
async function makeData(dir: string): Promise<string> {
  const data = join(dir, "data");
  await Deno.mkdir(data);
  await writeFixtureLabFile(join(data, TRAIN_FILE), 8, SIZE);
  await writeFixtureLabFile(join(data, TEST_FILE), 4, SIZE);
  return data;
}

/** The last non-empty line of `text`. */
function lastLine(text: string): string {
  return text.split("\n").filter((line) => line.trim() !== "").at(-1) ?? "";
}

Deno.test({
  name:
    "deno task train on a full disk stops with one error line and keeps the previous checkpoint",
  ignore: !canMountTmpfs,
  fn: async () => {
    await withTempDir(async (dir) => {
      const data = await makeData(dir);
      await withSmallDisk(48, async (disk) => {
        const out = join(disk, "checkpoint");
        const result = await runTask("train", [
          ...["--data", data, "--out", out, "--logdir", join(dir, "logs")],
          ...["--image-size", String(SIZE), "--width", "1", "--batch", "2", "--steps", "50"],
          ...["--checkpoint-every", "1"],
        ], dir);
        assert.equal(result.code, 1, result.stderr);
        assert.doesNotMatch(result.stderr, /^\s+at /m);
        assert.match(
          lastLine(result.stderr),
          new RegExp(
            `^error: could not save the checkpoint to ${out}: No space left on device ` +
              "\\(os error 28\\); the previous checkpoint \\(if any\\) is intact$",
          ),
        );
        const loaded = await loadCheckpoint(out);
        assert.ok(loaded.manifest.step >= 1, `step ${loaded.manifest.step}`);
        loaded.model.dispose();
        assert.deepEqual([...Deno.readDirSync(disk)].map((entry) => entry.name), ["checkpoint"]);
      });
    });
  },
});

Deno.test({
  name: "deno task cam on a full disk prints one error line naming the file, no stack trace",
  ignore: !canMountTmpfs,
  fn: async () => {
    await withTempDir(async (dir) => {
      const data = await makeData(dir);
      const checkpoint = join(dir, "checkpoint");
      const model = createModel({ width: 1, imageSize: SIZE });
      await saveCheckpoint(model, checkpoint, { step: 1 });
      model.dispose();
      await withSmallDisk(4, async (disk) => {
        await Deno.writeFile(join(disk, "filler"), new Uint8Array(4096)).catch(() => {});
        const png = join(disk, "cam.png");
        const result = await runTask("cam", [
          ...["--checkpoint", checkpoint, "--data", data, "--index", "0", "--out", png],
        ], dir);
        assert.equal(result.code, 1, result.stderr);
        assert.doesNotMatch(result.stderr, /^\s+at /m);
        const lines = result.stderr.split("\n").filter((line) => line.trim() !== "");
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0], /^error: No space left on device \(os error 28\): .*cam\.(png|svg)/);
      });
    });
  },
});

/** When to kill `deno task data`, in milliseconds after it starts: spread over its run. */
const DATA_KILL_DELAYS_MS = [400, 900, 1500, 2300];

/** SIGKILLs `child` unless it has already finished (a fast machine may finish first). */
function killIfRunning(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch (error) {
    if (!(error instanceof TypeError && /already terminated/.test(error.message))) throw error;
  }
}

Deno.test("deno task data killed with SIGKILL at several moments never leaves a half-written lab file, and a re-run completes", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "data");
    const args = ["--source", "phantom", "--train", "200", "--test", "60", "--out", out];
    for (const delay of DATA_KILL_DELAYS_MS) {
      const child = spawnTask("data", args, dir);
      await new Promise((resolve) => setTimeout(resolve, delay));
      killIfRunning(child);
      await finishTask(child);
      const present = (() => {
        try {
          return [...Deno.readDirSync(out)].map((entry) => entry.name);
        } catch {
          return [];
        }
      })();
      for (const name of [TRAIN_FILE, TEST_FILE].filter((file) => present.includes(file))) {
        const summary = await validateLabFile(join(out, name));
        assert.equal(summary.count, name === TRAIN_FILE ? 200 : 60, `${name} after ${delay} ms`);
      }
    }
    const result = await runTask("data", args, dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /train 200 images .* test 60 images/);
    assert.deepEqual(
      [...Deno.readDirSync(out)].map((entry) => entry.name).sort(),
      ["SOURCE.json", TEST_FILE, TRAIN_FILE],
    );
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { encode } from "fast-png";
import { ensureDataset, readSourceRecord } from "../../lib/data/source.ts";
import { readLabFile, TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { IMAGE_SIZE } from "../../lib/data/schema.ts";
import { LAB_ROOT } from "../../lib/core/paths.ts";
import { DataFileError, UsageError } from "../../lib/core/errors.ts";
import {
  loadRealSample,
  REAL_SAMPLE_CSV,
  REAL_SAMPLE_DEVICES_CSV,
  REAL_SAMPLE_DIR,
  REAL_SAMPLE_IMAGES,
  type RealSample,
  summarizeDevices,
  writeRealSampleFiles,
} from "../../lib/data/real_sample.ts";

const NIH_DIR = new URL("../../../shared/data/nih-sample/", import.meta.url).pathname;
const hasNih = (() => {
  try {
    return Deno.statSync(`${NIH_DIR}images`).isDirectory;
  } catch {
    return false;
  }
})();
if (!hasNih) console.log(`skipping the checks against NIH's originals: ${NIH_DIR} is absent`);

/** Debian's Python with Pillow and NumPy, when installed. */
const pillowPython = (() => {
  try {
    const check = new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import PIL, numpy"],
      stderr: "null",
    });
    return check.outputSync().success ? "/usr/bin/python3" : undefined;
  } catch {
    return undefined;
  }
})();

let loaded: Promise<RealSample> | undefined;
/** The shipped sample, loaded once for the tests that only read it. */
function sample(): Promise<RealSample> {
  loaded ??= loadRealSample();
  return loaded;
}

const sum = (values: ArrayLike<number>) => Array.from(values).reduce((a, b) => a + b, 0);

/** A CSV's rows as objects keyed by its header (no quoted commas in the files read here). */
async function readSimpleCsv(path: string): Promise<Record<string, string>[]> {
  const [header, ...lines] = (await Deno.readTextFile(path)).trim().split("\n");
  const names = header.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [names[i], v])));
}

Deno.test("loadRealSample() returns the 302 shipped X-rays, 50 with pneumothorax, from 291 patients", async () => {
  const real = await sample();
  assert.equal(real.count, 302);
  assert.equal(real.imageSize, IMAGE_SIZE);
  assert.equal(real.images.length, 302 * IMAGE_SIZE * IMAGE_SIZE);
  assert.equal(sum(real.labels), 50);
  assert.equal(new Set(real.patientIds).size, 291);
  assert.equal(new Set(real.files).size, 302);
  for (const [i, file] of real.files.entries()) {
    assert.match(file, /^\d{8}_\d{3}\.png$/);
    assert.equal(Number(file.slice(0, 8)), Number(real.patientIds[i]), `${file}: patient`);
    assert.equal(real.findings[i].split("|").includes("Pneumothorax"), real.labels[i] === 1);
    assert.equal(real.device[i], summarizeDevices(real.chestTube[i], real.otherDevice[i]));
  }
  const pixels = IMAGE_SIZE * IMAGE_SIZE;
  for (let i = 0; i < real.count; i++) {
    const image = real.images.subarray(i * pixels, (i + 1) * pixels);
    const mean = sum(image) / pixels;
    assert.ok(mean > 20 && mean < 235, `${real.files[i]} is an X-ray, not a blank (mean ${mean})`);
  }
});

Deno.test("loadRealSample() records a chest tube on some positives and says how many are unclear", async () => {
  const real = await sample();
  const count = (label: number, value: string) =>
    real.chestTube.filter((seen, i) => real.labels[i] === label && seen === value).length;
  const positives = { yes: count(1, "yes"), unclear: count(1, "unclear"), no: count(1, "no") };
  console.log(`  positives with a chest tube: ${JSON.stringify(positives)}`);
  assert.equal(positives.yes + positives.unclear + positives.no, 50);
  assert.ok(positives.yes > 0, "at least one treated positive is annotated");
  assert.ok(count(0, "no") > count(1, "no"), "most images without pneumothorax have no tube");
});

Deno.test({
  name:
    "the shipped images are NIH's originals averaged 4x4, within 0.5 gray level of Pillow/NumPy",
  ignore: !hasNih || pillowPython === undefined,
  async fn() {
    const real = await sample();
    const reference = await Deno.makeTempFile({ suffix: ".f32" });
    const script = [
      "import sys, json, numpy as np",
      "from PIL import Image",
      "names, folder, out = json.loads(sys.stdin.read()), sys.argv[1], sys.argv[2]",
      "luma = np.array([0.299, 0.587, 0.114])",
      "with open(out, 'wb') as f:",
      "    for name in names:",
      "        im = Image.open(folder + name)",
      "        a = np.asarray(im, dtype=np.float64)",
      "        a = a[..., :3] @ luma if a.ndim == 3 else a",
      "        h, w = a.shape",
      "        f.write(a.reshape(256, h // 256, 256, w // 256).mean(axis=(1, 3)).astype('<f4').tobytes())",
    ].join("\n");
    try {
      const python = new Deno.Command(pillowPython!, {
        args: ["-c", script, `${NIH_DIR}images/`, reference],
        stdin: "piped",
      }).spawn();
      const writer = python.stdin.getWriter();
      await writer.write(new TextEncoder().encode(JSON.stringify(real.files)));
      await writer.close();
      assert.ok((await python.status).success, "the Pillow reference ran");
      const means = new Float32Array((await Deno.readFile(reference)).buffer);
      assert.equal(means.length, real.images.length);
      let worst = 0;
      for (let i = 0; i < means.length; i++) {
        worst = Math.max(worst, Math.abs(real.images[i] - means[i]));
      }
      console.log(`  largest difference from the reference: ${worst.toFixed(4)} gray levels`);
      assert.ok(worst <= 0.5 + 1e-4, `largest difference ${worst} gray levels`);
    } finally {
      await Deno.remove(reference);
    }
  },
});

Deno.test({
  name: "the shipped labels and patients are NIH's, as the shared sample's metadata gives them",
  ignore: !hasNih,
  async fn() {
    const real = await sample();
    const metadata = new Map(
      (await readSimpleCsv(`${NIH_DIR}metadata.csv`)).map((row) => [row.file, row]),
    );
    assert.equal(metadata.size, real.count);
    real.files.forEach((file, i) => {
      const row = metadata.get(file)!;
      assert.equal(String(real.labels[i]), row.pneumothorax, `${file}: label`);
      assert.equal(Number(real.patientIds[i]), Number(row.patient_id), `${file}: patient`);
      assert.equal(real.findings[i], row.finding_labels_v2020, `${file}: findings`);
    });
  },
});

Deno.test({
  name:
    "the build script remakes the shipped PNGs and rows byte for byte, and stops on an unannotated image",
  ignore: !hasNih,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const real = await sample();
      const metadata = await readSimpleCsv(`${NIH_DIR}metadata.csv`);
      const rgba = metadata.find((row) => row.color_type !== "gray")!.file;
      const picked = [real.files[0], real.files[real.labels.indexOf(1)], rgba];
      await Deno.mkdir(`${dir}/nih`);
      for (const file of picked) {
        await Deno.copyFile(`${NIH_DIR}images/${file}`, `${dir}/nih/${file}`);
      }
      const build = (devices: string) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            join(LAB_ROOT, "tools/build_real_sample.ts"),
            "--images",
            `${dir}/nih`,
            "--labels",
            `${NIH_DIR}Data_Entry_sample.csv`,
            "--devices",
            devices,
            "--out",
            `${dir}/out`,
          ],
          cwd: LAB_ROOT,
        }).output();
      const built = await build(join(REAL_SAMPLE_DIR, REAL_SAMPLE_DEVICES_CSV));
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      for (const file of picked) {
        assert.deepEqual(
          await Deno.readFile(`${dir}/out/${REAL_SAMPLE_IMAGES}/${file}`),
          await Deno.readFile(join(REAL_SAMPLE_DIR, REAL_SAMPLE_IMAGES, file)),
          `${file}: same PNG bytes`,
        );
      }
      const shipped = (await Deno.readTextFile(join(REAL_SAMPLE_DIR, REAL_SAMPLE_CSV))).split("\n");
      const rebuilt = (await Deno.readTextFile(`${dir}/out/${REAL_SAMPLE_CSV}`)).trim().split("\n");
      assert.equal(rebuilt[0], shipped[0]);
      for (const line of rebuilt.slice(1)) assert.ok(shipped.includes(line), `row ${line} shipped`);
      assert.equal(rebuilt.length, picked.length + 1);

      const partial = `${dir}/devices.csv`;
      const annotations = (await Deno.readTextFile(join(REAL_SAMPLE_DIR, REAL_SAMPLE_DEVICES_CSV)))
        .split("\n").filter((line) => !line.startsWith(rgba));
      await Deno.writeTextFile(partial, annotations.join("\n"));
      const stopped = await build(partial);
      const message = new TextDecoder().decode(stopped.stderr).trim();
      assert.equal(stopped.code, 1);
      assert.equal(message.split("\n").length, 1, message);
      assert.match(message, new RegExp(`^error: 1 images have no row in .*${rgba}`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task data --source sample writes the sample split by patient: 302 images, no patient in both files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const real = await sample();
    const folder = await ensureDataset(dir, {
      source: "sample",
      sample: { seed: 3, testFraction: 0.3 },
      log: () => {},
    });
    assert.equal((await readSourceRecord(dir))?.source, "sample");
    const train = await readLabFile(join(dir, TRAIN_FILE), { strings: true });
    const test = await readLabFile(join(dir, TEST_FILE), { strings: true });
    assert.equal(folder.train.count + folder.test.count, 302);
    assert.equal(folder.train.positives + folder.test.positives, 50);
    assert.ok(Math.abs(test.count / 302 - 0.3) < 0.05, `test holds ${test.count} of 302`);
    const testPatients = new Set(test.patientIds);
    assert.ok(train.patientIds!.every((patient) => !testPatients.has(patient)), "disjoint");
    assert.deepEqual([...train.files!, ...test.files!].sort(), [...real.files].sort());
    const pixels = IMAGE_SIZE * IMAGE_SIZE;
    for (const split of [train, test]) {
      split.files!.forEach((file, k) => {
        const i = real.files.indexOf(file);
        assert.equal(split.labels[k], real.labels[i], `${file}: label`);
        assert.equal(split.patientIds![k], real.patientIds[i], `${file}: patient`);
        assert.deepEqual(
          split.images.subarray(k * pixels, (k + 1) * pixels),
          real.images.subarray(i * pixels, (i + 1) * pixels),
          `${file}: pixels`,
        );
      });
    }
    const again = await writeRealSampleFiles(`${dir}/again`, { seed: 3, testFraction: 0.3 });
    const other = await writeRealSampleFiles(`${dir}/other`, { seed: 4, testFraction: 0.3 });
    const filesOf = async (path: string) =>
      (await readLabFile(path, { strings: true })).files!.join();
    assert.equal(await filesOf(again.test.path), test.files!.join(), "same seed, same split");
    assert.notEqual(await filesOf(other.test.path), test.files!.join(), "another seed, another");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task data documents --source sample and writes the files from the command line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(LAB_ROOT, "cli/data.ts"), ...args],
        cwd: LAB_ROOT,
      }).output();
    const help = new TextDecoder().decode((await run("--help")).stdout);
    assert.match(help, /\| sample \(the NIH films shipped in samples\/nih\)/);
    assert.match(help, /\| siim-sample \(the SIIM films shipped in samples\/siim, with masks\)/);
    assert.match(help, /--test-fraction <test-fraction>\n\s+NIH, SIIM and both sample sources/);
    const made = await run("--source", "sample", "--out", dir, "--test-fraction", "0.5");
    const out = new TextDecoder().decode(made.stdout);
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    assert.match(out, /^REAL DATA: the NIH ChestX-ray14 sample shipped with the lab/);
    const test = await readLabFile(join(dir, TEST_FILE));
    assert.ok(Math.abs(test.count - 151) <= 5, `test holds ${test.count} of 302`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeRealSampleFiles() refuses a test fraction that would leave a file empty", async () => {
  for (const testFraction of [0, 1, 1.5]) {
    await assert.rejects(
      writeRealSampleFiles("/nonexistent", { testFraction }),
      (error) => error instanceof UsageError && /testFraction/.test(error.message),
    );
  }
  await assert.rejects(
    writeRealSampleFiles("/nonexistent", { seed: 0.5 }),
    (error) => error instanceof UsageError && /seed must be an integer/.test(error.message),
  );
});

Deno.test("loadRealSample() names the file and the problem when the table or an image is broken", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const header =
      "file,pneumothorax,patient_id,finding_labels,chest_tube,other_device,device,notes";
    const png = (size: number) =>
      encode({ width: size, height: size, data: new Uint8Array(size * size), channels: 1 });
    await Deno.mkdir(`${dir}/${REAL_SAMPLE_IMAGES}`);
    await Deno.writeFile(`${dir}/${REAL_SAMPLE_IMAGES}/a.png`, png(IMAGE_SIZE));
    await Deno.writeFile(`${dir}/${REAL_SAMPLE_IMAGES}/small.png`, png(64));
    const cases: [string, RegExp][] = [
      ["a.png,1,1,Pneumothorax,maybe,no,chest_tube,", /a\.png: chest_tube is 'maybe'/],
      ["a.png,1,1,Pneumothorax,yes,no,none,", /a\.png: device is 'none', but .* 'chest_tube'/],
      ["a.png,2,1,Pneumothorax,no,no,none,", /a\.png: pneumothorax is '2'/],
      ["a.png,1,1,Pneumothorax,no,no", /data row 1 has 6 fields, the header has 8/],
      ["gone.png,0,1,No Finding,no,no,none,", /gone\.png: cannot read/],
      ["small.png,0,1,No Finding,no,no,none,", /small\.png: is 64x64 .* 256x256 8-bit gray/],
    ];
    for (const [row, expected] of cases) {
      await Deno.writeTextFile(`${dir}/${REAL_SAMPLE_CSV}`, `${header}\n${row}\n`);
      await assert.rejects(
        loadRealSample({ dir }),
        (error) => error instanceof DataFileError && expected.test(error.message),
        row,
      );
    }
    await Deno.writeTextFile(`${dir}/${REAL_SAMPLE_CSV}`, "file,pneumothorax\na.png,1\n");
    await assert.rejects(
      loadRealSample({ dir }),
      (error) =>
        error instanceof DataFileError && /missing column 'patient_id'/.test(error.message),
    );
    await assert.rejects(
      loadRealSample({ dir: `${dir}/nowhere` }),
      (error) => error instanceof DataFileError && /sample\.csv: not found/.test(error.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

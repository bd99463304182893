import assert from "node:assert/strict";
import { encode, type ImageData } from "fast-png";
import { DataFileError, LabError, UsageError } from "../../lib/core/errors.ts";
import { openHdf5, requireDataset } from "../../lib/data/lab_files.ts";
import { describeNihImport, importNih, type NihImportOptions } from "../../lib/data/nih.ts";
import type { ProgressBar } from "../../lib/core/progress.ts";

const SAMPLE_DIR = new URL("../../../shared/data/nih-sample/", import.meta.url).pathname;
const SAMPLE_CSV = `${SAMPLE_DIR}Data_Entry_sample.csv`;
const hasSample = (() => {
  try {
    return Deno.statSync(SAMPLE_CSV).isFile;
  } catch {
    return false;
  }
})();

/** A Python 3 that has Pillow and NumPy (Debian: python3-pil, python3-numpy), if any. */
const pillowPython = ["python3", "/usr/bin/python3"].find((python) => {
  try {
    const check = new Deno.Command(python, { args: ["-c", "import PIL, numpy"], stderr: "null" });
    return check.outputSync().success;
  } catch {
    return false;
  }
});

interface LabFile {
  images: Uint8Array;
  labels: Float32Array;
  files: string[];
  patientIds: string[];
}

async function readLab(path: string): Promise<LabFile> {
  const file = await openHdf5(path);
  try {
    return {
      images: requireDataset(file, path, "image").value as Uint8Array,
      labels: requireDataset(file, path, "label").value as Float32Array,
      files: requireDataset(file, path, "file").value as string[],
      patientIds: requireDataset(file, path, "patient_id").value as string[],
    };
  } finally {
    file.close();
  }
}

/** Pixels of each stored file, by name. */
function pixelsByFile(lab: LabFile, size: number): Map<string, Uint8Array> {
  const pixels = size * size;
  return new Map(
    lab.files.map((name, i) => [name, lab.images.subarray(i * pixels, (i + 1) * pixels)]),
  );
}

const HEADER = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender," +
  "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]";

/** The fixture CSV; comments give each line's number and what it tests. */
const FIXTURE_CSV = [
  HEADER, // 1
  "00000001_000.png,Pneumothorax,0,1,,,PA,8,8,,", // 2: 8-bit gray with a pattern
  '00000002_000.png,No Finding,0,2,,,"PA, erect",8,8,,', // 3: RGBA; a quoted comma
  '00000003_000.png,Effusion,0,3,,,"PA', // 4: 16-bit; a field over two lines
  'portable",8,8,,', // 5
  '00000004_000.png,"Effusion|Pneumothorax",0,4,,,,8,8,,', // 6: palette
  "00000004_001.png,No Finding,1,4,,,,8,8,,", // 7: 8-bit gray, same patient
  "00000005_000.png,Pneumothorax,0,5,,,,8,8,,", // 8: gray + alpha
  "00000006_000.png,Mass,0,6,,,,8,8,,", // 9: 4-bit gray, in a subfolder
  "00000007_000.png,No Finding,0,7,,,,8,8,,", // 10: image missing
  "00000008_000.png,No Finding,0", // 11: too few fields
  ",No Finding,0,9,,,,8,8,,", // 12: empty Image Index
  "00000002_000.png,No Finding,0,2,,,,8,8,,", // 13: duplicate of line 3
  "00000010_000.png,No Finding,0,10,,,,8,8,,", // 14: not a PNG inside
  "../00000011_000.png,No Finding,0,11,,,,8,8,,", // 15: a path, not a file name
  "", // 16: blank
  "00000012_000.png,,0,12,,,,8,8,,", // 17: empty Finding Labels
  '00000001_000.png,Pneumothorax,0,1,,,"PA', // 18: duplicate of line 2, over two lines
  'again",8,8,,', // 19
].join("\n") + "\n";

const EXPECTED_SKIPPED: [number, RegExp][] = [
  [11, /has 3 fields, the header has 11/],
  [12, /empty 'Image Index'/],
  [13, /duplicate of line 3/],
  [14, /cannot decode as PNG/],
  [15, /not a PNG file name/],
  [17, /empty 'Finding Labels'/],
  [18, /duplicate of line 2/],
];

const SIDE = 8;
const SIZE = 4;
const PATTERN = Array.from({ length: SIDE * SIDE }, (_, i) => (i * 29 + 3) % 256);

function uniform<T extends Uint8Array | Uint16Array>(array: T, values: number[]): T {
  for (let i = 0; i < array.length; i++) array[i] = values[i % values.length];
  return array;
}

/** The fixture images, and the 4x4 gray each should become (computed here by plain means). */
const FIXTURE_IMAGES: { path: string; image: ImageData; expected: number[] }[] = [
  {
    path: "00000001_000.png",
    image: { width: SIDE, height: SIDE, data: Uint8Array.from(PATTERN), channels: 1 },
    expected: Array.from({ length: SIZE * SIZE }, (_, t) => {
      const [by, bx] = [Math.floor(t / SIZE) * 2, (t % SIZE) * 2];
      const block = [0, 1, SIDE, SIDE + 1].map((d) => PATTERN[by * SIDE + bx + d]);
      return Math.round(block.reduce((a, b) => a + b) / 4);
    }),
  },
  {
    path: "00000002_000.png",
    image: {
      width: SIDE,
      height: SIDE,
      data: uniform(new Uint8Array(256), [200, 100, 50, 0]),
      channels: 4,
    },
    expected: Array(16).fill(Math.round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)),
  },
  {
    path: "00000003_000.png",
    image: {
      width: SIDE,
      height: SIDE,
      data: uniform(new Uint16Array(64), [40000]),
      channels: 1,
      depth: 16,
    },
    expected: Array(16).fill(Math.round((40000 * 255) / 65535)),
  },
  {
    path: "00000004_000.png",
    image: {
      width: SIDE,
      height: SIDE,
      data: uniform(new Uint8Array(64), [1]),
      channels: 1,
      depth: 8,
      palette: [[255, 0, 0], [10, 20, 30]],
    },
    expected: Array(16).fill(Math.round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)),
  },
  {
    path: "00000004_001.png",
    image: { width: SIDE, height: SIDE, data: uniform(new Uint8Array(64), [77]), channels: 1 },
    expected: Array(16).fill(77),
  },
  {
    path: "00000005_000.png",
    image: { width: SIDE, height: SIDE, data: uniform(new Uint8Array(128), [90, 0]), channels: 2 },
    expected: Array(16).fill(90),
  },
  {
    path: "sub/00000006_000.png",
    image: {
      width: SIDE,
      height: SIDE,
      data: uniform(new Uint8Array(32), [0xaa]),
      channels: 1,
      depth: 4,
    },
    expected: Array(16).fill(Math.round((10 * 255) / 15)),
  },
];

/** Writes the fixture (images, one non-PNG, the CSV) to a temporary folder and runs `test`. */
async function withFixture(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "nih_test_" });
  try {
    await Deno.mkdir(`${dir}/images/sub`, { recursive: true });
    for (const { path, image } of FIXTURE_IMAGES) {
      await Deno.writeFile(`${dir}/images/${path}`, encode(image));
    }
    await Deno.writeTextFile(`${dir}/images/00000010_000.png`, "<html>not a png</html>");
    await Deno.writeTextFile(`${dir}/labels.csv`, FIXTURE_CSV);
    await test(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function fixtureOptions(dir: string, extra: Partial<NihImportOptions> = {}): NihImportOptions {
  return {
    imagesDir: `${dir}/images`,
    labelsCsv: `${dir}/labels.csv`,
    outDir: `${dir}/out`,
    imageSize: SIZE,
    testFraction: 0.5,
    negativesPerPositive: Infinity,
    workers: 0,
    progress: false,
    ...extra,
  };
}

function assertPatientDisjoint(train: LabFile, test: LabFile): void {
  const trainPatients = new Set(train.patientIds);
  const shared = test.patientIds.filter((id) => trainPatients.has(id));
  assert.deepEqual(shared, [], "no patient in both files");
}

Deno.test("importNih() imports gray, RGBA, 16-bit, palette, gray+alpha and 4-bit PNGs", async () => {
  await withFixture(async (dir) => {
    const report = await importNih(fixtureOptions(dir));
    const train = await readLab(report.train.path);
    const test = await readLab(report.test.path);
    assert.equal(report.rows, 15);
    assert.deepEqual(report.available, { positives: 3, negatives: 5 });
    assert.equal(report.train.images + report.test.images, FIXTURE_IMAGES.length);
    assert.equal(report.train.positives + report.test.positives, 3);
    assert.ok(report.train.images > 0 && report.test.images > 0);
    assertPatientDisjoint(train, test);
    const stored = new Map([...pixelsByFile(train, SIZE), ...pixelsByFile(test, SIZE)]);
    for (const { path, expected } of FIXTURE_IMAGES) {
      const name = path.split("/").at(-1)!;
      assert.deepEqual([...stored.get(name)!], expected, name);
    }
    for (const lab of [train, test]) {
      lab.files.forEach((name, i) => {
        assert.equal(lab.patientIds[i], String(Number(name.slice(0, 8))), `patient of ${name}`);
        const positive = ["00000001_000.png", "00000004_000.png", "00000005_000.png"].includes(
          name,
        );
        assert.deepEqual(
          [...lab.labels.subarray(2 * i, 2 * i + 2)],
          positive ? [0, 1] : [1, 0],
          name,
        );
      });
    }
  });
});

Deno.test("importNih() skips malformed rows with their CSV lines, and counts missing images", async () => {
  await withFixture(async (dir) => {
    const report = await importNih(fixtureOptions(dir));
    assert.deepEqual(report.skipped.map((row) => row.line), EXPECTED_SKIPPED.map(([line]) => line));
    report.skipped.forEach((row, i) =>
      assert.match(row.reason, EXPECTED_SKIPPED[i][1], `line ${row.line}`)
    );
    assert.deepEqual(report.missing, ["00000007_000.png"]);
    const undecodable = report.skipped.find((row) => row.line === 14)!;
    assert.equal(undecodable.file, "00000010_000.png");
    assert.doesNotMatch(
      undecodable.reason,
      /images\/00000010_000\.png/,
      "the path is not repeated",
    );
    const text = describeNihImport(report, 2);
    assert.match(text, /1 images named in the CSV are not under .*images: 00000007_000\.png$/m);
    assert.match(text, /skipped 7:/);
    assert.match(text, /line 11 \(00000008_000\.png\): has 3 fields/);
    assert.match(text, /\.\.\. and 5 more/);
  });
});

Deno.test("importNih() gives the same files with and without worker threads, for one seed", async () => {
  await withFixture(async (dir) => {
    const first = await importNih(fixtureOptions(dir, { seed: 7, outDir: `${dir}/a` }));
    const second = await importNih(
      fixtureOptions(dir, { seed: 7, outDir: `${dir}/b`, workers: 2 }),
    );
    assert.equal(second.workers, 2);
    for (const split of ["train", "test"] as const) {
      const a = await readLab(first[split].path);
      const b = await readLab(second[split].path);
      assert.deepEqual(b.files, a.files);
      assert.deepEqual(b.images, a.images);
    }
  });
});

Deno.test("importNih() samples negativesPerPositive negatives per positive", async () => {
  await withFixture(async (dir) => {
    const report = await importNih(fixtureOptions(dir, { negativesPerPositive: 1 }));
    const positives = report.train.positives + report.test.positives;
    const stored = report.train.images + report.test.images;
    const undecodable = report.skipped.filter((row) => /cannot decode/.test(row.reason)).length;
    assert.equal(positives, 3);
    assert.equal(stored - positives + undecodable, 3, "3 negatives drawn for 3 positives");
  });
});

Deno.test("importNih() draws a progress bar over the selected images", async () => {
  await withFixture(async (dir) => {
    const lines: string[] = [];
    let total = -1;
    const progress = (count: number): ProgressBar => {
      total = count;
      const bar = { update: () => {}, done: () => lines.push(`done at ${count}`) };
      return bar;
    };
    await importNih(fixtureOptions(dir, { progress }));
    assert.equal(total, 8);
    assert.deepEqual(lines, ["done at 8"]);
  });
});

Deno.test("importNih() names the CSV and the column when a required column is missing", async () => {
  await withFixture(async (dir) => {
    const csv = `${dir}/no_patient.csv`;
    await Deno.writeTextFile(csv, "Image Index,Finding Labels\n00000001_000.png,Pneumothorax\n");
    await assert.rejects(
      importNih(fixtureOptions(dir, { labelsCsv: csv })),
      (error) =>
        error instanceof DataFileError && error.message.startsWith(csv) &&
        error.message.includes("missing column 'Patient ID'"),
    );
  });
});

Deno.test("importNih() rejects a missing CSV or folder, an unclosed quote and bad options", async () => {
  await withFixture(async (dir) => {
    await assert.rejects(
      importNih(fixtureOptions(dir, { labelsCsv: `${dir}/none.csv` })),
      (error) =>
        error instanceof DataFileError && /none\.csv: label CSV not found/.test(error.message),
    );
    await assert.rejects(
      importNih(fixtureOptions(dir, { imagesDir: `${dir}/nowhere` })),
      (error) =>
        error instanceof LabError && /images folder not found: .*nowhere/.test(error.message),
    );
    const broken = `${dir}/broken.csv`;
    await Deno.writeTextFile(broken, `${HEADER}\n"00000001_000.png,Pneumothorax,0,1\n`);
    await assert.rejects(
      importNih(fixtureOptions(dir, { labelsCsv: broken })),
      (error) => error instanceof DataFileError && /broken\.csv: not valid CSV/.test(error.message),
    );
    await assert.rejects(importNih(fixtureOptions(dir, { testFraction: 1 })), UsageError);
    await assert.rejects(importNih(fixtureOptions(dir, { negativesPerPositive: -1 })), UsageError);
  });
});

Deno.test({
  name: "importNih() imports all 302 sample images, 50 positives, split by patient",
  ignore: !hasSample,
  async fn(t) {
    const out = await Deno.makeTempDir({ prefix: "nih_sample_" });
    try {
      const report = await importNih({
        imagesDir: `${SAMPLE_DIR}images`,
        labelsCsv: SAMPLE_CSV,
        outDir: out,
        negativesPerPositive: Infinity,
        progress: false,
      });
      console.log(
        `  302 images: ${report.seconds.toFixed(1)} s, ${
          report.imagesPerSecond.toFixed(1)
        } images/s, ` +
          `${report.workers} workers`,
      );
      const train = await readLab(report.train.path);
      const test = await readLab(report.test.path);

      await t.step("all rows in, 50 positives", () => {
        assert.deepEqual(report.skipped, []);
        assert.equal(report.train.images + report.test.images, 302);
        assert.equal(report.train.positives + report.test.positives, 50);
        assert.equal(train.files.length + test.files.length, 302);
        assert.equal(new Set([...train.files, ...test.files]).size, 302);
      });

      await t.step("patient-disjoint, with patient_id and file as in the CSV", () => {
        assertPatientDisjoint(train, test);
        const csvPatient = new Map(
          Deno.readTextFileSync(SAMPLE_CSV).trim().split("\n").slice(1)
            .map((line) => line.split(","))
            .map((fields) => [fields[0], fields[3]]),
        );
        for (const lab of [train, test]) {
          lab.files.forEach((name, i) =>
            assert.equal(lab.patientIds[i], csvPatient.get(name), name)
          );
        }
        assert.equal(new Set([...train.patientIds, ...test.patientIds]).size, 291);
      });

      await t.step({
        name: "pixels within 1 gray level of Pillow + NumPy 4x4 means of the originals",
        ignore: pillowPython === undefined,
        async fn() {
          const stored = new Map([...pixelsByFile(train, 256), ...pixelsByFile(test, 256)]);
          const names = [...stored.keys()];
          const reference = `${out}/reference.f32`;
          const script = [
            "import sys, json, numpy as np",
            "from PIL import Image",
            "names, folder, out = json.loads(sys.stdin.read()), sys.argv[1], sys.argv[2]",
            "with open(out, 'wb') as f:",
            "    for name in names:",
            "        a = np.asarray(Image.open(folder + name).convert('L'), dtype=np.float64)",
            "        h, w = a.shape",
            "        f.write(a.reshape(256, h // 256, 256, w // 256).mean(axis=(1, 3)).astype('<f4').tobytes())",
          ].join("\n");
          const python = new Deno.Command(pillowPython!, {
            args: ["-c", script, `${SAMPLE_DIR}images/`, reference],
            stdin: "piped",
          }).spawn();
          const writer = python.stdin.getWriter();
          await writer.write(new TextEncoder().encode(JSON.stringify(names)));
          await writer.close();
          assert.ok((await python.status).success, "the Pillow reference ran");
          const means = new Float32Array((await Deno.readFile(reference)).buffer);
          let worst = 0;
          names.forEach((name, k) => {
            const pixels = stored.get(name)!;
            for (let i = 0; i < pixels.length; i++) {
              worst = Math.max(worst, Math.abs(pixels[i] - means[k * pixels.length + i]));
            }
          });
          console.log(`  largest difference from the reference: ${worst.toFixed(3)} gray levels`);
          assert.ok(worst <= 1, `largest difference ${worst} gray levels`);
        },
      });
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

const FULL_LABELS = new URL(
  "../../../shared/data/nih-labels/Data_Entry_2017_v2020.csv.gz",
  import.meta.url,
).pathname;
const hasFullLabels = (() => {
  try {
    return Deno.statSync(FULL_LABELS).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "importNih() with the full 112,120-row label file and few images reports the missing in one line",
  ignore: !hasFullLabels || !hasSample,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nih_full_" });
    try {
      const csv = `${dir}/Data_Entry_2017_v2020.csv`;
      const gunzip = new DecompressionStream("gzip");
      const text = await new Response(
        (await Deno.open(FULL_LABELS)).readable.pipeThrough(gunzip),
      ).text();
      await Deno.writeTextFile(csv, text);
      const rows = text.trim().split("\n").length - 1;
      const sampleFiles = Deno.readTextFileSync(SAMPLE_CSV).trim().split("\n").slice(1)
        .map((line) => line.split(",")[0]);
      const present = new Set(sampleFiles.slice(0, 40));
      await Deno.mkdir(`${dir}/images`);
      for (const name of present) {
        await Deno.copyFile(`${SAMPLE_DIR}images/${name}`, `${dir}/images/${name}`);
      }
      const report = await importNih({
        imagesDir: `${dir}/images`,
        labelsCsv: csv,
        outDir: `${dir}/out`,
        negativesPerPositive: Infinity,
        progress: false,
        workers: 0,
      });
      const found = report.train.images + report.test.images;
      console.log(`  ${rows} rows, ${found} imported, ${report.missing.length} missing`);
      assert.equal(report.rows, rows);
      assert.equal(found, present.size);
      assert.equal(report.missing.length, rows - present.size - report.skipped.length);
      const description = describeNihImport(report);
      const lines = description.split("\n");
      assert.ok(lines.length <= 16, `${lines.length} lines:\n${description}`);
      const missingLines = lines.filter((line) => line.includes("not under"));
      assert.equal(missingLines.length, 1);
      assert.match(
        missingLines[0],
        new RegExp(
          `${report.missing.length} images named in the CSV are not under .*: ` +
            `${report.missing[0].replace(".", "\\.")}, .*\\(${report.missing.length - 5} more\\)$`,
        ),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

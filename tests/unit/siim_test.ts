import assert from "node:assert/strict";
import { openHdf5, optionalDataset, requireDataset } from "../../lib/data/lab_files.ts";
import { describeSiimImport, importSiim, readSiimRows } from "../../lib/data/siim.ts";
import { DataFileError, UsageError } from "../../lib/core/errors.ts";
import type { ImportReport } from "../../lib/data/import_common.ts";
import {
  fixtureDicomPath,
  type FixtureImage,
  pickImages,
  readReference,
  SIIM_SAMPLE_DICOM,
  siimSkipReason,
  unpackRleCsv,
  writeFixtureDicoms,
} from "../fixtures/siim.ts";

if (siimSkipReason) console.log(`SIIM importer tests skipped: ${siimSkipReason}`);

const SIZE = 256;
const PIXELS = SIZE * SIZE;
const SAMPLE_UID = SIIM_SAMPLE_DICOM.split("/").at(-1)!.replace(/\.dcm$/, "");

interface LabFile {
  images: Uint8Array;
  masks?: Uint8Array;
  labels: Float32Array;
  files: string[];
  patientIds: string[];
}

async function readLab(path: string): Promise<LabFile> {
  const file = await openHdf5(path);
  try {
    return {
      images: requireDataset(file, path, "image").value as Uint8Array,
      masks: optionalDataset(file, "mask")?.value as Uint8Array | undefined,
      labels: requireDataset(file, path, "label").value as Float32Array,
      files: requireDataset(file, path, "file").value as string[],
      patientIds: requireDataset(file, path, "patient_id").value as string[],
    };
  } finally {
    file.close();
  }
}

/** Each stored image of both files, by its `file` (SOP Instance UID). */
async function storedByUid(report: ImportReport) {
  const stored = new Map<
    string,
    { image: Uint8Array; mask: Uint8Array; positive: boolean; patient: string; split: string }
  >();
  for (const split of ["train", "test"] as const) {
    const lab = await readLab(report[split].path);
    assert.ok(lab.masks, `${split} has a mask dataset`);
    lab.files.forEach((uid, i) =>
      stored.set(uid, {
        image: lab.images.subarray(i * PIXELS, (i + 1) * PIXELS),
        mask: lab.masks!.subarray(i * PIXELS, (i + 1) * PIXELS),
        positive: lab.labels[2 * i + 1] === 1,
        patient: lab.patientIds[i],
        split,
      })
    );
  }
  return stored;
}

/** The fixture: real CSV rows, DICOMs of every kind the importer reads. */
interface Fixture {
  dir: string;
  csv: string;
  rows: Map<string, string[]>;
  images: FixtureImage[];
}

let fixture: Promise<Fixture> | undefined;

/** Writes the shared fixture once (pydicom takes a few seconds), removed when the tests end. */
function sharedFixture(): Promise<Fixture> {
  fixture ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "siim_test_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const { path: csv, rows } = await unpackRleCsv(dir);
    const picked = pickImages(rows, { single: 3, several: 3, negative: 4 });
    assert.equal(picked.negative[0], SAMPLE_UID, "the sample is the CSV's first image");
    const [s1, s2, s3] = picked.single;
    const [m1, m2, m3] = picked.several;
    const [n0, n1, n2, n3] = picked.negative;
    const nested = "1.2.276.0.7230010.3.1.2.8323329/1.2.276.0.7230010.3.1.3.8323329";
    const images: FixtureImage[] = [
      { uid: s1, patient: "p1", syntax: "jpeg", photometric: "MONOCHROME2", subdir: nested },
      { uid: s2, patient: "p2", syntax: "explicit", photometric: "MONOCHROME1", shift: 40 },
      {
        uid: s3,
        patient: "p3",
        syntax: "implicit",
        photometric: "MONOCHROME2",
        bits: 12,
        slope: 2,
        intercept: -100,
        shift: 80,
      },
      { uid: m1, patient: "p4", syntax: "jpeg", photometric: "MONOCHROME1", shift: 120 },
      {
        uid: m2,
        patient: "p5",
        syntax: "implicit",
        photometric: "MONOCHROME2",
        bits: 16,
        signed: true,
        shift: 160,
      },
      { uid: m3, patient: "p1", syntax: "explicit", photometric: "MONOCHROME2", shift: 200 },
      { uid: n0, patient: "p6", syntax: "jpeg", photometric: "MONOCHROME2", copy: true },
      {
        uid: n1,
        patient: "p7",
        syntax: "explicit",
        photometric: "MONOCHROME1",
        bits: 12,
        shift: 240,
      },
      { uid: n2, patient: "p8", syntax: "implicit", photometric: "MONOCHROME2", shift: 280 },
      { uid: n3, patient: "p9", syntax: "jpeg", photometric: "MONOCHROME2", shift: 320 },
    ];
    await writeFixtureDicoms(dir, images, csv);
    return { dir, csv, rows, images };
  })();
  return fixture;
}

Deno.test({
  name: "importSiim() stores every kind of DICOM with pixels and masks matching pydicom and NumPy",
  ignore: siimSkipReason !== undefined,
  async fn(t) {
    const { dir, csv, rows, images } = await sharedFixture();
    const report = await importSiim({
      imagesDir: `${dir}/dicom`,
      rleCsv: csv,
      outDir: `${dir}/out`,
      negativesPerPositive: Infinity,
      testFraction: 0.3,
      workers: 0,
      progress: false,
    });
    const stored = await storedByUid(report);

    await t.step("every image in, labelled by its CSV rows, with its DICOM's patient", () => {
      assert.deepEqual(report.skipped, []);
      assert.equal(report.train.images + report.test.images, images.length);
      for (const image of images) {
        const got = stored.get(image.uid);
        assert.ok(got, `${image.uid} stored`);
        const positive = rows.get(image.uid)!.some((encoded) => encoded !== "-1");
        assert.equal(got.positive, positive, image.uid);
        assert.equal(
          got.patient,
          image.copy ? "16d7f894-55d7-4d95-8957-d18987f0e981" : image.patient,
        );
      }
    });

    await t.step("split by patient: p1's two images in one file", () => {
      const trainPatients = new Set(
        [...stored.values()].filter((s) => s.split === "train")
          .map((s) => s.patient),
      );
      const testPatients = [...stored.values()].filter((s) => s.split === "test")
        .map((s) => s.patient);
      assert.deepEqual(testPatients.filter((p) => trainPatients.has(p)), []);
      assert.ok(report.train.positives > 0 && report.test.positives > 0);
    });

    await t.step("masks equal the NumPy decode of the CSV rows, pixel for pixel", async () => {
      let lesionPixels = 0;
      for (const image of images) {
        const reference = await readReference(dir, image.uid);
        assert.deepEqual(stored.get(image.uid)!.mask, reference.mask, image.uid);
        lesionPixels += reference.mask.reduce((sum, v) => sum + v, 0);
      }
      assert.ok(lesionPixels > 0, "the positives' masks are not empty");
    });

    await t.step(
      "pixels within rounding of pydicom's decode (JPEG: within one level)",
      async () => {
        for (const image of images) {
          const reference = await readReference(dir, image.uid);
          const pixels = stored.get(image.uid)!.image;
          let worst = 0;
          for (let i = 0; i < PIXELS; i++) {
            worst = Math.max(worst, Math.abs(pixels[i] - reference.image[i]));
          }
          // Uncompressed: exact up to rounding the 4x4 mean. JPEG: jpeg-js and libjpeg may round
          // their inverse DCT one level apart on a pixel, as two conforming decoders may.
          const bound = image.syntax === "jpeg" ? 1 : 0.5 + 1e-4;
          assert.ok(worst <= bound, `${image.uid} (${image.syntax}): ${worst} levels off`);
        }
      },
    );

    await t.step("the real CSV's 12,954 rows: the absent images in one summary line", () => {
      const csvImages = rows.size;
      assert.equal(report.rows, 12954);
      assert.equal(report.missing.length, csvImages - images.length);
      const text = describeSiimImport(report);
      const lines = text.split("\n");
      assert.equal(lines.length, 4, text);
      assert.match(
        lines[3],
        new RegExp(
          `^  ${csvImages - images.length} images named in the CSV are not under .*dicom: ` +
            `${report.missing[0].replaceAll(".", "\\.")}, .* \\(${
              csvImages - images.length - 5
            } more\\)$`,
        ),
      );
    });

    await t.step("the same files with 2 decoding workers", async () => {
      const parallel = await importSiim({
        imagesDir: `${dir}/dicom`,
        rleCsv: csv,
        outDir: `${dir}/out2`,
        negativesPerPositive: Infinity,
        testFraction: 0.3,
        workers: 2,
        progress: false,
      });
      assert.equal(parallel.workers, 2);
      for (const split of ["train", "test"] as const) {
        const a = await readLab(report[split].path);
        const b = await readLab(parallel[split].path);
        assert.deepEqual(b.files, a.files);
        assert.deepEqual(b.images, a.images);
        assert.deepEqual(b.masks, a.masks);
      }
    });
  },
});

Deno.test({
  name: "importSiim() samples negatives per positive, seeded",
  ignore: siimSkipReason !== undefined,
  async fn() {
    const { dir, csv } = await sharedFixture();
    const options = {
      imagesDir: `${dir}/dicom`,
      rleCsv: csv,
      negativesPerPositive: 0.5,
      testFraction: 0.3,
      workers: 0,
      progress: false as const,
    };
    const first = await importSiim({ ...options, outDir: `${dir}/ratio_a`, seed: 5 });
    const second = await importSiim({ ...options, outDir: `${dir}/ratio_b`, seed: 5 });
    const positives = first.train.positives + first.test.positives;
    const total = first.train.images + first.test.images;
    assert.equal(positives, first.available.positives);
    assert.equal(total - positives, Math.round(0.5 * positives));
    for (const split of ["train", "test"] as const) {
      assert.deepEqual(
        (await readLab(second[split].path)).files,
        (await readLab(first[split].path)).files,
      );
    }
  },
});

Deno.test({
  name: "importSiim() reports each broken input in one line and imports the rest",
  ignore: siimSkipReason !== undefined,
  async fn() {
    const { rows, csv: realCsv } = await sharedFixture();
    const dir = await Deno.makeTempDir({ prefix: "siim_broken_" });
    try {
      const picked = pickImages(rows, { single: 3, several: 1, negative: 9 });
      const [good1, good2, good3] = picked.single;
      const [, neg1, neg2, truncatedJpeg, truncatedRaw, noPixels, notDicom, noPatient] =
        picked.negative;
      const unlisted = "1.2.826.0.1.3680043.8.498.999";
      const images: FixtureImage[] = [
        { uid: good1, patient: "a", syntax: "jpeg", photometric: "MONOCHROME2" },
        { uid: good2, patient: "b", syntax: "explicit", photometric: "MONOCHROME2" },
        { uid: good3, patient: "c", syntax: "implicit", photometric: "MONOCHROME2" },
        { uid: picked.several[0], patient: "d", syntax: "jpeg", photometric: "MONOCHROME2" },
        { uid: neg1, patient: "e", syntax: "jpeg", photometric: "MONOCHROME2" },
        { uid: neg2, patient: "f", syntax: "explicit", photometric: "MONOCHROME2" },
        { uid: truncatedJpeg, patient: "g", syntax: "jpeg", photometric: "MONOCHROME2" },
        { uid: truncatedRaw, patient: "h", syntax: "explicit", photometric: "MONOCHROME2" },
        {
          uid: noPixels,
          patient: "i",
          syntax: "explicit",
          photometric: "MONOCHROME2",
          nopixels: true,
        },
        { uid: unlisted, patient: "j", syntax: "jpeg", photometric: "MONOCHROME2", subdir: "x/y" },
        { uid: noPatient, patient: "", syntax: "explicit", photometric: "MONOCHROME2" },
      ];
      const header = "ImageId, EncodedPixels";
      const line = (uid: string) => rows.get(uid)!.map((encoded) => `${uid}, ${encoded}`);
      const csvLines = [
        header, // 1
        ...line(good1), // 2
        ...line(good2), // 3
        ...line(good3), // 4
        `${good3}, 12 7 x`, // 5: bad row of a good image: the image goes too
        ...line(neg1), // 6
        ...line(neg2), // 7
        ...line(truncatedJpeg), // 8
        ...line(truncatedRaw), // 9
        ...line(noPixels), // 10
        ...line(notDicom), // 11
        "1.2.3.4, 5 6, 7", // 12: three fields
        ...line(noPatient), // 13
        ...line(picked.several[0]), // 14..
      ];
      const csv = `${dir}/train-rle.csv`;
      await Deno.writeTextFile(csv, csvLines.join("\n") + "\n");
      await writeFixtureDicoms(dir, images, realCsv);
      for (const uid of [truncatedJpeg, truncatedRaw]) {
        const path = fixtureDicomPath(dir, images.find((image) => image.uid === uid)!);
        const bytes = await Deno.readFile(path);
        await Deno.writeFile(path, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      }
      await Deno.writeTextFile(
        `${dir}/dicom/${notDicom}.dcm`,
        `<html><body>${"not a DICOM file ".repeat(20)}</body></html>\n`,
      );

      const report = await importSiim({
        imagesDir: `${dir}/dicom`,
        rleCsv: csv,
        outDir: `${dir}/out`,
        negativesPerPositive: Infinity,
        testFraction: 0.4,
        workers: 0,
        progress: false,
      });
      const text = describeSiimImport(report, 20);
      console.log(text);
      const stored = await storedByUid(report);
      assert.deepEqual(
        [...stored.keys()].sort(),
        [good1, good2, picked.several[0], neg1, neg2].sort(),
        text,
      );
      const expected: [string, RegExp][] = [
        [
          `line 5 (${good3})`,
          /EncodedPixels holds 'x', not a non-negative integer; its image is left out/,
        ],
        [`line 8 (`, /truncated/],
        [
          `line 9 (`,
          /cannot parse the DICOM data set \(truncated or damaged\?\): .*buffer overrun/,
        ],
        [`line 10 (`, /has no pixel data \(7FE0,0010\)/],
        [`line 11 (`, /not a DICOM file \(no 'DICM' marker at byte 128\)/],
        [`line 12 (1.2.3.4)`, /has 3 fields, the header has 2/],
        [`line 13 (`, /has no Patient ID \(0010,0020\), which the split by patient needs/],
        [`x/y/${unlisted}.dcm`, /no row in the CSV names it/],
      ];
      const reported = text.split("\n").filter((l) => l.startsWith("    "));
      assert.equal(reported.length, expected.length, text);
      expected.forEach(([where, why], i) => {
        assert.ok(reported[i].includes(where), `${where} in:\n${text}`);
        assert.match(reported[i], why);
      });
      assert.equal(report.missing.length, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "readSiimRows() unites an image's rows and parses every row of SIIM's real CSV",
  ignore: siimSkipReason !== undefined,
  async fn() {
    const { csv, rows } = await sharedFixture();
    const read = await readSiimRows(csv);
    assert.deepEqual(read.skipped, []);
    assert.equal(read.count, 12954);
    assert.equal(read.entries.length, rows.size);
    const several = read.entries.filter((entry) => entry.runs.length > 1);
    assert.ok(several.length > 0);
    for (const entry of several.slice(0, 20)) {
      assert.equal(entry.runs.length, rows.get(entry.imageId)!.length);
      assert.ok(entry.positive);
    }
    const negatives = read.entries.filter((entry) => !entry.positive);
    assert.ok(negatives.every((entry) => entry.runs.length === 0));
    const positives = read.entries.length - negatives.length;
    console.log(`  ${read.entries.length} images, ${positives} with a pneumothorax`);
  },
});

Deno.test("importSiim() names a missing CSV, a missing column and bad options", async () => {
  const dir = await Deno.makeTempDir({ prefix: "siim_options_" });
  try {
    await Deno.mkdir(`${dir}/dicom`);
    const base = { imagesDir: `${dir}/dicom`, outDir: `${dir}/out`, progress: false as const };
    await assert.rejects(
      importSiim({ ...base, rleCsv: `${dir}/none.csv` }),
      (error) =>
        error instanceof DataFileError && /none\.csv: RLE CSV not found/.test(error.message),
    );
    const wrong = `${dir}/wrong.csv`;
    await Deno.writeTextFile(wrong, "Image Index,Finding Labels\na.png,Pneumothorax\n");
    await assert.rejects(
      importSiim({ ...base, rleCsv: wrong }),
      (error) =>
        error instanceof DataFileError && error.message.includes("missing column 'ImageId'"),
    );
    const empty = `${dir}/empty.csv`;
    await Deno.writeTextFile(empty, "ImageId, EncodedPixels\n1.2.3, -1\n");
    await assert.rejects(
      importSiim({ ...base, rleCsv: empty, workers: 1.5 }),
      (error) =>
        error instanceof UsageError &&
        /workers must be an integer >= 0, got 1.5/.test(error.message),
    );
    await assert.rejects(
      importSiim({ ...base, rleCsv: empty }),
      /no image with a pneumothorax mask has its film under/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

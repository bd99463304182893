import assert from "node:assert/strict";
import { join } from "node:path";
import { openHdf5, requireDataset } from "../../lib/data/lab_files.ts";
import { describeSiimImport, importSiim } from "../../lib/data/siim.ts";
import { PYTHON, pythonHas } from "../support/python.ts";

const hasPillow = pythonHas("PIL", "numpy");
if (!hasPillow) console.log(`SIIM film tests skipped: ${PYTHON} lacks Pillow or NumPy`);

const PIXELS = 256 * 256;
/** The films the fixture writes that the import must store (four positives, two negatives). */
const STORED = [
  "1.2.840.1.1",
  "1.2.840.1.2",
  "1.2.840.1.3",
  "1.2.840.1.4",
  "1.2.840.1.5",
  "1.2.840.1.6",
];
/**
 * How far a stored pixel may be from Pillow's: PNG is lossless; jpeg-js rounds its inverse DCT
 * differently from libjpeg (one level), and upsamples a colour JPEG's chroma without libjpeg's
 * smoothing, which moves a few pixels of the colour film by a level more.
 */
const TOLERANCE: Record<string, { worst: number; mean: number }> = {
  "1.2.840.1.1": { worst: 1, mean: 0.5 },
  "1.2.840.1.2": { worst: 0, mean: 0 },
  "1.2.840.1.3": { worst: 3, mean: 0.5 },
  "1.2.840.1.4": { worst: 1, mean: 0.5 },
  "1.2.840.1.5": { worst: 0, mean: 0 },
  "1.2.840.1.6": { worst: 1, mean: 0.5 },
};

async function writeFixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "siim_films_" });
  const script = new URL("../fixtures/siim_films.py", import.meta.url).pathname;
  const result = await new Deno.Command(PYTHON, { args: [script, dir] }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
  return dir;
}

async function storedFilms(paths: string[]) {
  const stored = new Map<string, { image: Uint8Array; mask: Uint8Array; patient: string }>();
  for (const path of paths) {
    const file = await openHdf5(path);
    try {
      const images = requireDataset(file, path, "image").value as Uint8Array;
      const masks = requireDataset(file, path, "mask").value as Uint8Array;
      const ids = requireDataset(file, path, "file").value as string[];
      const patients = requireDataset(file, path, "patient_id").value as string[];
      ids.forEach((id, i) =>
        stored.set(id, {
          image: images.slice(i * PIXELS, (i + 1) * PIXELS),
          mask: masks.slice(i * PIXELS, (i + 1) * PIXELS),
          patient: patients[i],
        })
      );
    } finally {
      file.close();
    }
  }
  return stored;
}

Deno.test({
  name: "importSiim() reads PNG and JPEG films named by ImageId at any depth, as Pillow does",
  ignore: !hasPillow,
  async fn(t) {
    const dir = await writeFixture();
    try {
      const report = await importSiim({
        imagesDir: join(dir, "films"),
        rleCsv: join(dir, "train-rle.csv"),
        outDir: join(dir, "out"),
        negativesPerPositive: Infinity,
        testFraction: 0.3,
        workers: 1,
        progress: false,
      });
      const stored = await storedFilms([report.train.path, report.test.path]);

      await t.step("every readable film stored, each its own patient", () => {
        assert.deepEqual([...stored.keys()].sort(), STORED);
        for (const [id, film] of stored) assert.equal(film.patient, id);
      });

      await t.step(
        "pixels as Pillow decodes them: PNG exactly, JPEG within jpeg-js's rounding",
        async () => {
          for (const id of STORED) {
            const reference = await Deno.readFile(join(dir, "ref", `${id}.image`));
            const got = stored.get(id)!.image;
            let worst = 0;
            let total = 0;
            for (let p = 0; p < PIXELS; p++) {
              const off = Math.abs(got[p] - reference[p]);
              worst = Math.max(worst, off);
              total += off;
            }
            assert.ok(worst <= TOLERANCE[id].worst, `${id}: off by ${worst}`);
            assert.ok(
              total / PIXELS <= TOLERANCE[id].mean,
              `${id}: off by ${total / PIXELS} on average`,
            );
          }
        },
      );

      await t.step("masks equal NumPy's decode of the CSV rows", async () => {
        for (const id of STORED) {
          const reference = await Deno.readFile(join(dir, "ref", `${id}.mask`));
          assert.deepEqual(stored.get(id)!.mask, reference, id);
        }
      });

      await t.step(
        "a truncated JPEG, a film without a row and a row without a film: one line each",
        () => {
          const text = describeSiimImport(report);
          const lines = text.split("\n");
          const truncated = lines.filter((line) => line.includes("1.2.840.1.7.jpg"));
          assert.equal(truncated.length, 1, text);
          assert.match(truncated[0], /truncated/);
          const unlisted = lines.filter((line) => line.includes("1.2.840.1.8.png"));
          assert.equal(unlisted.length, 1, text);
          assert.match(unlisted[0], /no row in the CSV/);
          const missing = lines.filter((line) => line.includes("1.2.840.1.9"));
          assert.equal(missing.length, 1, text);
          assert.match(missing[0], /named in the CSV are not under/);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

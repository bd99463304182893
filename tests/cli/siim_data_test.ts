import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import { readLabFile, TEST_FILE } from "../../lib/data/dataset.ts";
import { imageAt } from "../../lib/data/schema.ts";
import { MASK_COLOR } from "../../lib/figures/overlay.ts";
import { PANEL_GAP } from "../../lib/figures/cam.ts";
import { runTask } from "../support/run_task.ts";
import {
  type FixtureImage,
  pickImages,
  siimSkipReason,
  unpackRleCsv,
  writeFixtureDicoms,
} from "../fixtures/siim.ts";

if (siimSkipReason) console.log(`SIIM task tests skipped: ${siimSkipReason}`);

const CHECKPOINT = join(LAB_ROOT, "checkpoints", "pretrained");

Deno.test({
  name: "deno task data --source siim writes files with masks that evaluate and cam measure",
  ignore: siimSkipReason !== undefined,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "siim_cli_" });
    try {
      const { path: csv, rows } = await unpackRleCsv(dir);
      const picked = pickImages(rows, { single: 4, several: 4, negative: 9 });
      const syntaxes = ["jpeg", "explicit", "implicit"] as const;
      const images: FixtureImage[] = [
        ...picked.single,
        ...picked.several,
        ...picked.negative.slice(1),
      ]
        .map((uid, i) => ({
          uid,
          patient: `patient-${i}`,
          syntax: syntaxes[i % 3],
          photometric: i % 4 === 0 ? "MONOCHROME1" : "MONOCHROME2",
          shift: 61 * i,
          subdir: `study-${i % 3}/series-${i % 2}`,
        }));
      await writeFixtureDicoms(dir, images, csv);
      const out = join(dir, "lab");

      await t.step("data: the files, the source, one line for the absent images", async () => {
        const made = await runTask("data", [
          "--source",
          "siim",
          "--images",
          join(dir, "dicom"),
          "--rle",
          csv,
          "--out",
          out,
          "--test-fraction",
          "0.5",
          "--negatives-per-positive",
          "all",
        ], LAB_ROOT);
        assert.equal(made.code, 0, made.stderr);
        assert.match(made.stdout, /^REAL DATA: built from SIIM-ACR Pneumothorax Segmentation/);
        assert.match(made.stderr, /SIIM import: 16 images from 12954 CSV rows/);
        const absent = made.stderr.split("\n").filter((line) => line.includes("not under"));
        assert.equal(absent.length, 1, made.stderr);
        assert.match(absent[0], new RegExp(`^  ${rows.size - 16} images named in the CSV`));
        const record = JSON.parse(await Deno.readTextFile(join(out, "SOURCE.json")));
        assert.equal(record.source, "siim");
        assert.equal(record.details.missing, rows.size - 16);
      });

      const test = await readLabFile(join(out, TEST_FILE));
      assert.ok(test.masks, "the test file has masks");
      const positives = [...test.labels].filter((label) => label === 1).length;

      await t.step("evaluate: the pointing game and the energy inside, on real masks", async () => {
        const evaluated = await runTask("evaluate", [
          "--checkpoint",
          CHECKPOINT,
          "--data",
          out,
          "--json",
        ], LAB_ROOT);
        assert.equal(evaluated.code, 0, evaluated.stderr);
        const report = JSON.parse(evaluated.stdout);
        assert.equal(report.n, test.count);
        assert.equal(report.positives, positives);
        assert.equal(typeof report.pointingGame, "number");
        assert.ok(report.pointingGame >= 0 && report.pointingGame <= 1);
        assert.equal(typeof report.energyInside, "number");
        console.log(
          `  pointing game ${report.pointingGame.toFixed(3)}, energy inside ` +
            `${report.energyInside.toFixed(3)}, on ${positives} positives`,
        );
      });

      await t.step("cam: the lesion's outline drawn on the mask's border", async () => {
        const index = [...test.labels].indexOf(1);
        const png = join(dir, "cam.png");
        const drawn = await runTask("cam", [
          "--checkpoint",
          CHECKPOINT,
          "--data",
          out,
          "--index",
          String(index),
          "--out",
          png,
        ], LAB_ROOT);
        assert.equal(drawn.code, 0, drawn.stderr);
        assert.match(drawn.stdout, /(hits|misses) the lesion, \d+% of the positive map inside it/);
        const picture = decode(await Deno.readFile(png));
        const size = test.imageSize;
        const mask = imageAt({ images: test.masks!, imageSize: size }, index);
        const left = size + PANEL_GAP;
        let outline = 0;
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const at = (y * picture.width + left + x) * picture.channels;
            const rgb = [0, 1, 2].map((c) => picture.data[at + c]);
            if (rgb.every((value, c) => value === MASK_COLOR[c])) {
              outline++;
              assert.equal(mask[y * size + x], 1, `outline pixel (${x}, ${y}) is in the lesion`);
            }
          }
        }
        assert.ok(outline > 10, `${outline} outline pixels`);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

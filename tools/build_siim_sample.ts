/**
 * Builds the SIIM-ACR films shipped in `samples/siim/` (see lib/data/siim_sample.ts) from a
 * folder of SIIM films named by ImageId (DICOM, PNG or JPEG, as `../shared/data/siim-real` holds
 * them), its table (`labels.csv`: file, image_id, pneumothorax, lesions, side, mask_fraction, age,
 * sex, near_duplicate_group, source_repo, source_commit, source_path, sha256) and SIIM's
 * run-length masks (`train-rle.csv`, gzipped or not).
 *
 * Each film is decoded and area-downscaled to 256x256 by the SIIM importer's own code
 * (`readSiimImage`), its mask downscaled so that any covered area survives, and both written as
 * 8-bit gray PNGs (masks 0/255). Each film is also compared, by pixels, with every film of the NIH
 * sample (`samples/nih`): a correlation of their 64x64 thumbnails above {@link MATCH_CORRELATION}
 * marks the same patient's picture (`nih_match`), which the lab keeps out of anything trained on.
 *
 * The maintainer's command:
 *
 * ```sh
 * deno run -A tools/build_siim_sample.ts --source ../shared/data/siim-real \
 *   --rle ../shared/data/siim-sample/train-rle.csv.gz
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { type CommandSpec, parseCommand, requiredFlag, runMain } from "../cli/args.ts";
import { IMAGE_SIZE } from "../lib/data/schema.ts";
import { LabError } from "../lib/core/errors.ts";
import { encodePng } from "../lib/core/png.ts";
import { readTable } from "../lib/data/real_sample.ts";
import { loadRealSample } from "../lib/data/real_sample.ts";
import { readSiimRows } from "../lib/data/siim.ts";
import { readSiimImage } from "../lib/data/siim_image.ts";
import {
  SIIM_SAMPLE_COLUMNS,
  SIIM_SAMPLE_CSV,
  SIIM_SAMPLE_DIR,
  SIIM_SOURCE_COLUMNS,
} from "../lib/data/siim_sample.ts";
import { areaResize } from "../lib/data/xray_png.ts";

/** Thumbnails this much alike (Pearson correlation) show the same patient's film. */
const MATCH_CORRELATION = 0.94;
/** Side of the thumbnails compared. */
const THUMBNAIL = 64;

const SPEC: CommandSpec = {
  name: "build-siim-sample",
  summary: "Build samples/siim/ (256x256 gray PNGs of the films and masks, labels.csv) from " +
    "SIIM-ACR films, their table and SIIM's run-length masks.",
  flags: {
    source: {
      type: "string",
      help: `Folder with the films and their table (${SIIM_SOURCE_COLUMNS.join(",")}).`,
    },
    rle: { type: "string", help: "SIIM's train-rle.csv (or .csv.gz)." },
    out: { type: "string", default: SIIM_SAMPLE_DIR, help: "Folder of the shipped films." },
  },
};

/** A CSV field, quoted when it holds a comma, a quote or a line break. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** A thumbnail standardised to mean 0 and norm 1, so that a dot product is a correlation. */
function thumbnail(image: Uint8Array): Float64Array {
  const small = areaResize(
    { width: IMAGE_SIZE, height: IMAGE_SIZE, data: image, maxValue: 255 },
    THUMBNAIL,
  );
  const mean = small.reduce((sum, v) => sum + v, 0) / small.length;
  const centred = Float64Array.from(small, (v) => v - mean);
  const norm = Math.sqrt(centred.reduce((sum, v) => sum + v * v, 0)) || 1;
  return centred.map((v) => v / norm);
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

async function main(): Promise<void> {
  const args = parseCommand(SPEC, Deno.args);
  const source = requiredFlag(args, "source", "the folder of SIIM films and labels.csv");
  const rleCsv = requiredFlag(args, "rle", "SIIM's train-rle.csv");
  const out = String(args.values.out);
  const table = await readTable(join(source, "labels.csv"), SIIM_SOURCE_COLUMNS);
  const { entries } = await readSiimRows(rleCsv);
  const runsOf = new Map(entries.map((entry) => [entry.imageId, entry]));
  const nih = await loadRealSample();
  const pixels = IMAGE_SIZE * IMAGE_SIZE;
  const nihThumbs = nih.files.map((_, i) =>
    thumbnail(nih.images.subarray(i * pixels, (i + 1) * pixels))
  );
  await Deno.mkdir(join(out, "images"), { recursive: true });
  await Deno.mkdir(join(out, "masks"), { recursive: true });
  const lines = [SIIM_SAMPLE_COLUMNS.join(",")];
  let matched = 0;
  for (const row of table) {
    const entry = runsOf.get(row.image_id);
    if (entry === undefined) throw new LabError(`${row.image_id}: no row in ${rleCsv}`);
    if (entry.positive !== (row.pneumothorax === "1")) {
      throw new LabError(`${row.image_id}: ${rleCsv} and labels.csv disagree on pneumothorax`);
    }
    const { image, mask } = await readSiimImage({
      path: join(source, row.file),
      imageId: row.image_id,
      runs: entry.runs,
      size: IMAGE_SIZE,
    });
    const file = `images/${row.image_id}.png`;
    const png = (data: Uint8Array) =>
      encodePng({ data, width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 });
    await Deno.writeFile(join(out, file), png(image));
    let maskFile = "";
    if (entry.positive) {
      maskFile = `masks/${row.image_id}.png`;
      await Deno.writeFile(join(out, maskFile), png(mask!.map((v) => v * 255)));
    }
    const thumb = thumbnail(image);
    let best = { file: "", correlation: -1 };
    nihThumbs.forEach((other, i) => {
      const correlation = dot(thumb, other);
      if (correlation > best.correlation) best = { file: nih.files[i], correlation };
    });
    const match = best.correlation > MATCH_CORRELATION;
    if (match) {
      matched++;
      console.log(`${row.image_id} shows ${best.file} (r = ${best.correlation.toFixed(4)})`);
    }
    const fields: Record<(typeof SIIM_SAMPLE_COLUMNS)[number], string> = {
      ...row,
      file,
      mask: maskFile,
      nih_match: match ? best.file : "",
      nih_correlation: match ? best.correlation.toFixed(4) : "",
    };
    lines.push(SIIM_SAMPLE_COLUMNS.map((column) => csvField(fields[column])).join(","));
  }
  await Deno.writeTextFile(join(out, SIIM_SAMPLE_CSV), lines.join("\n") + "\n");
  console.log(
    `wrote ${join(out, SIIM_SAMPLE_CSV)}, ${table.length} films and their masks under ` +
      `${out} (${matched} show a film of the NIH sample)`,
  );
}

if (import.meta.main) await runMain(main);

/**
 * Builds the real sample shipped in `samples/nih/` (see lib/data/real_sample.ts) from NIH
 * ChestX-ray14 PNGs: each image found under `--images` that has a row in the label CSV
 * (`--labels`, NIH's `Data_Entry_2017.csv` layout) is read as gray, area-downscaled to 256x256
 * by the NIH importer's code (lib/data/xray_png.ts) and written as an 8-bit gray PNG; the table
 * `sample.csv` gets NIH's labels and patient, and the device annotations of `--devices`.
 *
 * The annotations were made by looking at the images, so they live in their own CSV that a
 * rebuild reads and never writes. An image without an annotation stops the build before the
 * table is written (its PNG is written, so it can be looked at and annotated).
 *
 * The maintainer's command, from the 302-image NIH sample:
 *
 * ```sh
 * deno run -A tools/build_real_sample.ts --images ../shared/data/nih-sample/images \
 *   --labels ../shared/data/nih-sample/Data_Entry_sample.csv
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { type CommandSpec, parseCommand, requiredFlag, runMain } from "../cli/args.ts";
import { IMAGE_SIZE } from "../lib/data/schema.ts";
import { LabError } from "../lib/core/errors.ts";
import { indexImages, type NihRow, readNihRows } from "../lib/data/nih.ts";
import { encodePng } from "../lib/core/png.ts";
import {
  DEVICE_COLUMNS,
  parseVisibility,
  readTable,
  REAL_SAMPLE_COLUMNS,
  REAL_SAMPLE_CSV,
  REAL_SAMPLE_DEVICES_CSV,
  REAL_SAMPLE_DIR,
  REAL_SAMPLE_IMAGES,
  summarizeDevices,
  type Visibility,
} from "../lib/data/real_sample.ts";
import { createXrayPngPool } from "../lib/data/xray_png.ts";

const SPEC: CommandSpec = {
  name: "build-real-sample",
  summary: "Build samples/nih/ (256x256 gray PNGs and sample.csv) from NIH ChestX-ray14 PNGs, " +
    "their label CSV and the hand-made device annotations.",
  flags: {
    images: { type: "string", help: "Folder of NIH's PNGs (searched recursively)." },
    labels: {
      type: "string",
      help: "NIH's label CSV in the Data_Entry_2017.csv layout (Image Index, Finding Labels, " +
        "Patient ID).",
    },
    devices: {
      type: "string",
      default: join(REAL_SAMPLE_DIR, REAL_SAMPLE_DEVICES_CSV),
      help: `Device annotations: ${DEVICE_COLUMNS.join(",")}.`,
    },
    out: { type: "string", default: REAL_SAMPLE_DIR, help: "Folder of the sample." },
  },
};

/** One annotated image. */
interface Devices {
  chestTube: Visibility;
  otherDevice: Visibility;
  notes: string;
}

/** A CSV field, quoted when it holds a comma, a quote or a line break. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

async function readDevices(path: string): Promise<Map<string, Devices>> {
  const devices = new Map<string, Devices>();
  for (const row of await readTable(path, DEVICE_COLUMNS)) {
    devices.set(row.file, {
      chestTube: parseVisibility(row.chest_tube, path, `${row.file}: chest_tube`),
      otherDevice: parseVisibility(row.other_device, path, `${row.file}: other_device`),
      notes: row.notes,
    });
  }
  return devices;
}

/** Writes every image of `rows` as a 256x256 8-bit gray PNG in `folder`, a few at a time. */
async function writeImages(rows: (NihRow & { path: string })[], folder: string): Promise<void> {
  await Deno.mkdir(folder, { recursive: true });
  const pool = createXrayPngPool({ size: IMAGE_SIZE });
  let next = 0;
  const runner = async () => {
    while (next < rows.length) {
      const row = rows[next++];
      const data = await pool.read(row.path);
      const png = encodePng({ data, width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 });
      await Deno.writeFile(join(folder, row.file), png);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, 2 * pool.workers) }, runner));
  } finally {
    pool.close();
  }
}

/** Removes the PNGs of `folder` that are not in `keep`, so the folder matches the table. */
async function removeStale(folder: string, keep: Set<string>): Promise<number> {
  let removed = 0;
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile && entry.name.toLowerCase().endsWith(".png") && !keep.has(entry.name)) {
      await Deno.remove(join(folder, entry.name));
      removed++;
    }
  }
  return removed;
}

async function main(): Promise<void> {
  const args = parseCommand(SPEC, Deno.args);
  const imagesDir = requiredFlag(args, "images", "the folder of NIH's PNGs");
  const labelsCsv = requiredFlag(args, "labels", "NIH's label CSV");
  const out = String(args.values.out);
  const devices = await readDevices(String(args.values.devices));
  const { rows, skipped } = await readNihRows(labelsCsv);
  for (const row of skipped) console.error(`${labelsCsv}: line ${row.line}: ${row.reason}`);
  const index = await indexImages(imagesDir);
  const present = rows.filter((row) => index.has(row.file))
    .map((row) => ({ ...row, path: index.get(row.file)! }))
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  if (present.length === 0) {
    throw new LabError(`no image under ${imagesDir} has a row in ${labelsCsv}`);
  }
  const folder = join(out, REAL_SAMPLE_IMAGES);
  await writeImages(present, folder);
  const removed = await removeStale(folder, new Set(present.map((row) => row.file)));
  const unannotated = present.filter((row) => !devices.has(row.file)).map((row) => row.file);
  if (unannotated.length > 0) {
    throw new LabError(
      `${unannotated.length} images have no row in ${args.values.devices} (look at them in ` +
        `${folder} and add ${DEVICE_COLUMNS.join(",")}): ${unannotated.slice(0, 5).join(", ")}` +
        (unannotated.length > 5 ? ", ..." : ""),
    );
  }
  const lines = [REAL_SAMPLE_COLUMNS.join(",")];
  for (const row of present) {
    const seen = devices.get(row.file)!;
    lines.push(
      [
        row.file,
        row.positive ? "1" : "0",
        row.patientId,
        row.findings,
        seen.chestTube,
        seen.otherDevice,
        summarizeDevices(seen.chestTube, seen.otherDevice),
        seen.notes,
      ].map(csvField).join(","),
    );
  }
  await Deno.writeTextFile(join(out, REAL_SAMPLE_CSV), lines.join("\n") + "\n");
  const positives = present.filter((row) => row.positive).length;
  const patients = new Set(present.map((row) => row.patientId)).size;
  console.log(
    `wrote ${join(out, REAL_SAMPLE_CSV)} and ${present.length} PNGs in ${folder} (${positives} ` +
      `pneumothorax, ${patients} patients${removed > 0 ? `; removed ${removed} stale PNGs` : ""})`,
  );
}

if (import.meta.main) await runMain(main);

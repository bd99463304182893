/**
 * Where does a model's map peak on real lesions, and is it on a chest tube? Draws contact sheets
 * of the held-out SIIM lesion half-films (the test split of `deno task data --source siim-sample
 * --design halves`): each half-film with the radiologists' outline in cyan and the map's peak as
 * a red ring of the pointing game's 15-pixel radius, 24 to a page in reading order, and writes a
 * CSV of the peaks (`index, file, x, y, hit`). A person then looks at each page and notes which
 * peaks sit on a tube or drain: no annotation of tubes exists for these films, so the count is
 * made by eye, and the pages stay beside it (docs/real_films.md).
 *
 * ```sh
 * deno run -A tools/map_peaks_sheet.ts --checkpoint checkpoints/pretrained --out docs/peaks
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { type CommandSpec, parseCommand, runMain } from "../cli/args.ts";
import { selectBackend } from "../lib/backends/backend.ts";
import { loadCheckpoint } from "../lib/model/checkpoint/mod.ts";
import { halfFilmImages, loadSiimSample, splitSiimSample } from "../lib/data/siim_sample.ts";
import { localizeDataset, POINTING_TOLERANCE } from "../lib/evaluation/localization.ts";
import { MASK_COLOR, maskOutline } from "../lib/figures/overlay.ts";
import { writePng } from "../lib/core/png.ts";

/** Tiles per row and per page. */
const COLUMNS = 6;
const PER_PAGE = 24;
/** Gap between tiles, in pixels. */
const GAP = 6;
const PEAK_COLOR: [number, number, number] = [255, 40, 40];

const SPEC: CommandSpec = {
  name: "map-peaks-sheet",
  summary: "Contact sheets of the map peaks of a checkpoint on the held-out SIIM lesions.",
  flags: {
    checkpoint: { type: "string", default: "checkpoints/pretrained", help: "Checkpoint." },
    out: { type: "string", default: "docs/peaks", help: "Folder for the pages and peaks.csv." },
  },
};

async function main(): Promise<void> {
  const args = parseCommand(SPEC, Deno.args);
  const out = String(args.values.out);
  await selectBackend();
  const { model } = await loadCheckpoint(String(args.values.checkpoint));
  const films = await loadSiimSample();
  const held = halfFilmImages(films, splitSiimSample(films).test);
  const size = films.imageSize;
  const pixels = size * size;
  const lesions = [...held.labels.keys()].filter((i) => held.labels[i] === 1);
  const report = await localizeDataset(model, { ...held, imageSize: size });
  model.dispose();
  if (report === null) throw new Error("no held-out lesion to point at");
  const peaks = new Map(report.perImage.map((peak) => [peak.index, peak]));
  await Deno.mkdir(out, { recursive: true });
  const rows = ["tile,file,x,y,hit"];
  for (let page = 0; page * PER_PAGE < lesions.length; page++) {
    const tiles = lesions.slice(page * PER_PAGE, (page + 1) * PER_PAGE);
    const width = COLUMNS * (size + GAP);
    const height = Math.ceil(tiles.length / COLUMNS) * (size + GAP);
    const data = new Uint8Array(width * height * 3).fill(255);
    tiles.forEach((index, k) => {
      const left = (k % COLUMNS) * (size + GAP);
      const top = Math.floor(k / COLUMNS) * (size + GAP);
      const image = held.images.subarray(index * pixels, (index + 1) * pixels);
      const outline = maskOutline({
        data: held.masks.subarray(index * pixels, (index + 1) * pixels),
        width: size,
        height: size,
      });
      const peak = peaks.get(index)!;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const at = ((top + y) * width + left + x) * 3;
          const ring = Math.abs(Math.hypot(x - peak.x, y - peak.y) - POINTING_TOLERANCE) < 1.5;
          const color = ring ? PEAK_COLOR : outline[y * size + x] ? MASK_COLOR : undefined;
          if (color) data.set(color, at);
          else data.fill(image[y * size + x], at, at + 3);
        }
      }
      rows.push(
        [`${page + 1}.${k + 1}`, held.files[index], peak.x, peak.y, peak.hit ? 1 : 0].join(","),
      );
    });
    await writePng(join(out, `page${page + 1}.png`), { data, width, height, channels: 3 });
  }
  await Deno.writeTextFile(join(out, "peaks.csv"), rows.join("\n") + "\n");
  console.log(
    `${lesions.length} held-out lesions, pointing game ${report.pointingGame.toFixed(3)} ` +
      `(chance ${report.chance.toFixed(3)}); pages and peaks.csv in ${out}`,
  );
}

if (import.meta.main) await runMain(main);

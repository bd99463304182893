/**
 * `deno run -A cli/contact_sheet.ts`: draws phantoms (positives outlined) beside real NIH
 * X-rays into one PNG, so anyone can judge the phantoms' realism at a glance.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CommandSpec, integerFlag, parseCommand, runMain } from "./args.ts";
import { generatePhantoms, PHANTOM_SIZE } from "../lib/phantom/generator.ts";
import { phantomContactSheet } from "../lib/figures/contact_sheet.ts";
import { writePng } from "../lib/core/png.ts";
import { readXrayPng } from "../lib/data/xray_png.ts";

const DEFAULT_REAL = fileURLToPath(new URL("../../shared/data/nih-sample/images", import.meta.url));

const SPEC: CommandSpec = {
  name: "contact-sheet",
  summary: "Draw generated phantoms (pneumothorax outlined in red) beside real NIH X-rays " +
    "into one PNG.",
  flags: {
    out: { type: "string", default: "docs/phantom_contact_sheet.png", help: "PNG to write." },
    seed: { type: "string", default: "0", help: "Phantom seed." },
    phantoms: { type: "string", default: "12", help: "Number of phantoms (4 per row)." },
    real: {
      type: "string",
      default: DEFAULT_REAL,
      help: "Folder of real X-ray PNGs, shown evenly spaced by name ('' for none).",
    },
    "real-count": { type: "string", default: "6", help: "Number of real X-rays (2 per row)." },
  },
};

/** `count` PNG files of `dir`, evenly spaced by name; none when `dir` is '' or missing. */
async function realImagePaths(dir: string, count: number): Promise<string[]> {
  if (dir === "") return [];
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.toLowerCase().endsWith(".png")) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      console.error(`no real images: ${dir} does not exist`);
      return [];
    }
    throw error;
  }
  names.sort();
  const step = names.length / Math.max(1, count);
  return names.slice(0, count).map((_, k) => join(dir, names[Math.floor((k + 0.5) * step)]));
}

/** Runs the task with the command-line arguments `argv`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  const seed = integerFlag(args, "seed", { min: 0 });
  const phantoms = await generatePhantoms(integerFlag(args, "phantoms"), { seed });
  const paths = await realImagePaths(String(args.values.real), integerFlag(args, "real-count"));
  const real = await Promise.all(paths.map((path) => readXrayPng(path, PHANTOM_SIZE)));
  const out = String(args.values.out);
  await writePng(out, phantomContactSheet(phantoms, real));
  console.log(`wrote ${out}: ${phantoms.labels.length} phantoms, ${real.length} real X-rays`);
}

if (import.meta.main) await runMain(() => main(Deno.args));

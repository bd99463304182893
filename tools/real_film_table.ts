/**
 * Prints the arms recorded by `tools/real_film_experiments.ts` (one JSON line each, default
 * docs/real_films.jsonl) as a markdown table, for docs/real_films.md: so the table is the log, not
 * numbers copied by hand.
 *
 * ```sh
 * deno run -A tools/real_film_table.ts docs/real_films.jsonl
 * ```
 *
 * @module
 */
import { runMain } from "../cli/args.ts";
import { LabError } from "../lib/core/errors.ts";

interface Auc {
  auc: number;
  ci95: [number, number];
}

interface Arm {
  name: string;
  design: string;
  width: number;
  steps: number;
  lr: number;
  augment: boolean;
  initFrom: string | null;
  lesionMaps?: number;
  ensemble?: string[] | null;
  trainImages: number;
  trainSeconds: number;
  nih: { whole: Auc; halves: Auc };
  siimHeldOut: {
    lesionHalfAbove: { n: number; share: number };
    pointingGame: number | null;
    halfFilmPointingGame?: number | null;
    halfFilmsLocalized: number;
  };
}

const auc = (value: Auc) =>
  `${value.auc.toFixed(3)} (${value.ci95[0].toFixed(2)}-${value.ci95[1].toFixed(2)})`;
const share = (value: number | null | undefined) => value == null ? "n/a" : value.toFixed(3);

async function main(): Promise<void> {
  const path = Deno.args[0] ?? "docs/real_films.jsonl";
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new LabError(`${path}: cannot read (${(error as Error).message})`);
  }
  const arms: Arm[] = text.trim().split("\n").map((line, i) => {
    try {
      return JSON.parse(line);
    } catch {
      throw new LabError(`${path}: line ${i + 1} is not JSON`);
    }
  });
  console.log(
    "| arm | design | width | steps | learning rate | aug. | lesion maps | init | training images | minutes | NIH AUC, film whole (95% CI) | NIH AUC, by halves (95% CI) | SIIM held out: lesion half above other | pointing game, whole film | pointing game, half-films |",
  );
  console.log(
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const arm of arms) {
    const held = arm.siimHeldOut;
    // An ensemble trains nothing: its line measures the checkpoints it names.
    const trained = arm.ensemble
      ? `${arm.design} | - | - | - | - | - | ensemble of ${arm.ensemble.length} | - | -`
      : `${arm.design} | ${arm.width} | ${arm.steps} | ${arm.lr} | ${
        arm.augment ? "yes" : "no"
      } | ${arm.lesionMaps ? arm.lesionMaps : "no"} | ${
        arm.initFrom ?? "none"
      } | ${arm.trainImages} | ${Math.round(arm.trainSeconds / 60)}`;
    console.log(
      `| ${arm.name} | ${trained} | ${auc(arm.nih.whole)} | ${auc(arm.nih.halves)} | ${
        share(held.lesionHalfAbove.share)
      } of ${held.lesionHalfAbove.n} | ${share(held.pointingGame)} | ${
        share(held.halfFilmPointingGame)
      } |`,
    );
  }
}

if (import.meta.main) await runMain(main);

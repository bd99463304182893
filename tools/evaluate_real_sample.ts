/**
 * Scores a checkpoint on every image of the real sample shipped in `samples/nih/` and prints, as
 * JSON, the ROC AUC with its 95% bootstrap interval (as `deno task evaluate` computes it), then
 * the AUC of the positives with a visible chest tube, and of those without, each against all the
 * negatives: the figures of the shipped model's card. `deno task evaluate` reads a data
 * folder's test file only, so it cannot score all 302 images at once, nor split them by device.
 *
 * ```sh
 * deno run -A tools/evaluate_real_sample.ts --checkpoint checkpoints/pretrained
 * ```
 *
 * @module
 */
import { type CommandSpec, parseCommand, runMain } from "../cli/args.ts";
import { selectBackend } from "../lib/backends/backend.ts";
import { loadCheckpoint } from "../lib/model/checkpoint/mod.ts";
import { evaluateModel, type Predictions } from "../lib/evaluation/evaluate.ts";
import { loadRealSample, type Visibility } from "../lib/data/real_sample.ts";
import { bootstrapAucInterval, rocAuc } from "../lib/evaluation/roc.ts";

const SPEC: CommandSpec = {
  name: "evaluate-real-sample",
  summary: "Score a checkpoint on all images of the real sample (samples/nih): AUC with its " +
    "95% bootstrap interval, overall and for positives with and without a chest tube.",
  flags: {
    checkpoint: {
      type: "string",
      default: "checkpoints/pretrained",
      help: "Checkpoint directory.",
    },
  },
};

/** The AUC of a subset of the images, with its interval and size. */
interface SubsetAuc {
  n: number;
  positives: number;
  auc: number;
  aucCi95: [number, number];
}

/**
 * The AUC of the positives whose chest tube annotation is `tube`, against every negative. The
 * bootstrap is stratified: with a handful of positives, plain resamples often hold none.
 */
function aucForTube(
  predictions: Predictions,
  chestTube: Visibility[],
  tube: Visibility,
): SubsetAuc | null {
  const keep = chestTube.map((seen, i) => predictions.labels[i] === 0 || seen === tube);
  const labels = predictions.labels.filter((_, i) => keep[i]);
  const scores = predictions.scores.filter((_, i) => keep[i]);
  const positives = labels.reduce((sum, label) => sum + label, 0);
  if (positives === 0) return null;
  const interval = bootstrapAucInterval(labels, scores, { seed: 0, stratified: true });
  return {
    n: labels.length,
    positives,
    auc: rocAuc(labels, scores),
    aucCi95: [interval.low, interval.high],
  };
}

async function main(): Promise<void> {
  const args = parseCommand(SPEC, Deno.args);
  const checkpoint = String(args.values.checkpoint);
  const backend = await selectBackend();
  const { model, manifest } = await loadCheckpoint(checkpoint);
  try {
    const sample = await loadRealSample();
    let predictions: Predictions | undefined;
    const report = await evaluateModel(model, sample, { onPredictions: (p) => predictions = p });
    console.log(JSON.stringify(
      {
        checkpoint,
        step: manifest.step,
        width: manifest.model.width,
        backendDescription: backend.description,
        ...report,
        positivesByChestTube: {
          yes: aucForTube(predictions!, sample.chestTube, "yes"),
          unclear: aucForTube(predictions!, sample.chestTube, "unclear"),
          no: aucForTube(predictions!, sample.chestTube, "no"),
        },
      },
      null,
      2,
    ));
  } finally {
    model.dispose();
  }
}

if (import.meta.main) await runMain(main);

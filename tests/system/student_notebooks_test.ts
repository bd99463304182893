/**
 * The student's side, in the real Deno kernel through Jupyter (fast mode): an untouched TODO
 * stops its notebook in one line that names it, the cells after it point back at it, and a
 * wrong answer fails its check cell with the grader's message and changes what the lab runs.
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  commandWorks,
  denoKernelDir,
  executeNotebook,
  type NotebookCell,
  printed,
} from "../support/jupyter.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "../support/solutions.ts";
import { readNotebook, toSourceLines, writeNotebook } from "../../lib/grading/ipynb.ts";

/** Runs a notebook to the end, errors and all; returns its cells by id. */
async function run(path: string, jupyterPath: string, outDir: string) {
  const cells = await executeNotebook(path, {
    cwd: join(LAB_ROOT, "notebooks"),
    jupyterPath,
    output: join(outDir, "executed.ipynb"),
    allowErrors: true,
  });
  return new Map(cells.map((cell) => [cell.id, cell]));
}

const errorOf = (cell?: NotebookCell) => cell?.outputs?.find((o) => o.output_type === "error");

Deno.test({
  name: "student notebooks in Jupyter: a TODO stops once and names itself; a wrong cost shows",
  ignore: !commandWorks("jupyter-nbconvert") || !HAS_SOLUTIONS,
  async fn(t) {
    const jupyterPath = await denoKernelDir();
    const outDir = await Deno.makeTempDir({ prefix: "lab-student-" });
    try {
      await t.step("the untouched 01: one line at the TODO, later errors point back", async () => {
        const cells = await run(
          join(LAB_ROOT, "notebooks", "01_dataset.ipynb"),
          jupyterPath,
          outDir,
        );
        assert.match(printed(cells.get("check-load")), /^FAIL load 0\/1: not answered/);
        const gap = errorOf(cells.get("load"));
        assert.equal(gap?.ename, "NotAnsweredError");
        assert.match(gap?.evalue ?? "", /the TODO 'load' \(loadDataset\) is not answered yet/);
        assert.equal(gap?.traceback?.length, 1, "one line, no stack frames");
        assert.doesNotMatch(gap?.traceback?.join("") ?? "", /\n\s+at /);
        const later = errorOf(cells.get("show"));
        assert.equal(later?.ename, "ReferenceError");
        assert.match(
          later?.traceback?.join("") ?? "",
          /follows from the unanswered TODO 'load' \(loadDataset\) above/,
        );
      });

      await t.step("a softmax-first cost in 02: its check fails and training uses it", async () => {
        const notebook = await readNotebook(join(SOLUTIONS, "02_training.ipynb"));
        const answer = notebook.cells.find((c) => c.metadata.lab?.question === "cost")!;
        answer.source = toSourceLines(
          `function computeCost(logits: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(labels, tf.softmax(logits)) as tf.Scalar;
}`,
        );
        // Beside the student notebooks, where the kernel finds deno.json and so "lab".
        const path = join(LAB_ROOT, "notebooks", `.test-${crypto.randomUUID()}-02_training.ipynb`);
        await writeNotebook(path, notebook);
        const cells = await run(path, jupyterPath, outDir).finally(() => Deno.remove(path));
        assert.match(
          printed(cells.get("check-cost")),
          /^FAIL cost 0\/2: .*that is the loss of the probabilities/,
        );
        assert.match(printed(cells.get("check-prediction")), /^PASS prediction 1\/1/);
        assert.match(printed(cells.get("sanity")), /cost of the three rows: 0\.7891/);
        assert.equal(errorOf(cells.get("train")), undefined, "training runs, on the wrong cost");
      });
    } finally {
      await Deno.remove(jupyterPath, { recursive: true });
      await Deno.remove(outDir, { recursive: true });
    }
  },
});

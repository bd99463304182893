/**
 * A check cell says what the grader will say: in the real Deno kernel (through Jupyter), an
 * answer that imports the lab's reference prints FAIL in its check cell with the grader's own
 * message, whether the import is in the answer cell or earlier, saved or only run; an honest
 * answer prints PASS. Each notebook is graded too, and the two must agree word for word. Without
 * Jupyter: a right answer the saved notebook does not hold yet fails, saying to save, and the
 * references are found behind an answer whatever their name.
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  commandWorks,
  denoKernelDir,
  executeNotebook,
  type NotebookCell as RunCell,
  printed,
} from "../support/jupyter.ts";
import { gradeNotebook } from "../../lib/grading/grader.ts";
import { checkAnswer } from "../../lib/grading/check.ts";
import { type Notebook, toSourceLines, writeNotebook } from "../../lib/grading/ipynb.ts";

const SETUP =
  'import * as tf from "@tensorflow/tfjs";\nimport { auc, check, rocCurve, type Roc } from "lab";';
const CHEAT_IMPORT = 'import { computeRoc as referenceRoc } from "../lib/grading/references.ts";';
const CHEAT = `function computeRoc(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): Roc {
  return referenceRoc(yTrue, yScore);
}`;
const HONEST = `function computeRoc(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): Roc {
  const { fpr, tpr } = rocCurve(yTrue, yScore);
  return { fpr, tpr, auroc: auc(fpr, tpr) };
}`;

/** A notebook: setup, the graded `roc` cell, its check, a check of the kernel only, an end. */
function notebook(setup: string, answer: string): Notebook {
  const cell = (id: string, source: string, question?: string) => ({
    id,
    cell_type: "code" as const,
    metadata: question ? { lab: { question } } : {},
    source: toSourceLines(source),
    outputs: [],
    execution_count: null,
  });
  return {
    cells: [
      cell("setup", setup),
      cell("q-roc", answer, "roc"),
      cell("check-roc", 'await check("roc");'),
      cell("check-live", 'await check("roc", { notebook: null });'),
      // The Deno kernel can send a last cell's output after it reports idle (see executeNotebook).
      cell("end", 'console.log("end");'),
    ],
    metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

const CASES: [string, Notebook, RegExp, RegExp][] = [
  [
    "an import of the reference in the answer cell",
    notebook(SETUP, `${CHEAT_IMPORT}\n${CHEAT}`),
    /^FAIL roc 0\/3: the answer cell uses an import statement; answers may not import anything/,
    /^FAIL roc 0\/3: the notebook imports the lab's reference computeRoc \(here 'referenceRoc'\)/,
  ],
  [
    "an import of the reference in an earlier cell",
    notebook(`${SETUP}\n${CHEAT_IMPORT}`, CHEAT),
    /^FAIL roc 0\/3: the notebook imports "\.\.\/lib\/grading\/references\.ts"; /,
    /^FAIL roc 0\/3: the notebook imports the lab's reference computeRoc/,
  ],
  ["an honest answer", notebook(SETUP, HONEST), /^PASS roc 3\/3: ok$/, /^PASS roc 3\/3: ok$/],
];

Deno.test({
  name: "a check cell in Jupyter prints the grader's verdict: FAIL for an imported reference",
  ignore: !commandWorks("jupyter-nbconvert"),
  async fn(t) {
    const jupyterPath = await denoKernelDir();
    const outDir = await Deno.makeTempDir({ prefix: "lab-check-cells-" });
    try {
      for (const [name, cells, saved, live] of CASES) {
        await t.step(name, async () => {
          // Beside the student notebooks, where the kernel finds deno.json and so "lab"; named
          // as notebook 04, as the check finds the saved notebook by its name.
          const path = join(LAB_ROOT, "notebooks", `.test-${crypto.randomUUID()}-04_roc.ipynb`);
          await writeNotebook(path, cells);
          try {
            const ran = await executeNotebook(path, {
              cwd: join(LAB_ROOT, "notebooks"),
              jupyterPath,
              output: join(outDir, "executed.ipynb"),
              allowErrors: true,
            });
            const byId = new Map(ran.map((cell: RunCell) => [cell.id, cell]));
            const checked = printed(byId.get("check-roc")).trim();
            assert.match(checked, saved);
            assert.match(printed(byId.get("check-live")).trim(), live);
            const graded = (await gradeNotebook(path)).questions[0];
            assert.equal(
              checked,
              `${graded.passed ? "PASS" : "FAIL"} roc ${graded.points}/3: ${graded.message}`,
              "the check cell and the grader say the same",
            );
          } finally {
            await Deno.remove(path);
          }
        });
      }
    } finally {
      await Deno.remove(jupyterPath, { recursive: true });
      await Deno.remove(outDir, { recursive: true });
    }
  },
});

Deno.test("checkAnswer() fails a right answer the saved notebook does not hold yet, saying to save", async () => {
  const { rocCurve, auc } = await import("../../lib/mod.ts");
  const computeRoc = (yTrue: number[], yScore: number[]) => {
    const { fpr, tpr } = rocCurve(yTrue, yScore);
    return { fpr, tpr, auroc: auc(fpr, tpr) };
  };
  const unsaved = await checkAnswer("roc", {
    answer: { computeRoc },
    notebook: join(LAB_ROOT, "notebooks", "04_roc.ipynb"),
  });
  assert.equal(unsaved.passed, false);
  assert.equal(
    unsaved.message,
    "not answered (the grader's verdict on 04_roc.ipynb as saved: save the notebook, then run " +
      "this check again)",
  );
  const kernelOnly = await checkAnswer("roc", { answer: { computeRoc }, notebook: null });
  assert.deepEqual([kernelOnly.passed, kernelOnly.points], [true, 3]);
});

Deno.test("checkAnswer() finds the lab's reference behind an answer, under any name", async () => {
  const { computeRoc: reference } = await import("../../lib/grading/references.ts");
  const direct = await checkAnswer("roc", { answer: { computeRoc: reference }, notebook: null });
  assert.match(
    direct.message,
    /^the notebook imports the lab's reference computeRoc \(here 'computeRoc'\)/,
  );
  const viaModule = await checkAnswer("roc", {
    answer: { computeRoc: { ...await import("../../lib/grading/references.ts") } },
    notebook: null,
  });
  assert.equal(viaModule.passed, false);
  const reaching = await checkAnswer("roc", {
    answer: { computeRoc: () => (0, eval)("1") },
    notebook: null,
  });
  assert.match(reaching.message, /^the answer cell uses eval; answers may not import anything/);
});

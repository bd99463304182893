/**
 * The grading flags refuse bad values in one line each, naming the flag and what it takes:
 * `grade --notebooks/--question/--visibility/--jobs` and `release --autograder`.
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runDeno } from "../support/run_task.ts";

const GRADE = join(LAB_ROOT, "cli", "grade.ts");
const RELEASE = join(LAB_ROOT, "cli", "release.ts");
const NOTEBOOKS = join(LAB_ROOT, "notebooks");

const CASES: [string[], string][] = [
  [
    [GRADE, NOTEBOOKS, "--notebooks", "4,7"],
    "error: --notebooks: '7' is not one of the lab's notebooks (01_dataset, 02_training, " +
    "03_restore, 04_roc, 05_cam, 06_learned)",
  ],
  [
    [GRADE, NOTEBOOKS, "--question", "auc"],
    "error: --question auc: the lab's questions are load, cost, prediction, restore, roc, " +
    "features, cam, class, upsample, folds, tube",
  ],
  [
    [GRADE, NOTEBOOKS, "--visibility", "soon"],
    "error: --visibility soon: expected one of visible, after_due_date, after_published, hidden",
  ],
  [[GRADE, NOTEBOOKS, "--jobs", "0"], "error: --jobs must be a positive whole number"],
  [
    [GRADE, join(NOTEBOOKS, "04_roc.ipynb"), "--question", "cam"],
    `error: ${join(NOTEBOOKS, "04_roc.ipynb")}: no notebook here asks 'cam'`,
  ],
  [[RELEASE, "--autograder", "bundle.txt"], "error: --autograder bundle.txt: name a .zip file"],
  [
    [RELEASE, "--autograder", "a.zip", "--handout", "class"],
    "error: --autograder and --handout are separate runs; give one",
  ],
];

Deno.test("grade and release refuse bad grading flags in one line that names the flag", async () => {
  for (const [args, line] of CASES) {
    const result = await runDeno(["run", "-A", ...args], { cwd: LAB_ROOT });
    assert.equal(result.code, 1, args.join(" "));
    assert.equal(result.stderr, `${line}\n`, args.join(" "));
  }
});

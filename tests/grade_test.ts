/**
 * Grading with `deno test`, for graders and LMSs: `deno test -A tests/grade_test.ts -- PATH`
 * grades a notebook or a folder of submissions, one test per student and notebook and one step
 * per question (pass or fail with the grader's message), so `--reporter=junit` or
 * `--reporter=tap` feeds an LMS or GitHub Classroom. Without PATH it grades
 * `notebooks/solutions` and expects full marks, as part of the suite.
 */
import assert from "node:assert/strict";
import { gradePath } from "../lib/grading/grader.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "./support/solutions.ts";

const [given] = Deno.args;
const target = given ?? (HAS_SOLUTIONS ? SOLUTIONS : undefined);

if (target === undefined) {
  Deno.test({
    name: "grade: no PATH given and no notebooks/solutions here (a handout): nothing to grade",
    ignore: true,
    fn() {},
  });
} else {
  const report = await gradePath(target);
  for (const notebook of report.notebooks) {
    const score = notebook.questions.reduce((sum, q) => sum + q.points, 0);
    const max = notebook.questions.reduce((sum, q) => sum + q.max, 0);
    Deno.test(`${notebook.student}: ${notebook.path} ${score}/${max}`, async (t) => {
      for (const q of notebook.questions) {
        await t.step(`${q.id} ${q.points}/${q.max}`, () => {
          assert.ok(q.passed, `${q.id}: ${q.message}`);
        });
      }
    });
  }
  if (given === undefined) {
    Deno.test("grade: the solution notebooks score full marks", () => {
      assert.equal(report.score, report.max);
    });
  }
}

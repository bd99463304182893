/**
 * Grading with `deno test`, for graders and LMSs: `deno test -A tests/grade_test.ts -- PATH
 * [NOTEBOOKS]` grades a notebook or a folder of submissions, one test per student and notebook
 * and one step per question (pass or fail with the grader's message), and a failing test for each
 * notebook of the assignment (all six, or NOTEBOOKS: `4,5`) a student did not hand in, so
 * `--reporter=junit` or `--reporter=tap` feeds an LMS. Without PATH it grades
 * `notebooks/solutions` and expects full marks, as part of the suite.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { gradePath } from "../lib/grading/grader.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "./support/solutions.ts";

const [given, assignment] = Deno.args;
const target = given ?? (HAS_SOLUTIONS ? SOLUTIONS : undefined);

if (target === undefined) {
  Deno.test({
    name: "grade: no PATH given and no notebooks/solutions here (a handout): nothing to grade",
    ignore: true,
    fn() {},
  });
} else {
  tf.enableProdMode(); // tfjs's banner on first use of its cpu backend is not for graders
  const report = await gradePath(target, { notebooks: assignment?.split(",") });
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
  for (const { student, missing } of report.students) {
    for (const name of missing) {
      Deno.test(`${student}: ${name} not handed in`, () => {
        assert.fail(`${student} did not hand in ${name}: each of its questions scores zero`);
      });
    }
  }
  if (given === undefined) {
    Deno.test("grade: the solution notebooks score full marks", () => {
      assert.equal(report.score, report.max);
    });
  }
}

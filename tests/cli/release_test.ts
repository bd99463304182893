/**
 * `deno task release --handout DIR`: the class's copy of the project holds the student
 * notebooks and no solutions, its own grader scores them unanswered, and its tests skip what
 * needs the solutions; bad folders are refused in one line.
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { writeHandout } from "../../cli/release.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { runDeno, type TaskResult } from "../support/run_task.ts";

const RELEASE = join(LAB_ROOT, "cli", "release.ts");
const NOTEBOOKS = ["01_dataset", "02_training", "03_restore", "04_roc", "05_cam", "06_learned"];

/**
 * Runs `deno` with `args` in `cwd`, as a user's shell there would (`deno task` keeps an
 * `INIT_CWD` it inherits, and this test may itself run under `deno task test`).
 */
function deno(args: string[], cwd: string): Promise<TaskResult> {
  return runDeno(args, { cwd, env: { INIT_CWD: cwd } });
}

Deno.test("a handout holds the student notebooks and no solutions; its grader finds nothing answered", async () => {
  const parent = await Deno.makeTempDir({ prefix: "lab-handout-" });
  try {
    const dir = join(parent, "class");
    const skipped: string[] = [];
    const handout = await writeHandout(LAB_ROOT, dir, { log: (line) => skipped.push(line) });
    assert.equal(handout.dir, dir);
    assert.ok(!existsSync(join(dir, "notebooks", "solutions")), "no notebooks/solutions/");
    assert.ok(handout.files.every((path) => !path.startsWith("notebooks/solutions/")));
    for (const name of NOTEBOOKS) {
      assert.ok(handout.files.includes(`notebooks/${name}.ipynb`), name);
      const text = await Deno.readTextFile(join(dir, "notebooks", `${name}.ipynb`));
      assert.doesNotMatch(text, /ANSWER BEGIN/, `${name} is the student version`);
    }
    for (const path of ["README.md", "deno.json", "deno.lock", "lib/mod.ts", "cli/lab.ts"]) {
      assert.ok(existsSync(join(dir, path)), path);
    }
    assert.ok(!existsSync(join(dir, ".git")), "no git history (it holds the solutions)");
    assert.ok(!existsSync(join(dir, "node_modules")), "untracked folders stay behind");
    assert.ok(!existsSync(join(dir, "data", "fast")), "untracked data stays behind");
    assert.deepEqual(skipped.filter((line) => !line.includes("deleted from the working")), []);

    const graded = await deno(["task", "grade", "notebooks", "--json"], dir);
    assert.equal(graded.code, 0, graded.stderr);
    const report = JSON.parse(graded.stdout.slice(graded.stdout.indexOf("{")));
    assert.equal(report.notebooks.length, NOTEBOOKS.length);
    assert.equal(report.score, 0);
    for (const notebook of report.notebooks) {
      for (const q of notebook.questions) {
        assert.match(q.message, /not answered/, `${notebook.path} ${q.id}: ${q.message}`);
      }
    }

    const tests = await deno(["test", "-A", "tests/system/notebooks_test.ts"], dir);
    assert.equal(tests.code, 0, tests.stdout + tests.stderr);
    assert.match(tests.stdout, /skipping the tests that need the answered notebooks: .* is absent/);
    assert.match(tests.stdout, /0 passed \| 0 failed \| 1 ignored/);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("release --handout refuses, in one line, a folder that is not empty or is inside notebooks/", async () => {
  const parent = await Deno.makeTempDir({ prefix: "lab-handout-" });
  try {
    await Deno.writeTextFile(join(parent, "notes.txt"), "mine");
    const full = await deno(["run", "-A", RELEASE, "--handout", parent], LAB_ROOT);
    assert.equal(full.code, 1);
    assert.equal(
      full.stderr,
      `error: --handout ${parent} exists and is not empty; choose a new or empty folder\n`,
    );
    const inside = join(LAB_ROOT, "notebooks", "handout");
    const nested = await deno(["run", "-A", RELEASE, "--handout", inside], LAB_ROOT);
    assert.equal(nested.code, 1);
    assert.match(
      nested.stderr,
      /^error: --handout .*notebooks\/handout is inside .*notebooks: Jupyter would list it/,
    );
    assert.equal(nested.stderr.trim().split("\n").length, 1, nested.stderr);
    assert.ok(!existsSync(inside), "nothing written");
    await assert.rejects(() => writeHandout(LAB_ROOT, join(LAB_ROOT, "notebooks")), UsageError);
    await assert.rejects(() => writeHandout(LAB_ROOT, LAB_ROOT), /holds the repository itself/);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

/**
 * `deno task release`: it never overwrites a student's answers (it refuses, or with `--force`
 * backs them up first). `--handout DIR`: the class's copy of the project holds the student
 * notebooks and no solutions, its own grader scores them unanswered, and its tests skip what
 * needs the solutions; bad folders are refused in one line.
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GRADER_REFERENCES, REFERENCES_STAND_IN, writeHandout } from "../../cli/release.ts";
import { QUESTIONS } from "../../lib/grading/questions.ts";
import { LabError, UsageError } from "../../lib/core/errors.ts";
import { releaseNotebooks } from "../../lib/grading/release.ts";
import { readNotebook, toSourceLines, writeNotebook } from "../../lib/grading/ipynb.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "../support/solutions.ts";
import { runDeno, type TaskResult } from "../support/run_task.ts";
import { denoKernelDir } from "../support/jupyter.ts";
import { writeFixtureLabFile } from "../fixtures/lab_files.ts";
import { TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";

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
    const references = await Deno.readTextFile(join(dir, "lib", "grading", "references.ts"));
    assert.match(references, /the reference answer is not in the handout/);
    assert.doesNotMatch(
      references,
      /new Set\(patientIds\)|masks\[index \* size|softmaxCrossEntropy|argMax|rocCurve\(|matMul|resizeBilinear|skip4/,
      "no answers",
    );
    assert.ok(!existsSync(join(dir, REFERENCES_STAND_IN)), "the stand-in only as references.ts");
    // Every graded function (the class question's answer is a constant, the library's own).
    const answerNames = Object.values(QUESTIONS).flat().flatMap((q) => q.names)
      .filter((name) => name !== "PNEUMOTHORAX_CLASS").join("|");
    const definesAnswer = new RegExp(`(function|const|let|var)\\s+(${answerNames})\\b`);
    for (const path of handout.files.filter((p) => /^(lib|cli|tools)\/.*\.ts$/.test(p))) {
      if (path === GRADER_REFERENCES) continue;
      const text = await Deno.readTextFile(join(dir, path));
      assert.doesNotMatch(text, definesAnswer, `${path} defines a graded answer`);
    }
    assert.ok(!existsSync(join(dir, "node_modules")), "untracked folders stay behind");
    assert.ok(!existsSync(join(dir, "data", "fast")), "untracked data stays behind");
    assert.deepEqual(skipped.filter((line) => !line.includes("deleted from the working")), []);

    // The README's first command, as written there, is the handout's first task: Deno installs
    // the npm packages (no node_modules yet) and prints none of it, only the lab's own lines.
    const readme = await Deno.readTextFile(join(dir, "README.md"));
    const opens = readme.match(/^npx -y deno@\S+ (task .*?\blab)\b/m);
    assert.ok(opens, "the README's command that opens the lab");
    const data = join(parent, "data");
    await Deno.mkdir(data);
    await writeFixtureLabFile(join(data, TRAIN_FILE), 4);
    await writeFixtureLabFile(join(data, TEST_FILE), 2);
    const jupyter = await denoKernelDir();
    const first = await runDeno([...opens[1].split(/\s+/), "--check", "--no-browser"], {
      cwd: dir,
      env: { INIT_CWD: dir, LAB_DATA_DIR: data, JUPYTER_PATH: jupyter },
    });
    await Deno.remove(jupyter, { recursive: true });
    const printed = first.stdout + first.stderr;
    assert.ok(existsSync(join(dir, "node_modules")), "the first task installed the packages");
    assert.doesNotMatch(printed, /^(Initialize|Download|Task) /m, "Deno's own lines");
    assert.ok(
      first.code === 0 || /^error: Jupyter is not installed/.test(first.stderr),
      printed,
    );

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

    // Without the references, the handout's grader still gives the solutions full marks.
    if (HAS_SOLUTIONS) {
      const solved = join(parent, "solved");
      await Deno.mkdir(solved);
      for (const name of ["02_training", "04_roc", "05_cam", "06_learned"]) {
        await Deno.copyFile(join(SOLUTIONS, `${name}.ipynb`), join(solved, `${name}.ipynb`));
      }
      const full = await deno(["task", "grade", solved, "--json"], dir);
      assert.equal(full.code, 0, full.stderr);
      const marks = JSON.parse(full.stdout.slice(full.stdout.indexOf("{")));
      const failed = marks.notebooks.flatMap((
        n: { questions: { id: string; passed: boolean; message: string }[] },
      ) => n.questions.filter((q) => !q.passed).map((q) => `${q.id}: ${q.message}`));
      assert.deepEqual(failed, []);
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

/** A lab root in a temp folder: the solutions, and the student notebooks released from them. */
async function labCopy(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "lab-release-" });
  await Deno.mkdir(join(root, "notebooks", "solutions"), { recursive: true });
  for (const name of NOTEBOOKS) {
    const from = join(LAB_ROOT, "notebooks", "solutions", `${name}.ipynb`);
    await Deno.copyFile(from, join(root, "notebooks", "solutions", `${name}.ipynb`));
  }
  await releaseNotebooks(root, { log: () => {} });
  return root;
}

/** Replaces the code of 04_roc's answer cell in the student notebook under `root`. */
async function answerRoc(root: string, code: string): Promise<string> {
  const path = join(root, "notebooks", "04_roc.ipynb");
  const notebook = await readNotebook(path);
  notebook.cells.find((c) => c.metadata.lab?.question === "roc")!.source = toSourceLines(code);
  await writeNotebook(path, notebook);
  return await Deno.readTextFile(path);
}

const ROC_ANSWER = "function computeRoc(a: number[], b: number[]) { return mine(a, b); }";

Deno.test(
  "releaseNotebooks() refuses to overwrite an answered notebook, names it, writes nothing",
  {
    ignore: !HAS_SOLUTIONS,
  },
  async () => {
    const root = await labCopy();
    try {
      const answered = await answerRoc(root, ROC_ANSWER);
      const cam = join(root, "notebooks", "05_cam.ipynb");
      await Deno.remove(cam);
      await assert.rejects(
        () => releaseNotebooks(root, { log: () => {} }),
        (error: Error) => {
          assert.ok(error instanceof LabError);
          assert.match(
            error.message,
            /^release would overwrite work in notebooks\/04_roc\.ipynb \(answer cell roc\): nothing was written\. To keep it, copy those notebooks out of notebooks\/ first, or run 'deno task release --force', which moves them to notebooks\/\.backup\/[0-9T-]+\/ before writing$/,
          );
          return true;
        },
      );
      assert.equal(await Deno.readTextFile(join(root, "notebooks", "04_roc.ipynb")), answered);
      assert.ok(!existsSync(cam), "not even the missing notebook was written");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);

Deno.test(
  "releaseNotebooks({ force }) moves answered notebooks to the backup it names, then writes",
  {
    ignore: !HAS_SOLUTIONS,
  },
  async () => {
    const root = await labCopy();
    try {
      const answered = await answerRoc(root, ROC_ANSWER);
      const path = join(root, "notebooks", "04_roc.ipynb");
      const notebook = await readNotebook(path);
      notebook.cells.push({ id: "mine", cell_type: "markdown", metadata: {}, source: ["notes"] });
      await writeNotebook(path, notebook);
      const withNotes = await Deno.readTextFile(path);
      const lines: string[] = [];
      const stamp = "2026-12-07T05-00-00";
      const first = await releaseNotebooks(root, { force: true, stamp, log: (l) => lines.push(l) });
      const backup = join(root, "notebooks", ".backup", stamp, "04_roc.ipynb");
      assert.deepEqual(first.movedTo, { [path]: backup });
      assert.equal(await Deno.readTextFile(backup), withNotes);
      assert.deepEqual(lines, [
        `moved notebooks/04_roc.ipynb (answer cell roc, added cell mine) to notebooks/.backup/${stamp}/04_roc.ipynb`,
        "wrote notebooks/04_roc.ipynb",
      ]);
      assert.doesNotMatch(await Deno.readTextFile(path), /mine\(a, b\)/);

      await answerRoc(root, ROC_ANSWER);
      const second = await releaseNotebooks(root, { force: true, stamp, log: () => {} });
      const next = join(root, "notebooks", ".backup", `${stamp}-2`, "04_roc.ipynb");
      assert.deepEqual(
        second.movedTo,
        { [path]: next },
        "a second backup never replaces the first",
      );
      assert.equal(await Deno.readTextFile(backup), withNotes);
      assert.equal(await Deno.readTextFile(next), answered);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);

Deno.test(
  "releaseNotebooks() rewrites freely what holds no work: outputs, other cells, a committed file",
  {
    ignore: !HAS_SOLUTIONS,
  },
  async () => {
    const root = await labCopy();
    try {
      const path = join(root, "notebooks", "04_roc.ipynb");
      const released = await Deno.readTextFile(path);
      const notebook = await readNotebook(path);
      for (const cell of notebook.cells) {
        if (cell.cell_type === "code") cell.outputs = [{ output_type: "stream", text: "run" }];
        if (cell.cell_type === "markdown") cell.source = ["an older release's words"];
      }
      await writeNotebook(path, notebook);
      const rewrote = await releaseNotebooks(root, { log: () => {} });
      assert.deepEqual(rewrote, { stale: [path], movedTo: {} });
      assert.equal(await Deno.readTextFile(path), released);

      await answerRoc(root, ROC_ANSWER);
      const git = (...args: string[]) =>
        new Deno.Command("git", { args, cwd: root, stdout: "null", stderr: "null" }).output();
      await git("init", "-q");
      await git("add", ".");
      await git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "answered");
      const committed = await releaseNotebooks(root, { log: () => {} });
      assert.deepEqual(committed.movedTo, {}, "git keeps the committed answers");
      assert.equal(await Deno.readTextFile(path), released);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);

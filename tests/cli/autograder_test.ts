/**
 * `deno task release --autograder FILE.zip`: Gradescope's bundle, unpacked by Python's own
 * zipfile into a folder laid out as Gradescope lays it (`source/`, `submission/`, `results/`),
 * grades a submission into `results/results.json` (one test per question, the grader's message
 * as output), cheats and missing notebooks included, with its scripts executable.
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "../../lib/grading/zip.ts";
import { readNotebook, toSourceLines, writeNotebook } from "../../lib/grading/ipynb.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "../support/solutions.ts";
import { runDeno } from "../support/run_task.ts";

const RELEASE = join(LAB_ROOT, "cli", "release.ts");

/** Unpacks `zip` into `dir` with Python's zipfile; returns each entry's Unix mode. */
async function unzip(zip: string, dir: string): Promise<Record<string, number>> {
  const script = `import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
z.extractall(sys.argv[2])
print(json.dumps({i.filename: i.external_attr >> 16 & 0o777 for i in z.infolist()}))`;
  const out = await new Deno.Command("python3", { args: ["-c", script, zip, dir] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Runs `run_autograder` as Gradescope does, from the root, with this deno first on PATH. */
async function runAutograder(root: string): Promise<Record<string, unknown>> {
  const bin = join(root, "bin");
  await Deno.mkdir(bin, { recursive: true });
  await Deno.symlink(Deno.execPath(), join(bin, "deno")).catch(() => {});
  await Deno.copyFile(join(root, "source", "run_autograder"), join(root, "run_autograder"));
  await Deno.chmod(join(root, "run_autograder"), 0o755);
  await Deno.remove(join(root, "results"), { recursive: true }).catch(() => {});
  await Deno.mkdir(join(root, "results"));
  const out = await new Deno.Command(join(root, "run_autograder"), {
    env: { AUTOGRADER_ROOT: root, PATH: `${bin}:${Deno.env.get("PATH")}`, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, log);
  return JSON.parse(await Deno.readTextFile(join(root, "results", "results.json")));
}

Deno.test("crc32() gives the standard check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test(
  "release --autograder writes a bundle that grades a Gradescope submission, one test per question",
  {
    ignore: !HAS_SOLUTIONS,
  },
  async () => {
    const parent = await Deno.makeTempDir({ prefix: "lab-autograder-" });
    try {
      const zip = join(parent, "autograder.zip");
      const made = await runDeno(
        [
          "run",
          "-A",
          RELEASE,
          "--autograder",
          "autograder.zip",
          "--notebooks",
          "4,05_cam",
          "--visibility",
          "after_published",
        ],
        { cwd: parent, env: { INIT_CWD: parent } },
      );
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, /grading 04_roc, 05_cam/);

      const again = await runDeno(["run", "-A", RELEASE, "--autograder", zip], { cwd: parent });
      assert.equal(again.code, 1);
      assert.equal(
        again.stderr,
        `error: --autograder ${zip} exists; choose another name, or add --force to replace it\n`,
      );

      const root = join(parent, "autograder");
      const modes = await unzip(zip, join(root, "source"));
      assert.equal(modes["setup.sh"], 0o755);
      assert.equal(modes["run_autograder"], 0o755);
      for (
        const path of [
          "lib/grading/grader.ts",
          "lib/grading/references.ts",
          "cli/grade.ts",
          "deno.lock",
        ]
      ) {
        assert.ok(path in modes, path);
      }
      assert.ok(!Object.keys(modes).some((p) => p.startsWith("notebooks/")), "no notebooks");
      const syntax = await new Deno.Command("bash", {
        args: ["-n", join(root, "source", "setup.sh")],
      })
        .output();
      assert.ok(syntax.success, "setup.sh parses");
      assert.match(
        await Deno.readTextFile(join(root, "source", "setup.sh")),
        /npm install -g deno@2\.9\.6/,
      );

      // A submission as a student uploads it: 05 answered in a subfolder, 04 cheating.
      await Deno.mkdir(join(root, "submission", "lab"), { recursive: true });
      await Deno.copyFile(
        join(SOLUTIONS, "05_cam.ipynb"),
        join(root, "submission", "lab", "05_cam.ipynb"),
      );
      const cheat = await readNotebook(join(SOLUTIONS, "04_roc.ipynb"));
      cheat.cells.find((c) => c.metadata.lab?.question === "roc")!.source = toSourceLines(
        'import { computeRoc as referenceRoc } from "../lib/grading/references.ts";\n' +
          "function computeRoc(a: number[], b: number[]) { return referenceRoc(a, b); }",
      );
      await writeNotebook(join(root, "submission", "04_roc.ipynb"), cheat);
      const results = await runAutograder(root);
      const tests = results.tests as {
        name: string;
        score: number;
        max_score: number;
        output: string;
        visibility: string;
      }[];
      assert.deepEqual(tests.map((t) => [t.name.split(":")[0], t.score, t.max_score]), [
        ["04_roc roc", 0, 3],
        ["05_cam features", 1, 1],
        ["05_cam cam", 2, 2],
        ["05_cam class", 1, 1],
        ["05_cam upsample", 1, 1],
      ]);
      assert.match(
        tests[0].output,
        /^the answer cell uses an import statement; answers may not import/,
      );
      assert.ok(tests.every((t) => t.visibility === "after_published"));
      assert.equal(results.score, 5);

      await Deno.remove(join(root, "submission"), { recursive: true });
      await Deno.mkdir(join(root, "submission"));
      const empty = await runAutograder(root);
      assert.equal(empty.score, 0);
      assert.deepEqual(
        (empty.tests as { output: string }[]).map((t) => t.output),
        ["04_roc.ipynb was not handed in", ...Array(4).fill("05_cam.ipynb was not handed in")],
      );

      const forced = await runDeno(["run", "-A", RELEASE, "--autograder", zip, "--force"], {
        cwd: parent,
      });
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stdout, /grading all six notebooks/);
      assert.ok(existsSync(zip));
    } finally {
      await Deno.remove(parent, { recursive: true });
    }
  },
);

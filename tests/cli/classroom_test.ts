/**
 * GitHub Classroom: the handout's workflow, parsed as YAML by PyYAML (Debian's python3-yaml),
 * grades on push with one test per question worth its points, reported together; its commands,
 * run here in the handout as the runner would, pass on answered notebooks and fail on the
 * student's untouched ones with the grader's message. Its `autograding.json` holds the same tests.
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeHandout } from "../../cli/release.ts";
import { CLASSROOM_CONFIG, CLASSROOM_WORKFLOW } from "../../lib/grading/classroom.ts";
import { QUESTIONS } from "../../lib/grading/questions.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "../support/solutions.ts";

/** Debian's Python, whose python3-yaml .ci/run installs. */
const PYTHON = "/usr/bin/python3";

/** The YAML file at `path` as JSON, parsed by PyYAML (whose YAML 1.1 reads the key `on` as true). */
async function parseYaml(path: string): Promise<Record<string, unknown>> {
  const script = `import json, sys, yaml
def keys(x):
    if isinstance(x, dict): return {"on" if k is True else k: keys(v) for k, v in x.items()}
    if isinstance(x, list): return [keys(v) for v in x]
    return x
print(json.dumps(keys(yaml.safe_load(open(sys.argv[1])))))`;
  const out = await new Deno.Command(PYTHON, { args: ["-c", script, path] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Runs a workflow step's shell command in `cwd`, as the runner's bash would. */
async function runStep(command: string, cwd: string) {
  const env: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1" };
  delete env.INIT_CWD; // as on a runner: deno task starts from the checkout
  const out = await new Deno.Command("bash", { args: ["-c", command], cwd, env, clearEnv: true })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, string | number>;
}

Deno.test(
  "the handout's Classroom workflow grades on push, one test per question, and its commands grade",
  {
    ignore: !HAS_SOLUTIONS,
  },
  async () => {
    const parent = await Deno.makeTempDir({ prefix: "lab-classroom-" });
    try {
      const dir = join(parent, "class");
      const handout = await writeHandout(LAB_ROOT, dir, { log: () => {} });
      assert.ok(handout.files.includes(CLASSROOM_WORKFLOW));
      assert.ok(handout.files.includes(CLASSROOM_CONFIG));

      const workflow = await parseYaml(join(dir, CLASSROOM_WORKFLOW));
      assert.ok((workflow.on as string[]).includes("push"), "runs on push");
      const jobs = Object.values(workflow.jobs as Record<string, { steps: Step[] }>);
      assert.equal(jobs.length, 1);
      const steps = jobs[0].steps;
      const graders = steps.filter((s) =>
        s.uses === "classroom-resources/autograding-command-grader@v1"
      );
      const questions = Object.entries(QUESTIONS).flatMap(([notebook, qs]) =>
        qs.map((q) => ({ notebook, ...q }))
      );
      assert.equal(graders.length, questions.length, "one test per question");
      assert.deepEqual(graders.map((s) => s.with!["max-score"]), questions.map((q) => q.points));
      assert.equal(graders.reduce((sum, s) => sum + Number(s.with!["max-score"]), 0), 17);
      const reporter = steps.at(-1)!;
      assert.equal(reporter.uses, "classroom-resources/autograding-grading-reporter@v1");
      assert.deepEqual(String(reporter.with!.runners).split(","), graders.map((s) => s.id));
      for (const grader of graders) {
        assert.equal(
          reporter.env![`${grader.id!.toUpperCase()}_RESULTS`],
          `\${{ steps.${grader.id}.outputs.result }}`,
        );
      }
      const config = JSON.parse(await Deno.readTextFile(join(dir, CLASSROOM_CONFIG)));
      assert.deepEqual(
        config.tests.map((t: { run: string; points: number }) => [t.run, t.points]),
        graders.map((s) => [s.with!.command, s.with!["max-score"]]),
      );

      const install = steps.find((s) => s.run !== undefined)!;
      const installed = await runStep(install.run!, dir);
      assert.equal(installed.code, 0, installed.text);
      const untouched = await runStep(String(graders[0].with!.command), dir);
      assert.equal(untouched.code, 1, untouched.text);
      assert.match(untouched.text, /error: question load failed: not answered/);
      for (const notebook of Object.keys(QUESTIONS)) {
        await Deno.copyFile(
          join(SOLUTIONS, `${notebook}.ipynb`),
          join(dir, "notebooks", `${notebook}.ipynb`),
        );
      }
      for (const grader of graders) {
        const ran = await runStep(String(grader.with!.command), dir);
        assert.equal(ran.code, 0, `${grader.name}: ${ran.text}`);
        assert.match(ran.text, new RegExp(`PASS ${grader.id!.slice(2)} `));
      }
    } finally {
      await Deno.remove(parent, { recursive: true });
    }
  },
);

import assert from "node:assert/strict";
import { join } from "node:path";
import { TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { writeFixtureLabFile } from "../fixtures/lab_files.ts";
import { commandWorks, denoKernelDir } from "../support/jupyter.ts";
import { jupyterArgs, JUPYTERLAB_ENV } from "../../cli/lab.ts";
import { runDeno, type TaskResult } from "../support/run_task.ts";
import { LAB_ROOT } from "../../lib/core/paths.ts";
import { FAST_DATA_DIR, FAST_MODE_LINE } from "../../lib/notebook/setup.ts";

const LAB = new URL("../../cli/lab.ts", import.meta.url).pathname;

/**
 * Runs `deno task lab` with `args` and `env` over this process's environment, without a
 * `$LAB_JUPYTERLAB` the machine may set (CI points it at its JupyterLab) unless `env` gives one.
 */
function runLab(env: Record<string, string>, args = ["--check", "--no-browser"]) {
  return runDeno(["run", "-A", LAB, ...args], { env: { [JUPYTERLAB_ENV]: "", ...env } });
}

Deno.test({
  name: "deno task lab --check finds the kernel and the data, and prints the Jupyter command",
  ignore: !commandWorks("jupyter-notebook"),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const data = join(dir, "data");
      await Deno.mkdir(data);
      await writeFixtureLabFile(join(data, TRAIN_FILE), 4);
      await writeFixtureLabFile(join(data, TEST_FILE), 2);
      const jupyter = await denoKernelDir();
      const kernel = join(jupyter, "kernels", "deno");
      const { code, stdout: out, stderr: err } = await runLab({
        LAB_DATA_DIR: data,
        JUPYTER_PATH: jupyter,
      });
      assert.equal(code, 0, err);
      assert.match(out, new RegExp(`Deno kernel: ${kernel}/kernel.json`));
      assert.match(
        out,
        /UNKNOWN SOURCE: no SOURCE.json beside the files .*train 4 images \(2 pneumothorax\), test 2 images/,
      );
      assert.match(
        out,
        /ready; without --check this starts Jupyter (Notebook|Lab): jupyter-(notebook|lab) --notebook-dir=.*notebooks --no-browser/,
      );
      assert.match(out, /^backend of the notebooks: (onednn|wasm|webgpu|node|node-gpu) \(/m);
      await Deno.remove(jupyter, { recursive: true });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task lab without Jupyter says how to install it, in one message", async () => {
  const { code, stderr: err } = await runLab({ PATH: "/nonexistent" });
  assert.equal(code, 1);
  assert.match(
    err,
    /^error: Jupyter is not installed\. Install one of:\n.*pip install jupyterlab.*\n.*apt-get install jupyter-notebook/s,
  );
  assert.doesNotMatch(err, /\n\s+at /, "no stack trace");
});

Deno.test("jupyterArgs() adds --allow-root as root, says so, and only as root", () => {
  const jupyter = { name: "Jupyter Notebook", command: "jupyter-notebook" };
  const root = jupyterArgs(jupyter, "/lab/notebooks", { uid: 0, noBrowser: true });
  assert.deepEqual(root.args, [
    "--notebook-dir=/lab/notebooks",
    "--no-browser",
    "--log-level=WARN",
    "--allow-root",
  ]);
  assert.deepEqual(root.notes, ["running as root: starting Jupyter Notebook with --allow-root"]);
  for (const uid of [1000, null]) {
    const user = jupyterArgs(jupyter, "/lab/notebooks", { uid, port: "8899" });
    assert.deepEqual(
      user.args,
      ["--notebook-dir=/lab/notebooks", "--port=8899", "--log-level=WARN"],
      `uid ${uid}`,
    );
    assert.deepEqual(user.notes, [], `uid ${uid}`);
  }
});

Deno.test("jupyterArgs() quiets Jupyter's start-up log, JupyterLab's application too, unless verbose", () => {
  const lab = jupyterArgs({ name: "JupyterLab" }, "/lab/notebooks", { uid: 1000 });
  assert.deepEqual(lab.args, [
    "--notebook-dir=/lab/notebooks",
    "--log-level=WARN",
    "--LabApp.log_level=WARN",
  ]);
  for (const name of ["JupyterLab", "Jupyter Notebook"]) {
    const verbose = jupyterArgs({ name }, "/lab/notebooks", { uid: 1000, verbose: true });
    assert.deepEqual(verbose.args, ["--notebook-dir=/lab/notebooks"], name);
  }
});

/**
 * A folder to put alone on PATH with a stand-in Jupyter that behaves as the real one does for
 * the lab: `jupyter --paths --json` names `kernels` (a Deno kernelspec folder), `--version`
 * works, and the server, as root, refuses to start without `--allow-root` (with Jupyter's
 * message) and otherwise writes its arguments to `args.txt` and exits 0. The scripts use only
 * shell built-ins, so nothing else need be on PATH. The caller removes the folder.
 */
async function fakeJupyter(server: string, kernels: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "lab-fake-jupyter-" });
  const log = join(dir, "args.txt");
  const scripts: Record<string, string> = {
    jupyter: `[ "$1" = --paths ] && printf '{"data": ["${kernels}"]}\\n'`,
    [server]: [
      `[ "$1" = --version ] && { echo 6.4.12; exit 0; }`,
      `for arg in "$@"; do`,
      `  [ "$arg" = --allow-root ] && { printf '%s\\n' "$@" > "${log}"; exit 0; }`,
      `done`,
      `echo "Running as root is not recommended. Use --allow-root to bypass." >&2`,
      `exit 1`,
    ].join("\n"),
  };
  for (const [name, body] of Object.entries(scripts)) {
    await Deno.writeTextFile(join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  return dir;
}

Deno.test({
  name: "deno task lab starts Jupyter with --allow-root as root, and says so",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = await Deno.makeTempDir();
    const kernels = await denoKernelDir();
    const bin = await fakeJupyter("jupyter-notebook", kernels);
    try {
      await writeFixtureLabFile(join(dir, TRAIN_FILE), 4);
      await writeFixtureLabFile(join(dir, TEST_FILE), 2);
      const { code, stdout: out, stderr: err } = await runLab({ PATH: bin, LAB_DATA_DIR: dir }, [
        "--no-browser",
      ]);
      assert.equal(code, 0, `${out}\n${err}`);
      assert.match(out, /^running as root: starting Jupyter Notebook with --allow-root$/m);
      const args = (await Deno.readTextFile(join(bin, "args.txt"))).trim().split("\n");
      assert.ok(args.includes("--allow-root"), args.join(" "));
      assert.ok(args.includes("--no-browser"), args.join(" "));
      assert.ok(args.includes("--log-level=WARN"), args.join(" "));
    } finally {
      for (const path of [dir, kernels, bin]) await Deno.remove(path, { recursive: true });
    }
  },
});

Deno.test("LAB_FAST=1 deno task lab --check says it is in fast mode and prepares data/fast", async () => {
  const kernels = await denoKernelDir();
  const bin = await fakeJupyter("jupyter-lab", kernels);
  try {
    const { code, stdout: out, stderr: err } = await runLab({ PATH: bin, LAB_FAST: "1" });
    assert.equal(code, 0, `${out}\n${err}`);
    assert.ok(out.startsWith(`Deno kernel: ${kernels}`), out);
    assert.match(out, new RegExp(`^${RegExp.escape(FAST_MODE_LINE)}$`, "m"));
    assert.match(
      out,
      new RegExp(
        `^REAL DATA: the SIIM-ACR films .* \\| ${RegExp.escape(FAST_DATA_DIR)}: train \\d+ images`,
        "m",
      ),
    );
    assert.match(
      out,
      /^ready; without --check this starts JupyterLab: jupyter-lab --notebook-dir=/m,
    );
  } finally {
    for (const path of [kernels, bin]) await Deno.remove(path, { recursive: true });
  }
});

/** A data folder with the two lab files, as `$LAB_DATA_DIR`; the caller removes `dir`. */
async function fixtureData(dir: string): Promise<string> {
  await writeFixtureLabFile(join(dir, TRAIN_FILE), 4);
  await writeFixtureLabFile(join(dir, TEST_FILE), 2);
  return dir;
}

Deno.test("deno task lab starts the JupyterLab $LAB_JUPYTERLAB names, off PATH, and finds the kernel through the jupyter beside it", async () => {
  const data = await fixtureData(await Deno.makeTempDir());
  const kernels = await denoKernelDir();
  const venv = await fakeJupyter("jupyter-lab", kernels);
  try {
    const { code, stdout, stderr } = await runLab({
      PATH: "/nonexistent",
      LAB_DATA_DIR: data,
      [JUPYTERLAB_ENV]: join(venv, "jupyter-lab"),
    });
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.ok(stdout.startsWith(`Deno kernel: ${kernels}/kernels/deno/kernel.json`), stdout);
    assert.match(
      stdout,
      new RegExp(
        `^ready; without --check this starts JupyterLab: ${
          RegExp.escape(join(venv, "jupyter-lab"))
        } --notebook-dir=`,
        "m",
      ),
    );
  } finally {
    for (const path of [data, kernels, venv]) await Deno.remove(path, { recursive: true });
  }
});

Deno.test("deno task lab with a $LAB_JUPYTERLAB that does not run says so in one line", async () => {
  const { code, stdout, stderr } = await runLab({ [JUPYTERLAB_ENV]: "/nonexistent/jupyter-lab" });
  assert.equal(code, 1, stdout);
  assert.equal(
    stderr,
    `error: ${JUPYTERLAB_ENV}=/nonexistent/jupyter-lab does not run ('/nonexistent/jupyter-lab ` +
      "--version' failed); point it at a jupyter-lab (for example " +
      "/opt/jupyterlab/bin/jupyter-lab) or unset it\n",
  );
});

/**
 * What `deno install` prints for `config` and the lab's lockfile in a folder of their own, with
 * no node_modules: what a fresh checkout's first `deno task` does before the task runs.
 */
async function freshInstall(config: Record<string, unknown>): Promise<TaskResult> {
  const dir = await Deno.makeTempDir({ prefix: "lab-install-" });
  try {
    await Deno.writeTextFile(join(dir, "deno.json"), JSON.stringify(config));
    await Deno.copyFile(join(LAB_ROOT, "deno.lock"), join(dir, "deno.lock"));
    return await runDeno(["install"], { cwd: dir });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a fresh checkout's npm install prints no build-script warning: deno.json denies the one script, core-js's funding banner", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(LAB_ROOT, "deno.json")));
  const ours = await freshInstall(config);
  assert.equal(ours.code, 0, ours.stderr);
  assert.doesNotMatch(ours.stdout + ours.stderr, /build scripts|approve-scripts/);
  const { allowScripts: _, ...withoutIt } = config;
  const before = await freshInstall(withoutIt);
  assert.match(
    before.stdout + before.stderr,
    /Ignored build scripts for packages:[\s│]+npm:core-js@/,
  );
});

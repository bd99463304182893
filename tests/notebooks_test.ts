/**
 * Executes every solution notebook with the real Deno kernel through Jupyter (nbconvert and
 * nbclient), in fast mode, and checks that no cell fails and that the plots are there.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { commandWorks, denoKernelDir } from "./fixtures/jupyter.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "./fixtures/solutions.ts";

const NOTEBOOKS = ["01_dataset", "02_training", "03_restore", "04_roc", "05_cam"];

/** Executes a solution notebook through nbconvert; returns its outputs, failing on any error. */
async function execute(name: string, outDir: string, jupyterPath: string): Promise<Output[]> {
  const output = join(outDir, `${name}.ipynb`);
  const result = await new Deno.Command("jupyter-nbconvert", {
    args: [
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.timeout=600",
      "--ExecutePreprocessor.kernel_name=deno",
      join(SOLUTIONS, `${name}.ipynb`),
      "--output",
      output,
    ],
    cwd: SOLUTIONS,
    env: { LAB_FAST: "1", JUPYTER_PATH: jupyterPath, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(result.stderr);
  assert.ok(result.success, `${name} failed:\n${log.slice(-3000)}`);
  const executed = JSON.parse(await Deno.readTextFile(output));
  const outputs: Output[] = executed.cells.flatMap((c: { outputs?: Output[] }) => c.outputs ?? []);
  const errors = outputs.filter((o) => o.output_type === "error");
  assert.deepEqual(errors.map((e) => `${e.ename}: ${e.evalue}`), [], name);
  return outputs;
}

const isPlot = (output: Output) => Boolean(output.data?.["image/svg+xml"]);

interface Output {
  output_type: string;
  ename?: string;
  evalue?: string;
  data?: Record<string, unknown>;
}

Deno.test({
  name: "solution notebooks run top to bottom in the Deno kernel (LAB_FAST=1), plots included",
  ignore: !commandWorks("jupyter-nbconvert") || !HAS_SOLUTIONS,
  async fn(t) {
    const jupyterPath = await denoKernelDir();
    const outDir = await Deno.makeTempDir({ prefix: "lab-notebooks-" });
    try {
      for (const name of NOTEBOOKS) {
        await t.step(name, async () => {
          let outputs = await execute(name, outDir, jupyterPath);
          if (!outputs.some(isPlot)) {
            // nbclient stops listening when the kernel reports idle, and the Deno kernel can
            // send a cell's last output just after that; Jupyter's own frontends keep it. So a
            // missing plot is looked for once more before it counts as missing.
            outputs = await execute(name, outDir, jupyterPath);
          }
          assert.ok(
            outputs.some(isPlot),
            `${name} shows no plot; outputs: ${outputs.map((o) => o.output_type).join(", ")}`,
          );
        });
      }
    } finally {
      await Deno.remove(jupyterPath, { recursive: true });
      await Deno.remove(outDir, { recursive: true });
    }
  },
});

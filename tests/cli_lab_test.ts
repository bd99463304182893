import assert from "node:assert/strict";
import { join } from "node:path";
import { TEST_FILE, TRAIN_FILE } from "../lib/dataset.ts";
import { writeFixtureLabFile } from "./fixtures/lab_files.ts";
import { commandWorks, denoKernelDir } from "./fixtures/jupyter.ts";

const LAB = new URL("../cli/lab.ts", import.meta.url).pathname;

async function runLab(env: Record<string, string>) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", LAB, "--check", "--no-browser"],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    out: decoder.decode(result.stdout),
    err: decoder.decode(result.stderr),
  };
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
      const { code, out, err } = await runLab({
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
        /Starting Jupyter (Notebook|Lab): jupyter-(notebook|lab) --notebook-dir=.*notebooks --no-browser/,
      );
      assert.match(out, /^backend of the notebooks: (onednn|wasm|webgpu|node|node-gpu) \(/m);
      await Deno.remove(jupyter, { recursive: true });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task lab without Jupyter says how to install it, in one message", async () => {
  const { code, err } = await runLab({ PATH: "/nonexistent" });
  assert.equal(code, 1);
  assert.match(
    err,
    /^error: Jupyter is not installed\. Install one of:\n.*pip install jupyterlab.*\n.*apt-get install jupyter-notebook/s,
  );
  assert.doesNotMatch(err, /\n\s+at /, "no stack trace");
});

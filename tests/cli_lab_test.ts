import assert from "node:assert/strict";
import { join } from "node:path";
import { TEST_FILE, TRAIN_FILE } from "../lib/dataset.ts";
import { writeFixtureLabFile } from "./fixtures/lab_files.ts";

const LAB = new URL("../cli/lab.ts", import.meta.url).pathname;

function hasJupyter(): boolean {
  try {
    return new Deno.Command("jupyter-notebook", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

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
  ignore: !hasJupyter(),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const data = join(dir, "data");
      await Deno.mkdir(data);
      await writeFixtureLabFile(join(data, TRAIN_FILE), 4);
      await writeFixtureLabFile(join(data, TEST_FILE), 2);
      const kernel = join(dir, "jupyter", "kernels", "deno");
      await Deno.mkdir(kernel, { recursive: true });
      await Deno.writeTextFile(
        join(kernel, "kernel.json"),
        JSON.stringify({
          argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
        }),
      );
      const { code, out, err } = await runLab({
        LAB_DATA_DIR: data,
        JUPYTER_PATH: join(dir, "jupyter"),
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

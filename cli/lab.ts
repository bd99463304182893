/**
 * `deno task lab`: open the lab. Registers the Deno Jupyter kernel when it is missing, makes
 * sure a dataset is in `data/`, and starts JupyterLab (or Jupyter Notebook) on `notebooks/`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CommandSpec, parseCommand, runMain } from "./args.ts";
import { describeDataFolder, ensureDataset } from "../lib/data_source.ts";
import { LabError } from "../lib/errors.ts";
import { labDataDir } from "../lib/lab_setup.ts";
import { selectBackend } from "../lib/backend.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

const SPEC: CommandSpec = {
  name: "lab",
  summary: "Open the lab: the Deno kernel, a dataset in data/ (or $LAB_DATA_DIR), and Jupyter " +
    "on notebooks/.",
  flags: {
    port: { type: "string", help: "Port for the Jupyter server (default: Jupyter's choice)." },
    "no-browser": { type: "boolean", help: "Do not open a browser window." },
    check: {
      type: "boolean",
      help: "Prepare the kernel and the data, print the Jupyter command, and stop.",
    },
  },
};

const INSTALL_HELP = "Jupyter is not installed. Install one of:\n" +
  "  JupyterLab:       pip install jupyterlab        (or: pipx install jupyterlab)\n" +
  "  Jupyter Notebook: sudo apt-get install jupyter-notebook   (Debian/Ubuntu)\n" +
  "                    pip install notebook\n" +
  "then run 'deno task lab' again.";

async function run(command: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const result = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(result.stdout);
    return { ok: result.success, out: text };
  } catch {
    return { ok: false, out: "" };
  }
}

/** Finds `jupyter-lab` or `jupyter-notebook` on PATH; JupyterLab first. */
async function findJupyter(): Promise<{ name: string; command: string; args: string[] }> {
  if ((await run("jupyter-lab", ["--version"])).ok) {
    return { name: "JupyterLab", command: "jupyter-lab", args: [] };
  }
  if ((await run("jupyter-notebook", ["--version"])).ok) {
    return { name: "Jupyter Notebook", command: "jupyter-notebook", args: [] };
  }
  throw new LabError(INSTALL_HELP);
}

/** The Deno kernelspec's `kernel.json`, if one is registered where Jupyter looks. */
async function findDenoKernel(): Promise<{ path: string; argv: string[] } | undefined> {
  const paths = await run("jupyter", ["--paths", "--json"]);
  const dataDirs: string[] = paths.ok ? JSON.parse(paths.out).data : [];
  for (const dir of dataDirs) {
    const path = join(dir, "kernels", "deno", "kernel.json");
    try {
      return { path, argv: JSON.parse(await Deno.readTextFile(path)).argv };
    } catch {
      continue;
    }
  }
  return undefined;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Registers the Deno kernel with `deno jupyter --install` unless a working one is there. */
async function ensureDenoKernel(): Promise<void> {
  const kernel = await findDenoKernel();
  if (kernel && await isFile(kernel.argv[0])) {
    console.log(`Deno kernel: ${kernel.path}`);
    return;
  }
  const reason = kernel ? `its deno (${kernel.argv[0]}) is gone` : "not registered";
  console.log(`Deno kernel ${reason}; registering it with 'deno jupyter --install'`);
  const result = await new Deno.Command(Deno.execPath(), { args: ["jupyter", "--install"] })
    .output();
  if (!result.success) {
    throw new LabError(
      `'deno jupyter --install' failed: ${new TextDecoder().decode(result.stderr).trim()}`,
    );
  }
}

async function main(): Promise<void> {
  const args = parseCommand(SPEC, Deno.args);
  const jupyter = await findJupyter();
  await ensureDenoKernel();
  console.log(describeDataFolder(await ensureDataset(labDataDir())));
  const backend = await selectBackend();
  console.log(`backend of the notebooks: ${backend.description}`);
  if (backend.hint) console.log(`note: ${backend.hint}`);
  const jupyterArgs = [...jupyter.args, `--notebook-dir=${join(ROOT, "notebooks")}`];
  if (args.values.port) jupyterArgs.push(`--port=${args.values.port}`);
  if (args.values["no-browser"]) jupyterArgs.push("--no-browser");
  console.log(`Starting ${jupyter.name}: ${jupyter.command} ${jupyterArgs.join(" ")}`);
  if (args.values.check) return;
  const server = new Deno.Command(jupyter.command, { args: jupyterArgs }).spawn();
  const status = await server.status;
  Deno.exit(status.code);
}

if (import.meta.main) await runMain(main);

/**
 * `deno task lab`: open the lab. Registers the Deno Jupyter kernel when it is missing, makes
 * sure the notebooks' dataset exists (`data/`, or `data/fast` with `LAB_FAST=1`), and starts
 * JupyterLab (or Jupyter Notebook) on `notebooks/`. As root (containers, cloud notebooks, CI)
 * Jupyter refuses to start unless given `--allow-root`, so the lab adds it there and says so:
 * the README's first command must work wherever a student first runs it.
 *
 * @module
 */
import { join } from "node:path";
import { type CommandSpec, parseCommand, runMain } from "./args.ts";
import { describeDataFolder } from "../lib/data/source.ts";
import { LabError } from "../lib/core/errors.ts";
import { ensureNotebookData, FAST_MODE_LINE, isFastMode } from "../lib/notebook/setup.ts";
import { selectBackend } from "../lib/backends/backend.ts";
import { LAB_ROOT } from "../lib/core/paths.ts";

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

/** How to install Jupyter; `sudo` only where the user is not root (containers often lack it). */
function installHelp(uid: number | null): string {
  const sudo = uid === 0 ? "" : "sudo ";
  return "Jupyter is not installed. Install one of:\n" +
    "  JupyterLab:       pip install jupyterlab        (or: pipx install jupyterlab)\n" +
    `  Jupyter Notebook: ${sudo}apt-get install jupyter-notebook   (Debian/Ubuntu)\n` +
    "                    pip install notebook\n" +
    "then run 'deno task lab' again.";
}

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

/** A Jupyter front end found on PATH. */
export interface Jupyter {
  /** Its name for people: `JupyterLab` or `Jupyter Notebook`. */
  name: string;
  /** The command that starts it. */
  command: string;
}

/** Finds `jupyter-lab` or `jupyter-notebook` on PATH; JupyterLab first. */
async function findJupyter(): Promise<Jupyter> {
  if ((await run("jupyter-lab", ["--version"])).ok) {
    return { name: "JupyterLab", command: "jupyter-lab" };
  }
  if ((await run("jupyter-notebook", ["--version"])).ok) {
    return { name: "Jupyter Notebook", command: "jupyter-notebook" };
  }
  throw new LabError(installHelp(Deno.uid()));
}

/** Options of {@link jupyterArgs}. */
export interface JupyterArgsOptions {
  /** The user id the server runs as (`Deno.uid()`; null where the system has none). */
  uid: number | null;
  /** The server's port; default Jupyter's choice. */
  port?: string;
  /** Do not open a browser window. */
  noBrowser?: boolean;
}

/**
 * The arguments that start Jupyter on `notebookDir`, and for each one added because of where
 * it runs, the line that says so. As root that is `--allow-root`, without which Jupyter exits
 * with "Running as root is not recommended".
 */
export function jupyterArgs(
  jupyter: Jupyter,
  notebookDir: string,
  options: JupyterArgsOptions,
): { args: string[]; notes: string[] } {
  const args = [`--notebook-dir=${notebookDir}`];
  const notes: string[] = [];
  if (options.port) args.push(`--port=${options.port}`);
  if (options.noBrowser) args.push("--no-browser");
  if (options.uid === 0) {
    args.push("--allow-root");
    notes.push(`running as root: starting ${jupyter.name} with --allow-root`);
  }
  return { args, notes };
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
  const fast = isFastMode();
  if (fast) console.log(FAST_MODE_LINE);
  console.log(describeDataFolder(await ensureNotebookData(fast)));
  const backend = await selectBackend();
  console.log(`backend of the notebooks: ${backend.description}`);
  if (backend.hint) console.log(`note: ${backend.hint}`);
  const { args: serverArgs, notes } = jupyterArgs(jupyter, join(LAB_ROOT, "notebooks"), {
    uid: Deno.uid(),
    port: args.values.port as string | undefined,
    noBrowser: Boolean(args.values["no-browser"]),
  });
  notes.forEach((note) => console.log(note));
  const command = `${jupyter.name}: ${jupyter.command} ${serverArgs.join(" ")}`;
  if (args.values.check) {
    console.log(`ready; without --check this starts ${command}`);
    return;
  }
  console.log(`Starting ${command}`);
  const server = new Deno.Command(jupyter.command, { args: serverArgs }).spawn();
  const status = await server.status;
  Deno.exit(status.code);
}

if (import.meta.main) await runMain(main);

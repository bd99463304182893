/**
 * `deno task lab`: open the lab. Registers the Deno Jupyter kernel when it is missing, makes
 * sure the notebooks' dataset exists (`data/`, or `data/fast` with `LAB_FAST=1`), and starts
 * JupyterLab (or Jupyter Notebook) on `notebooks/`. As root (containers, cloud notebooks, CI)
 * Jupyter refuses to start unless given `--allow-root`, so the lab adds it there and says so:
 * the README's first command must work wherever a student first runs it.
 *
 * JupyterLab is found first, as students most often have it: `$LAB_JUPYTERLAB` (the path of a
 * `jupyter-lab`, for one kept in its own virtual environment so that it shadows nothing on PATH),
 * else `jupyter-lab` on PATH; Jupyter Notebook (`jupyter-notebook`) otherwise. The kernelspec
 * search asks the `jupyter` beside the front end found, because a virtual environment's Jupyter
 * looks in its own data folders as well as the user's.
 *
 * @module
 */
import { dirname, join } from "node:path";
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
    verbose: {
      type: "boolean",
      help: "Show Jupyter's own informational log (extensions loaded, kernels started, files " +
        "saved); without it Jupyter prints only its address, warnings and errors.",
    },
  },
};

/** The variable naming a `jupyter-lab` to use rather than the one on PATH. */
export const JUPYTERLAB_ENV = "LAB_JUPYTERLAB";

/** How to install Jupyter; `sudo` only where the user is not root (containers often lack it). */
function installHelp(uid: number | null): string {
  const sudo = uid === 0 ? "" : "sudo ";
  return "Jupyter is not installed. Install one of:\n" +
    "  JupyterLab:       pip install jupyterlab        (or: pipx install jupyterlab;\n" +
    `                    in a virtual environment, set ${JUPYTERLAB_ENV} to its bin/jupyter-lab)\n` +
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

/** A Jupyter front end found. */
export interface Jupyter {
  /** Its name for people: `JupyterLab` or `Jupyter Notebook`. */
  name: string;
  /** The command that starts it (a name on PATH, or a path). */
  command: string;
  /** Its `jupyter` command, which knows where its kernelspecs are. */
  jupyter: string;
  /** What `--version` printed. */
  version: string;
}

/** The `jupyter` beside `command`: the same folder when `command` is a path. */
function jupyterBeside(command: string): string {
  return command.includes("/") ? join(dirname(command), "jupyter") : "jupyter";
}

/** `name` at `command` if `command --version` runs. */
async function tryJupyter(name: string, command: string): Promise<Jupyter | undefined> {
  const result = await run(command, ["--version"]);
  if (!result.ok) return undefined;
  return { name, command, jupyter: jupyterBeside(command), version: result.out.trim() };
}

/**
 * JupyterLab at `$LAB_JUPYTERLAB`, else `jupyter-lab` on PATH; else `jupyter-notebook`; or
 * undefined. A `$LAB_JUPYTERLAB` that does not run is an error, not a reason to fall back: the
 * user asked for that one.
 */
export async function findJupyter(
  env: { get(name: string): string | undefined } = Deno.env,
): Promise<Jupyter | undefined> {
  const chosen = env.get(JUPYTERLAB_ENV);
  if (chosen) {
    const lab = await tryJupyter("JupyterLab", chosen);
    if (!lab) {
      throw new LabError(
        `${JUPYTERLAB_ENV}=${chosen} does not run ('${chosen} --version' failed); ` +
          "point it at a jupyter-lab (for example /opt/jupyterlab/bin/jupyter-lab) or unset it",
      );
    }
    return lab;
  }
  return await tryJupyter("JupyterLab", "jupyter-lab") ??
    await tryJupyter("Jupyter Notebook", "jupyter-notebook");
}

/** Options of {@link jupyterArgs}. */
export interface JupyterArgsOptions {
  /** The user id the server runs as (`Deno.uid()`; null where the system has none). */
  uid: number | null;
  /** The server's port; default Jupyter's choice. */
  port?: string;
  /** Do not open a browser window. */
  noBrowser?: boolean;
  /** Keep Jupyter's informational log; by default it prints only warnings, errors and its address. */
  verbose?: boolean;
}

/**
 * The arguments that start Jupyter on `notebookDir`, and for each one added because of where
 * it runs, the line that says so. As root that is `--allow-root`, without which Jupyter exits
 * with "Running as root is not recommended".
 *
 * Unless `verbose`, Jupyter logs at WARN: its twenty-odd start-up lines (each extension linked
 * and loaded, each language server not installed) go, while warnings, errors and the block with
 * the server's address and token, which Jupyter logs as critical so that it always shows, stay.
 * JupyterLab's own application logs apart from its server, so it is set too.
 */
export function jupyterArgs(
  jupyter: Pick<Jupyter, "name">,
  notebookDir: string,
  options: JupyterArgsOptions,
): { args: string[]; notes: string[] } {
  const args = [`--notebook-dir=${notebookDir}`];
  const notes: string[] = [];
  if (options.port) args.push(`--port=${options.port}`);
  if (options.noBrowser) args.push("--no-browser");
  if (!options.verbose) {
    args.push("--log-level=WARN");
    if (jupyter.name === "JupyterLab") args.push("--LabApp.log_level=WARN");
  }
  if (options.uid === 0) {
    args.push("--allow-root");
    notes.push(`running as root: starting ${jupyter.name} with --allow-root`);
  }
  return { args, notes };
}

/** The Deno kernelspec's `kernel.json`, if one is registered where Jupyter looks. */
async function findDenoKernel(
  jupyter: Jupyter,
): Promise<{ path: string; argv: string[] } | undefined> {
  const paths = await run(jupyter.jupyter, ["--paths", "--json"]);
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
async function ensureDenoKernel(jupyter: Jupyter): Promise<void> {
  const kernel = await findDenoKernel(jupyter);
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

/** Runs the task with the command-line arguments `argv`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  const jupyter = await findJupyter();
  if (!jupyter) throw new LabError(installHelp(Deno.uid()));
  await ensureDenoKernel(jupyter);
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
    verbose: Boolean(args.values.verbose),
  });
  notes.forEach((note) => console.log(note));
  const command = `${jupyter.name}: ${jupyter.command} ${serverArgs.join(" ")}`;
  if (args.values.check) {
    console.log(`ready; without --check this starts ${command}`);
    return;
  }
  console.log(`Starting ${command} (Ctrl-C stops it)`);
  const server = new Deno.Command(jupyter.command, { args: serverArgs }).spawn();
  const status = await server.status;
  Deno.exit(status.code);
}

if (import.meta.main) await runMain(() => main(Deno.args));

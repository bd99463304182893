/**
 * The Gradescope autograder bundle (`deno task release --autograder FILE.zip`).
 *
 * Gradescope unpacks the archive into `/autograder/source` on its Ubuntu image, runs `setup.sh`
 * once when the image is built, and for each submission runs `run_autograder`, which must leave
 * `/autograder/results/results.json`. The bundle holds what grading needs and nothing else: the
 * library with the reference answers (which is why it goes to Gradescope and not to students),
 * the grade task, `deno.json` and `deno.lock`. Deno comes from npm (`npm install -g deno@2.9.6`),
 * pinned as everywhere in the lab; the npm packages are fetched by `setup.sh`, since grading
 * itself may run without network. Both scripts take the root from `$AUTOGRADER_ROOT` (default
 * `/autograder`), so a test runs them in a folder laid out as Gradescope lays it.
 *
 * @module
 */
import { join } from "node:path";
import { LabError } from "../core/errors.ts";
import { zip, type ZipEntry } from "./zip.ts";

/** The Deno the bundle installs, as `npx -y deno@2.9.6` elsewhere. */
export const DENO_VERSION = "2.9.6";

/** Options of {@link autograderEntries}. */
export interface AutograderOptions {
  /** The notebooks of the assignment (default: all six). */
  notebooks?: readonly string[];
  /** Gradescope visibility of each test (default `visible`). */
  visibility?: string;
  /** Seconds each question may run (default: the grader's). */
  timeoutSeconds?: number;
}

/** The files grading needs besides the library's modules. */
const GRADING_FILES = ["deno.json", "deno.lock", "cli/args.ts", "cli/grade.ts"];

/** The TypeScript modules under `dir` of `root`, relative to `root`, as the working tree has them. */
async function modulesUnder(root: string, dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(root, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await modulesUnder(root, path));
    else if (entry.isFile && entry.name.endsWith(".ts")) found.push(path);
  }
  return found;
}

/** Quotes `text` for bash. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

/** `setup.sh`: Node and npm from Ubuntu if missing, then Deno from npm, then the lab's packages. */
export function setupScript(): string {
  return `#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
SOURCE="\${AUTOGRADER_ROOT:-/autograder}/source"
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
    nodejs npm ca-certificates
fi
npm install -g deno@${DENO_VERSION}
cd "$SOURCE"
# The packages grading imports, pinned by deno.lock, into source/node_modules.
deno install --frozen --entrypoint cli/grade.ts lib/grading/grader_worker.ts
`;
}

/** `run_autograder`: grades the submission's notebooks into `results/results.json`. */
export function runScript(options: AutograderOptions = {}): string {
  const flags = [
    "--submission",
    "--visibility",
    options.visibility ?? "visible",
    ...(options.notebooks ? ["--notebooks", options.notebooks.join(",")] : []),
    ...(options.timeoutSeconds ? ["--timeout", String(options.timeoutSeconds)] : []),
  ].map(shellQuote).join(" ");
  return `#!/usr/bin/env bash
# Gradescope runs this for each submission: it grades the .ipynb files of submission/ into
# results/results.json, one test per question, with the grader's message as each test's output.
set -uo pipefail
ROOT="\${AUTOGRADER_ROOT:-/autograder}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
if command -v deno >/dev/null 2>&1; then DENO=(deno); else DENO=(npx -y deno@${DENO_VERSION}); fi
cd "$ROOT/source"
if ! "\${DENO[@]}" run -A cli/grade.ts "$ROOT/submission" --gradescope "$RESULTS" ${flags} \\
  >"$ROOT/results/grade.log" 2>&1; then
  # The grader could not grade at all: say so rather than leave Gradescope without results.
  # The log (the grader's one-line error) goes to standard output, which instructors see.
  printf '%s\\n' '{"score": 0, "output": "The autograder failed on this submission; the instructor has been shown why."}' >"$RESULTS"
fi
cat "$ROOT/results/grade.log"
`;
}

/**
 * The files of the bundle for the repository at `root`: the two scripts (executable), and what
 * grading needs as the working tree has it (the library's modules, the grade task, the config).
 */
export async function autograderEntries(
  root: string,
  options: AutograderOptions = {},
): Promise<ZipEntry[]> {
  const encoder = new TextEncoder();
  const entries: ZipEntry[] = [
    { path: "setup.sh", data: encoder.encode(setupScript()), mode: 0o755 },
    { path: "run_autograder", data: encoder.encode(runScript(options)), mode: 0o755 },
  ];
  const paths = [...GRADING_FILES, ...(await modulesUnder(root, "lib")).sort()];
  for (const path of paths) {
    try {
      entries.push({ path, data: await Deno.readFile(join(root, path)) });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new LabError(`${join(root, path)}: not found; the autograder needs it`);
      }
      throw error;
    }
  }
  return entries;
}

/** Writes the Gradescope autograder bundle of the repository at `root` to `file`. */
export async function writeAutograder(
  root: string,
  file: string,
  options: AutograderOptions = {},
): Promise<ZipEntry[]> {
  const entries = await autograderEntries(root, options);
  await Deno.writeFile(file, await zip(entries));
  return entries;
}

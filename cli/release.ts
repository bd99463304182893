/**
 * `deno task release`: make the student notebooks in notebooks/ from the answered ones in
 * notebooks/solutions/ (answer regions become TODO stubs; cell ids stay the same).
 * `--check` fails when the student notebooks differ from what release would write. A student
 * notebook that holds work (answers, added cells) is never overwritten: release refuses and says
 * how to keep it, and `--force` moves it to a backup folder it names first (lib/grading/release.ts).
 *
 * `--autograder FILE.zip` writes Gradescope's autograder bundle (lib/grading/autograder.ts).
 *
 * `--handout DIR` writes what a class gets: the project's tracked files without
 * `notebooks/solutions/`, so that Jupyter's file list never shows the answers and the README's
 * two commands (`task lab`, `task test`) work in it as they do here. Tracked files only, as
 * `git ls-files` lists them: data, checkpoints of one's own, logs and other untracked things
 * stay behind. It refuses stale student notebooks, so a class never gets TODOs that disagree
 * with the solutions the instructor grades against.
 *
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { type CommandSpec, parseCommand, type ParsedArgs, runMain } from "./args.ts";
import { existsSync } from "node:fs";
import { writeAutograder } from "../lib/grading/autograder.ts";
import {
  CLASSROOM_CONFIG,
  CLASSROOM_WORKFLOW,
  classroomConfig,
  classroomTests,
  classroomWorkflow,
} from "../lib/grading/classroom.ts";
import { assignmentNotebooks, GRADESCOPE_VISIBILITY } from "../lib/grading/grader.ts";
import { releaseNotebooks } from "../lib/grading/release.ts";
import { LabError, UsageError } from "../lib/core/errors.ts";
import { LAB_ROOT } from "../lib/core/paths.ts";

const SPEC: CommandSpec = {
  name: "release",
  summary: "Write the student notebooks (notebooks/*.ipynb) from notebooks/solutions/.",
  flags: {
    check: { type: "boolean", help: "Only check that the student notebooks are up to date." },
    force: {
      type: "boolean",
      help: "Move student notebooks that hold answers to notebooks/.backup/<time>/, then write " +
        "(with --autograder: replace an existing file).",
    },
    autograder: {
      type: "string",
      help: "Write Gradescope's autograder bundle (setup.sh, run_autograder, the grader and its " +
        "references) to this .zip file.",
    },
    notebooks: {
      type: "string",
      help: "With --autograder or --handout: the notebooks the autograder grades, by name or " +
        "number (4,5); default all six.",
    },
    visibility: {
      type: "string",
      default: "visible",
      help: `With --autograder: when students see each test (${GRADESCOPE_VISIBILITY.join(", ")}).`,
    },
    handout: {
      type: "string",
      help: "Write the class's copy of the project into this new (or empty) folder: the " +
        "tracked files without notebooks/solutions/.",
    },
  },
};

/** The repository's tracked files, relative to `root`, as `git ls-files` lists them. */
async function trackedFiles(root: string): Promise<string[]> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command("git", {
      args: ["ls-files", "-z", "--cached"],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new LabError(`git is needed to list the project's files: ${(error as Error).message}`);
  }
  if (!result.success) {
    throw new LabError(
      `'git ls-files' failed in ${root}: ${new TextDecoder().decode(result.stderr).trim()} ` +
        "(a handout is made from a git checkout of the lab)",
    );
  }
  return new TextDecoder().decode(result.stdout).split("\0").filter((path) => path !== "");
}

/** Whether `path` is `folder` or inside it. */
function isWithin(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** Throws a {@link UsageError} unless `dir` is a fit place for a handout of `root`. */
async function checkHandoutDir(dir: string, root: string): Promise<void> {
  const notebooks = join(root, "notebooks");
  if (isWithin(dir, notebooks)) {
    throw new UsageError(
      `--handout ${dir} is inside ${notebooks}: Jupyter would list it beside the notebooks; ` +
        "choose a folder outside the repository's notebooks/",
    );
  }
  if (isWithin(root, dir)) {
    throw new UsageError(`--handout ${dir} holds the repository itself; choose a new folder`);
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isDirectory) {
    throw new UsageError(`--handout ${dir} is a file; choose a new or empty folder`);
  }
  for await (const _ of Deno.readDir(dir)) {
    throw new UsageError(`--handout ${dir} exists and is not empty; choose a new or empty folder`);
  }
}

/** The reference answers, which only the grader uses: not in a handout. */
export const GRADER_REFERENCES = "lib/grading/references.ts";

/**
 * What a handout holds in place of {@link GRADER_REFERENCES} (under that name; not under its own):
 * the same exports, which say where the answers are instead of giving them.
 */
export const REFERENCES_STAND_IN = "lib/grading/references_stand_in.ts";

/** Options of {@link writeHandout}. */
export interface HandoutOptions {
  /** Receives a line per skipped file and the summary (default: standard output). */
  log?: (line: string) => void;
  /** The notebooks GitHub Classroom's tests grade (default: all six). */
  notebooks?: readonly string[];
}

/** What {@link writeHandout} wrote. */
export interface Handout {
  /** The handout folder, absolute. */
  dir: string;
  /** The files written, relative to it. */
  files: string[];
}

/**
 * Writes the class's copy of the repository at `root` into `dir`: every tracked file (as it is
 * in the working tree, modes kept) except those under `notebooks/solutions/`, with
 * {@link REFERENCES_STAND_IN} as {@link GRADER_REFERENCES}, and GitHub Classroom's autograding
 * workflow and configuration (lib/grading/classroom.ts). A tracked file deleted from the working
 * tree is left out, and said so.
 *
 * @throws {UsageError} when `dir` is inside the repository's `notebooks/`, contains the
 * repository, or exists and is not empty
 * @throws {LabError} when `root` is not a git checkout
 */
export async function writeHandout(
  root: string,
  dir: string,
  options: HandoutOptions = {},
): Promise<Handout> {
  const log = options.log ?? ((line: string) => console.log(line));
  const target = resolve(dir);
  await checkHandoutDir(target, resolve(root));
  const files: string[] = [];
  for (const path of await trackedFiles(root)) {
    if (isWithin(join(root, path), join(root, "notebooks", "solutions"))) continue;
    if (path === REFERENCES_STAND_IN) continue;
    const to = join(target, path);
    await Deno.mkdir(dirname(to), { recursive: true });
    if (path === GRADER_REFERENCES) {
      await Deno.copyFile(join(root, REFERENCES_STAND_IN), to);
      files.push(path);
      continue;
    }
    try {
      await Deno.copyFile(join(root, path), to);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      log(`skipped ${path}: tracked but deleted from the working tree`);
      continue;
    }
    files.push(path);
  }
  const tests = classroomTests(options.notebooks);
  for (
    const [path, text] of [
      [CLASSROOM_WORKFLOW, classroomWorkflow(tests)],
      [CLASSROOM_CONFIG, classroomConfig(tests)],
    ]
  ) {
    await Deno.mkdir(dirname(join(target, path)), { recursive: true });
    await Deno.writeTextFile(join(target, path), text);
    files.push(path);
  }
  return { dir: target, files };
}

/** The error for student notebooks that differ from the release of the solutions. */
function staleError(stale: string[], fix: string): LabError {
  return new LabError(
    `student notebooks out of date with notebooks/solutions: ${stale.join(", ")} (${fix})`,
  );
}

/** The folder the user ran the task from (`deno task` runs tasks in the repository root). */
function userCwd(): string {
  return Deno.env.get("INIT_CWD") ?? Deno.cwd();
}

/** The notebooks `--notebooks` names, or a {@link UsageError} naming the one it does not know. */
function notebooksFlag(flag: string): string[] {
  try {
    return assignmentNotebooks(flag.split(",").map((name) => name.trim()));
  } catch (error) {
    throw new UsageError(`--notebooks: ${(error as Error).message}`);
  }
}

/** Writes the Gradescope bundle the flags describe to `file` (relative to the user's folder). */
async function releaseAutograder(file: string, values: ParsedArgs["values"]): Promise<void> {
  const target = resolve(userCwd(), file);
  if (!target.endsWith(".zip")) throw new UsageError(`--autograder ${file}: name a .zip file`);
  if (existsSync(target) && !values.force) {
    throw new UsageError(
      `--autograder ${file} exists; choose another name, or add --force to replace it`,
    );
  }
  const visibility = String(values.visibility);
  if (!GRADESCOPE_VISIBILITY.includes(visibility)) {
    throw new UsageError(
      `--visibility ${visibility}: expected one of ${GRADESCOPE_VISIBILITY.join(", ")}`,
    );
  }
  const notebooks = typeof values.notebooks === "string"
    ? notebooksFlag(values.notebooks)
    : undefined;
  const entries = await writeAutograder(LAB_ROOT, target, {
    notebooks,
    visibility,
  });
  console.log(
    `wrote ${target}: Gradescope's autograder (setup.sh, run_autograder and ${
      entries.length - 2
    } files of the grader), grading ${(notebooks ?? ["all six notebooks"]).join(", ")}. ` +
      "Upload it under Configure Autograder (Ubuntu 22.04 base image)",
  );
}

/** Runs the task with the command-line arguments `argv`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  if (typeof args.values.autograder === "string") {
    if (typeof args.values.handout === "string") {
      throw new UsageError("--autograder and --handout are separate runs; give one");
    }
    await releaseAutograder(args.values.autograder, args.values);
    return;
  }
  const handout = args.values.handout;
  if (typeof handout === "string") {
    const target = resolve(userCwd(), handout);
    await checkHandoutDir(target, LAB_ROOT);
    const { stale } = await releaseNotebooks(LAB_ROOT, { check: true });
    if (stale.length > 0) throw staleError(stale, "run 'deno task release', then make the handout");
    const notebooks = typeof args.values.notebooks === "string"
      ? notebooksFlag(args.values.notebooks)
      : undefined;
    const { dir, files } = await writeHandout(LAB_ROOT, target, { notebooks });
    console.log(
      `wrote the handout to ${dir}: ${files.length} files, without notebooks/solutions/, with ` +
        `GitHub Classroom's autograding in ${CLASSROOM_WORKFLOW}. ` +
        `Students run there: npx -y deno@2.9.6 task --quiet lab`,
    );
    return;
  }
  const check = Boolean(args.values.check);
  const { stale } = await releaseNotebooks(LAB_ROOT, { check, force: Boolean(args.values.force) });
  if (check && stale.length > 0) throw staleError(stale, "run 'deno task release'");
}

if (import.meta.main) await runMain(() => main(Deno.args));

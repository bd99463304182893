/**
 * Writing the student notebooks from the solutions without ever losing a student's work.
 *
 * `deno task release` rewrites `notebooks/*.ipynb` from `notebooks/solutions/`. Those same files
 * are where a student (or an instructor trying the student's loop) writes answers, so a release
 * that simply overwrote them once destroyed three answered notebooks. Here a student notebook
 * that holds work, meaning an answer cell whose code differs from the release's stub, or a cell
 * the release does not have, is never overwritten: the release refuses, names the notebooks
 * and the cells, and says how to keep them; with `force` it first moves them to a backup folder
 * it names. A notebook identical to its committed version holds nothing git does not keep, so
 * the release replaces it freely (the instructor's usual "I edited a solution" case).
 *
 * @module
 */
import { basename, join, relative } from "node:path";
import { LabError } from "../core/errors.ts";
import {
  cellText,
  type Notebook,
  type NotebookCell,
  readNotebook,
  studentVersion,
} from "./ipynb.ts";

/** Where the backups of overwritten student notebooks go, under the student notebooks' folder. */
export const BACKUP_FOLDER = ".backup";

/** A student notebook that holds work the release would overwrite. */
export interface StudentWork {
  /** The student notebook. */
  path: string;
  /** What holds the work: `answer cell roc`, `added cell 1a2b`, or why the file is unreadable. */
  cells: string[];
}

/** Options of {@link releaseNotebooks}. */
export interface ReleaseOptions {
  /** Only list the stale student notebooks; write nothing (default false). */
  check?: boolean;
  /** Move student notebooks that hold work to a backup folder, then write (default false). */
  force?: boolean;
  /** Names the backup folder (default: the current time, `2026-12-07T05-10-00`). */
  stamp?: string;
  /** Receives a line per notebook written or moved (default: standard output). */
  log?: (line: string) => void;
}

/** What {@link releaseNotebooks} did. */
export interface Release {
  /** Student notebooks that differ(ed) from the release of the solutions. */
  stale: string[];
  /** Where each student notebook that held work was moved (`force`), by its path. */
  movedTo: Record<string, string>;
}

/** Whether a solution cell is one a student writes in: it holds an answer region or is graded. */
function isAnswerCell(cell: NotebookCell): boolean {
  return cell.metadata.lab?.question !== undefined || /\/\/ ANSWER BEGIN/.test(cellText(cell));
}

/**
 * The cells of `current` (a student notebook as it is on disk) that a release writing `next`
 * would lose: answer cells whose code differs, and cells `next` does not have. Outputs and
 * execution counts are not work.
 */
export function workIn(current: Notebook, next: Notebook, solution: Notebook): string[] {
  const answers = new Set(solution.cells.filter(isAnswerCell).map((cell) => cell.id));
  const nextById = new Map(next.cells.map((cell) => [cell.id, cell]));
  const work: string[] = [];
  for (const cell of current.cells) {
    const released = nextById.get(cell.id);
    if (released === undefined) {
      if (cellText(cell).trim() !== "") work.push(`added cell ${cell.id}`);
    } else if (answers.has(cell.id) && cellText(cell) !== cellText(released)) {
      work.push(`answer cell ${cell.metadata.lab?.question ?? cell.id}`);
    }
  }
  return work;
}

/** The text of `path` as committed at git's HEAD, or undefined (no git, or not committed). */
async function committedText(root: string, path: string): Promise<string | undefined> {
  try {
    const result = await new Deno.Command("git", {
      args: ["show", `HEAD:./${relative(root, path)}`],
      cwd: root,
      stdout: "piped",
      stderr: "null",
    }).output();
    return result.success ? new TextDecoder().decode(result.stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** The work `current` holds that writing `text` over it would lose, or [] when none. */
async function workAt(
  root: string,
  target: string,
  current: string,
  release: { next: Notebook; solution: Notebook },
): Promise<string[]> {
  if (current === await committedText(root, target)) return [];
  let notebook: Notebook;
  try {
    notebook = JSON.parse(current);
    if (!Array.isArray(notebook?.cells)) throw new Error("no cells");
  } catch (error) {
    return [`the file is not a readable notebook (${(error as Error).message})`];
  }
  return workIn(notebook, release.next, release.solution);
}

/** `2026-12-07T05-10-00`: a stamp for a backup folder, sortable and valid in every file system. */
function timeStamp(): string {
  return new Date().toISOString().slice(0, 19).replaceAll(":", "-");
}

/** `folder`, or `folder-2`, `folder-3`...: the first that does not exist, so no backup is replaced. */
async function unusedFolder(folder: string): Promise<string> {
  for (let n = 1;; n++) {
    const candidate = n === 1 ? folder : `${folder}-${n}`;
    try {
      await Deno.lstat(candidate);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return candidate;
      throw error;
    }
  }
}

/** The error that refuses a release over student work, saying what it is and how to keep it. */
function workError(root: string, work: StudentWork[], backup: string): LabError {
  const where = work.map((w) => `${relative(root, w.path)} (${w.cells.join(", ")})`).join("; ");
  return new LabError(
    `release would overwrite work in ${where}: nothing was written. To keep it, copy those ` +
      `notebooks out of notebooks/ first, or run 'deno task release --force', which moves them ` +
      `to ${relative(root, backup)}/ before writing`,
  );
}

/**
 * Writes the student notebooks of the lab at `root` (`notebooks/*.ipynb`) from its solutions
 * (`notebooks/solutions/`), or with `check` only lists the stale ones.
 *
 * @throws {LabError} when a student notebook holds work (see {@link workIn}) and `force` is not
 * set; then nothing is written
 */
export async function releaseNotebooks(
  root: string,
  options: ReleaseOptions = {},
): Promise<Release> {
  const log = options.log ?? ((line: string) => console.log(line));
  const solutions = join(root, "notebooks", "solutions");
  const students = join(root, "notebooks");
  const backup = await unusedFolder(join(students, BACKUP_FOLDER, options.stamp ?? timeStamp()));
  const writes: { target: string; text: string; work: string[] }[] = [];
  const names: string[] = [];
  for await (const entry of Deno.readDir(solutions)) {
    if (entry.isFile && entry.name.endsWith(".ipynb")) names.push(entry.name);
  }
  for (const name of names.sort()) {
    const solution = await readNotebook(join(solutions, name));
    const next = studentVersion(solution, name);
    const text = JSON.stringify(next, null, 1) + "\n";
    const target = join(students, basename(name));
    let current: string | undefined;
    try {
      current = await Deno.readTextFile(target);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (current === text) continue;
    const work = current === undefined || options.check
      ? []
      : await workAt(root, target, current, { next, solution });
    writes.push({ target, text, work });
  }
  const stale = writes.map((w) => w.target);
  const withWork = writes.filter((w) => w.work.length > 0);
  if (options.check) return { stale, movedTo: {} };
  if (withWork.length > 0 && !options.force) {
    throw workError(root, withWork.map((w) => ({ path: w.target, cells: w.work })), backup);
  }
  const movedTo: Record<string, string> = {};
  for (const { target, text, work } of writes) {
    if (work.length > 0) {
      const to = join(backup, basename(target));
      await Deno.mkdir(backup, { recursive: true });
      await Deno.rename(target, to);
      movedTo[target] = to;
      log(`moved ${relative(root, target)} (${work.join(", ")}) to ${relative(root, to)}`);
    }
    await Deno.writeTextFile(target, text);
    log(`wrote ${relative(root, target)}`);
  }
  return { stale, movedTo };
}

/**
 * The autograder: grades one notebook or a folder of them, question by question, without
 * running the heavy cells. Each graded cell (`metadata.lab.question`) is written out as a module
 * with the imports the notebook made before it, and checked in its own Deno process that may
 * only read (no writes, network or subprocesses) and is killed after a time limit; so an
 * answer that throws, loops or misbehaves scores zero with its message, and cannot touch
 * another question's grade or the grader's files.
 *
 * @module
 */
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError } from "./errors.ts";
import { writeLabFile } from "./hdf5.ts";
import { TEST_FILE, TRAIN_FILE } from "./dataset.ts";
import { cellText, importsBefore, type Notebook, questionCells, readNotebook } from "./notebook.ts";
import { type CheckResult, FIXTURE_CHECKPOINT, type Question, QUESTIONS } from "./questions.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import { createModel } from "./model.ts";

const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const WORKER = join(REPO_ROOT, "lib", "grader_worker.ts");
/** Seconds a question's check may run before it is stopped. */
export const QUESTION_TIMEOUT_SECONDS = 60;

/** The grade of one question. */
export interface QuestionGrade {
  /** Question id. */
  id: string;
  /** Points scored. */
  points: number;
  /** Points available. */
  max: number;
  /** Whether the answer is right. */
  passed: boolean;
  /** `ok`, `not answered`, or what went wrong. */
  message: string;
}

/** The grade of one notebook. */
export interface NotebookGrade {
  /** Path of the notebook. */
  path: string;
  /** Its questions. */
  questions: QuestionGrade[];
}

/** The grade of a notebook or folder: the JSON `deno task grade --json` prints. */
export interface GradeReport {
  /** Points scored. */
  score: number;
  /** Points available. */
  max: number;
  /** Each notebook graded. */
  notebooks: NotebookGrade[];
}

/** Options of {@link gradePath}. */
export interface GradeOptions {
  /** Seconds each question may run (default {@link QUESTION_TIMEOUT_SECONDS}). */
  timeoutSeconds?: number;
}

/** The lab notebook a file is (`04_roc` for `alice/04_roc.ipynb`), or undefined. */
export function notebookName(path: string): string | undefined {
  const name = basename(path, ".ipynb");
  return Object.keys(QUESTIONS).find((known) => name === known || name.endsWith(`_${known}`)) ??
    Object.keys(QUESTIONS).find((known) => name.includes(known));
}

/** Writes the small files some checks read: 4 training and 2 test images, a tiny checkpoint. */
async function writeFixtures(dir: string): Promise<void> {
  const image = (n: number) => new Uint8Array(n * 256 * 256).map((_, i) => (i * 7) % 256);
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 2);
  await writeLabFile(join(dir, TRAIN_FILE), { images: image(4), labels: labels(4) });
  await writeLabFile(join(dir, TEST_FILE), { images: image(2), labels: labels(2) });
  const model = createModel({ width: 2, imageSize: 32, seed: 3 });
  await saveCheckpoint(model, join(dir, FIXTURE_CHECKPOINT));
  model.dispose();
}

/** The module a graded cell becomes: its imports, its code, and an `answer` object of names. */
function answerModule(notebook: Notebook, question: Question, code: string, cellId: string) {
  const cell = notebook.cells.find((c) => c.id === cellId)!;
  const names = question.names.map((name) =>
    `  get ${name}() { return typeof ${name} === "undefined" ? undefined : ${name}; },`
  );
  return [
    ...importsBefore(notebook, cell),
    code,
    "export const answer = {",
    ...names,
    "};",
    "",
  ].join("\n");
}

async function runCheck(
  notebook: string,
  question: Question,
  answerPath: string,
  fixtureDir: string,
  timeoutSeconds: number,
): Promise<CheckResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--config=${join(REPO_ROOT, "deno.json")}`,
      `--allow-read=${REPO_ROOT},${dirname(answerPath)},${fixtureDir}`,
      "--allow-env",
      WORKER,
      notebook,
      question.id,
      answerPath,
      fixtureDir,
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutSeconds * 1000);
  const output = await child.output();
  clearTimeout(timer);
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  try {
    return JSON.parse(lines.at(-1) ?? "");
  } catch {
    if (output.signal === "SIGKILL") {
      return {
        passed: false,
        message: `stopped after ${timeoutSeconds} s (an endless loop, or very slow code?)`,
      };
    }
    const error = new TextDecoder().decode(output.stderr).trim().split("\n")
      .find((line) => /error/i.test(line)) ?? "no output";
    return {
      passed: false,
      message: `the cell does not run: ${error}`,
    };
  }
}

/** Grades one notebook file. */
export async function gradeNotebook(
  path: string,
  options: GradeOptions = {},
): Promise<NotebookGrade> {
  const name = notebookName(path);
  if (!name) {
    throw new LabError(
      `${path}: not one of the lab's notebooks (${Object.keys(QUESTIONS).join(", ")})`,
    );
  }
  const notebook = await readNotebook(path);
  const cells = questionCells(notebook);
  const work = await Deno.makeTempDir({ prefix: "lab-grade-" });
  try {
    const fixtureDir = join(work, "fixtures");
    await Deno.mkdir(fixtureDir);
    await writeFixtures(fixtureDir);
    const questions: QuestionGrade[] = [];
    for (const question of QUESTIONS[name]) {
      const cell = cells.get(question.id);
      let result: CheckResult;
      if (!cell) {
        result = { passed: false, message: `no cell for question '${question.id}' (deleted?)` };
      } else {
        const answerDir = await Deno.makeTempDir({ dir: work, prefix: `${question.id}-` });
        const answerPath = join(answerDir, "answer.ts");
        await Deno.writeTextFile(
          answerPath,
          answerModule(notebook, question, cellText(cell), cell.id),
        );
        result = await runCheck(
          name,
          question,
          answerPath,
          fixtureDir,
          options.timeoutSeconds ?? QUESTION_TIMEOUT_SECONDS,
        );
      }
      questions.push({
        id: question.id,
        points: result.passed ? question.points : 0,
        max: question.points,
        passed: result.passed,
        message: result.message,
      });
    }
    return { path, questions };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * Grades one notebook of a folder; a notebook that cannot be read scores zero on each of its
 * questions with the reason, and the folder's other notebooks are still graded.
 */
async function gradeOrReport(path: string, options: GradeOptions): Promise<NotebookGrade> {
  try {
    return await gradeNotebook(path, options);
  } catch (error) {
    if (!(error instanceof LabError)) throw error;
    const questions = QUESTIONS[notebookName(path)!].map((q) => ({
      id: q.id,
      points: 0,
      max: q.points,
      passed: false,
      message: error.message,
    }));
    return { path, questions };
  }
}

async function findNotebooks(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory && !entry.name.startsWith(".")) found.push(...await findNotebooks(path));
    if (entry.isFile && entry.name.endsWith(".ipynb") && notebookName(path)) found.push(path);
  }
  return found.sort();
}

/** Grades a notebook, or every lab notebook in a folder and its subfolders. */
export async function gradePath(path: string, options: GradeOptions = {}): Promise<GradeReport> {
  let stat;
  try {
    stat = await Deno.stat(path);
  } catch {
    throw new LabError(`${path}: not found`);
  }
  const paths = stat.isDirectory ? await findNotebooks(path) : [path];
  if (paths.length === 0) throw new LabError(`${path}: no lab notebooks in this folder`);
  const notebooks: NotebookGrade[] = [];
  for (const each of paths) {
    notebooks.push(
      stat.isDirectory ? await gradeOrReport(each, options) : await gradeNotebook(each, options),
    );
  }
  const all = notebooks.flatMap((n) => n.questions);
  return {
    score: all.reduce((sum, q) => sum + q.points, 0),
    max: all.reduce((sum, q) => sum + q.max, 0),
    notebooks,
  };
}

function csvField(value: unknown): string {
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The report as CSV, one row per question, paths relative to `base`. */
export function reportToCsv(report: GradeReport, base = "."): string {
  const rows = [["notebook", "question", "points", "max", "passed", "message"]];
  for (const notebook of report.notebooks) {
    for (const q of notebook.questions) {
      rows.push([
        relative(base, notebook.path),
        q.id,
        String(q.points),
        String(q.max),
        String(q.passed),
        q.message,
      ]);
    }
  }
  return rows.map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

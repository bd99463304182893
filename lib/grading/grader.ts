/**
 * The autograder: grades one notebook or a folder of them, question by question, without
 * running the heavy cells. Each graded cell (`metadata.lab.question`) is written out as a module
 * with the imports the notebook made before it, and checked in its own Deno process that may
 * only read its answer and the fixtures (no writes, network, subprocesses or other files) and
 * is killed after a time limit; so an answer that throws, loops or misbehaves scores zero with
 * its message, and cannot touch another question's grade or the grader's files.
 *
 * No import can fool it: the references live outside `"lab"`, answer cells may not import or
 * reach the file system at all, and the cells before them may import only `"lab"` and
 * TensorFlow.js. A notebook that tries scores zero on that question, saying what it found.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError } from "../core/errors.ts";
import { writeLabFile } from "../data/lab_files.ts";
import { TEST_FILE, TRAIN_FILE } from "../data/dataset.ts";
import { cellText, importsBefore, questionCells, readNotebook } from "./ipynb.ts";
import { type CheckResult, FIXTURE_CHECKPOINT, type Question, QUESTIONS } from "./questions.ts";
import { saveCheckpoint } from "../model/checkpoint/mod.ts";
import { createModel } from "../model/model.ts";
import { LAB_ROOT } from "../core/paths.ts";
import { IMAGE_SIZE } from "../data/schema.ts";

const WORKER = fileURLToPath(new URL("./grader_worker.ts", import.meta.url));
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
  /** Whose it is: its folder under the graded one, or its file name's prefix (`alice_`). */
  student: string;
  /** Its questions. */
  questions: QuestionGrade[];
}

/** One student's subtotal. */
export interface StudentGrade {
  /** The student (see {@link NotebookGrade.student}). */
  student: string;
  /** Points scored (of a notebook handed in twice, the better copy counts). */
  score: number;
  /** Points available in the whole assignment, handed in or not. */
  max: number;
  /** The assignment's notebooks they did not hand in (`04_roc`), which score zero. */
  missing: string[];
}

/** The grade of a notebook or folder: the JSON `deno task grade --json` prints. */
export interface GradeReport {
  /** Points scored, summed over the students. */
  score: number;
  /** Points available: the assignment's, times the number of students. */
  max: number;
  /** The notebooks graded (`04_roc`...): every student is graded on all of them. */
  assignment: string[];
  /** Each student's subtotal, in order of name. */
  students: StudentGrade[];
  /** Each notebook graded. */
  notebooks: NotebookGrade[];
}

/** Options of {@link gradePath}. */
export interface GradeOptions {
  /** Seconds each question may run (default {@link QUESTION_TIMEOUT_SECONDS}). */
  timeoutSeconds?: number;
  /** The folder students are named from (see {@link studentOf}; default the notebook's). */
  root?: string;
  /** Grade only these question ids (default: every question of the notebook). */
  questions?: readonly string[];
  /**
   * The notebooks of the assignment (`["04_roc", "05_cam"]`): others in a folder are not graded,
   * and a student who did not hand one in scores zero on it. Default: every lab notebook when a
   * folder is graded, the notebook itself when a file is.
   */
  notebooks?: readonly string[];
}

/**
 * The lab notebooks `names` names, each by its name (`04_roc`) or number (`04`, `4`).
 *
 * @throws {LabError} naming what is not one of the lab's notebooks
 */
export function assignmentNotebooks(names: readonly string[]): string[] {
  const known = Object.keys(QUESTIONS);
  return names.map((name) => {
    const found = known.find((k) => k === name || Number(k.split("_")[0]) === Number(name));
    if (!found || name.trim() === "") {
      throw new LabError(`'${name}' is not one of the lab's notebooks (${known.join(", ")})`);
    }
    return found;
  });
}

/** The lab notebook a file is (`04_roc` for `alice/04_roc.ipynb`), or undefined. */
export function notebookName(path: string): string | undefined {
  const name = basename(path, ".ipynb");
  return Object.keys(QUESTIONS).find((known) => name === known || name.endsWith(`_${known}`)) ??
    Object.keys(QUESTIONS).find((known) => name.includes(known));
}

/**
 * Whose notebook `path` is, graded from `root`: the first folder under the graded one
 * (`alice/04_roc.ipynb`), else the file name's prefix (`alice_04_roc.ipynb`), else `-`.
 */
export function studentOf(path: string, root: string): string {
  const [first, ...rest] = relative(root, path).split(/[\\/]/);
  if (rest.length > 0 && first !== "..") return first;
  const name = basename(path, ".ipynb");
  const known = notebookName(path);
  const prefix = known && name.endsWith(known) ? name.slice(0, -known.length) : "";
  return prefix.replace(/[-_ .]+$/, "") || "-";
}

/** Module specifiers a graded notebook may import from. */
export const ALLOWED_IMPORTS: readonly string[] = ["lab", "@tensorflow/tfjs"];

/**
 * What an answer cell may not do, each with what to call it: import anything, or reach files,
 * the network, other processes or code built from strings (ways to read the references).
 */
const FORBIDDEN_IN_ANSWERS: [RegExp, string][] = [
  [/^\s*import\s/m, "an import statement"],
  [/\bimport\s*\(/, "import(...)"],
  [/\bimport\s*\.\s*meta\b/, "import.meta"],
  [/\brequire\s*\(/, "require(...)"],
  [/\bDeno\b/, "the Deno API"],
  [/\bfetch\s*\(/, "fetch(...)"],
  [/\beval\b/, "eval"],
  [/\bFunction\s*\(/, "Function(...)"],
  [/\bglobalThis\b/, "globalThis"],
  [/\bWorker\b/, "a Worker"],
];

/** The code without its comments (so a comment that says "import" is no offence). */
function withoutComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/**
 * Why a graded cell's answer cannot be graded as the student's own work, or undefined: the
 * answer cell imports or reaches outside, or an earlier cell imports from a module other than
 * {@link ALLOWED_IMPORTS}.
 */
export function forbiddenUse(code: string, imports: string[]): string | undefined {
  for (const statement of imports) {
    const specifier = statement.match(/from\s+["']([^"']+)["']/)?.[1];
    if (specifier !== undefined && !ALLOWED_IMPORTS.includes(specifier)) {
      return `the notebook imports "${specifier}"; a graded notebook may import only from ` +
        `${ALLOWED_IMPORTS.map((s) => `"${s}"`).join(" and ")}, so this answer scores zero`;
    }
  }
  const stripped = withoutComments(code);
  for (const [pattern, what] of FORBIDDEN_IN_ANSWERS) {
    if (pattern.test(stripped)) {
      return `the answer cell uses ${what}; answers may not import anything or reach files, so ` +
        "this answer scores zero: write it with what the notebook imported";
    }
  }
  return undefined;
}

/** Writes the small files some checks read: 4 training and 2 test images, a tiny checkpoint. */
export async function writeFixtures(dir: string): Promise<void> {
  await tf.ready();
  const image = (n: number) =>
    new Uint8Array(n * IMAGE_SIZE * IMAGE_SIZE).map((_, i) => (i * 7) % 256);
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 2);
  await writeLabFile(join(dir, TRAIN_FILE), { images: image(4), labels: labels(4) });
  await writeLabFile(join(dir, TEST_FILE), { images: image(2), labels: labels(2) });
  const model = createModel({ width: 2, imageSize: 32, seed: 3 });
  await saveCheckpoint(model, join(dir, FIXTURE_CHECKPOINT));
  model.dispose();
}

/** The module a graded cell becomes: its imports, its code, and an `answer` object of names. */
function answerModule(question: Question, imports: string[], code: string) {
  const names = question.names.map((name) =>
    `  get ${name}() { return typeof ${name} === "undefined" ? undefined : ${name}; },`
  );
  return [
    ...imports,
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
      `--config=${join(LAB_ROOT, "deno.json")}`,
      // Only the answer and the fixtures: the worker loads the lab before the answer, so the
      // answer can use "lab" but read no other file, the references included.
      `--allow-read=${dirname(answerPath)},${fixtureDir}`,
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
  tf.enableProdMode(); // tfjs's banner on first use of its cpu backend is not for graders
  const work = await Deno.makeTempDir({ prefix: "lab-grade-" });
  try {
    const fixtureDir = join(work, "fixtures");
    await Deno.mkdir(fixtureDir);
    await writeFixtures(fixtureDir);
    const checkCell = async (question: Question, imports: string[], code: string) => {
      const answerDir = await Deno.makeTempDir({ dir: work, prefix: `${question.id}-` });
      const answerPath = join(answerDir, "answer.ts");
      await Deno.writeTextFile(answerPath, answerModule(question, imports, code));
      const seconds = options.timeoutSeconds ?? QUESTION_TIMEOUT_SECONDS;
      return await runCheck(name, question, answerPath, fixtureDir, seconds);
    };
    const questions: QuestionGrade[] = [];
    const asked = QUESTIONS[name].filter((q) => options.questions?.includes(q.id) ?? true);
    for (const question of asked) {
      const cell = cells.get(question.id);
      let result: CheckResult;
      if (!cell) {
        result = { passed: false, message: `no cell for question '${question.id}' (deleted?)` };
      } else {
        const imports = importsBefore(notebook, cell);
        const forbidden = forbiddenUse(cellText(cell), imports);
        result = forbidden === undefined
          ? await checkCell(question, imports, cellText(cell))
          : { passed: false, message: forbidden };
      }
      questions.push({
        id: question.id,
        points: result.passed ? question.points : 0,
        max: question.points,
        passed: result.passed,
        message: result.message,
      });
    }
    return { path, student: studentOf(path, options.root ?? dirname(path)), questions };
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
    return { path, student: studentOf(path, options.root ?? dirname(path)), questions };
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
  const found = stat.isDirectory ? await findNotebooks(path) : [path];
  const assignment = options.notebooks
    ? assignmentNotebooks(options.notebooks)
    : stat.isDirectory
    ? Object.keys(QUESTIONS)
    : found.map((p) => notebookName(p)).filter((name) => name !== undefined);
  const paths = found.filter((p) => assignment.includes(notebookName(p)!));
  if (paths.length === 0) {
    throw new LabError(`${path}: no notebook of the assignment (${assignment.join(", ")}) here`);
  }
  const each = { ...options, root: options.root ?? (stat.isDirectory ? path : dirname(path)) };
  const notebooks: NotebookGrade[] = [];
  for (const notebook of paths) {
    notebooks.push(
      stat.isDirectory ? await gradeOrReport(notebook, each) : await gradeNotebook(notebook, each),
    );
  }
  const students = studentTotals(notebooks, assignment);
  return {
    score: students.reduce((sum, s) => sum + s.score, 0),
    max: students.reduce((sum, s) => sum + s.max, 0),
    assignment,
    students,
    notebooks,
  };
}

/** Points available in the lab notebook `name`. */
export function notebookPoints(name: string): number {
  return QUESTIONS[name].reduce((sum, q) => sum + q.points, 0);
}

/**
 * Each student's subtotal over the assignment: the best copy of each notebook they handed in,
 * zero for each they did not.
 */
function studentTotals(notebooks: NotebookGrade[], assignment: string[]): StudentGrade[] {
  const names = [...new Set(notebooks.map((n) => n.student))].sort();
  return names.map((student) => {
    const best = new Map<string, number>();
    for (const notebook of notebooks.filter((n) => n.student === student)) {
      const name = notebookName(notebook.path)!;
      const score = notebook.questions.reduce((sum, q) => sum + q.points, 0);
      best.set(name, Math.max(best.get(name) ?? 0, score));
    }
    return {
      student,
      score: [...best.values()].reduce((sum, score) => sum + score, 0),
      max: assignment.reduce((sum, name) => sum + notebookPoints(name), 0),
      missing: assignment.filter((name) => !best.has(name)),
    };
  });
}

/** The message of a question whose notebook was not handed in. */
export const MISSING = "not handed in";

function csvField(value: unknown): string {
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The report as CSV, one row per question, with the paths as the report gives them; the
 * questions of a notebook a student did not hand in follow, as `04_roc (missing)`.
 */
export function reportToCsv(report: GradeReport): string {
  const rows = [["student", "notebook", "question", "points", "max", "passed", "message"]];
  for (const notebook of report.notebooks) {
    for (const q of notebook.questions) {
      rows.push([
        notebook.student,
        notebook.path,
        q.id,
        String(q.points),
        String(q.max),
        String(q.passed),
        q.message,
      ]);
    }
  }
  for (const { student, missing } of report.students) {
    for (const name of missing) {
      for (const q of QUESTIONS[name]) {
        rows.push([student, `${name} (missing)`, q.id, "0", String(q.points), "false", MISSING]);
      }
    }
  }
  return rows.map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

/** A Gradescope autograder `results.json`: one test per question, named by student and path. */
export function reportToGradescope(report: GradeReport): Record<string, unknown> {
  return {
    score: report.score,
    tests: report.notebooks.flatMap((notebook) =>
      notebook.questions.map((q) => ({
        name: `${notebook.student} ${notebook.path} ${q.id}`,
        score: q.points,
        max_score: q.max,
        output: q.message,
      }))
    ),
  };
}

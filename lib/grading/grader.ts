/**
 * The autograder: grades one notebook or a folder of them, question by question, without
 * running the heavy cells. Each graded cell (`metadata.lab.question`) is written out as a module
 * with the imports the notebook made before it, and checked in a Deno process of its student's
 * (sandbox.ts) that may only read that student's answers and the fixtures (no writes, network,
 * subprocesses or other files), with a time limit per question; so an answer that throws, loops
 * or misbehaves scores zero with its message, and cannot touch another student's grade or the
 * grader's files. Students are graded in parallel, one process each, one per core by default.
 *
 * No import can fool it: the references live outside `"lab"`, answer cells may not import or
 * reach the file system at all, and the cells before them may import only `"lab"` and
 * TensorFlow.js. A notebook that tries scores zero on that question, saying what it found.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { basename, dirname, join, relative } from "node:path";
import { LabError } from "../core/errors.ts";
import { writeLabFile } from "../data/lab_files.ts";
import { TEST_FILE, TRAIN_FILE } from "../data/dataset.ts";
import { cellText, importsBefore, questionCells, readNotebook } from "./ipynb.ts";
import { FIXTURE_CHECKPOINT, type Question, QUESTIONS } from "./questions.ts";
import { saveCheckpoint } from "../model/checkpoint/mod.ts";
import { createModel } from "../model/model.ts";
import { inPool, runSandboxed, type SandboxJob, type SandboxOptions } from "./sandbox.ts";
import { IMAGE_SIZE } from "../data/schema.ts";

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
  /** Students graded at once, each in a sandboxed process (default: one per core). */
  jobs?: number;
  /**
   * Grade the folder as one student's submission, under this name: every notebook in it is
   * theirs, whatever its folder (Gradescope's `submission/`); none at all scores zero, all missing.
   */
  student?: string;
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

/** A notebook read and its questions prepared: static verdicts now, the rest for a sandbox. */
interface Prepared {
  grade: NotebookGrade;
  /** Questions still to check: their index in `grade.questions`, and the job. */
  pending: { index: number; job: SandboxJob }[];
}

/** An unreadable notebook's grade: zero on each of its questions, with the reason. */
function unreadable(path: string, student: string, message: string): NotebookGrade {
  const questions = QUESTIONS[notebookName(path)!].map((q) => ({
    id: q.id,
    points: 0,
    max: q.points,
    passed: false,
    message,
  }));
  return { path, student, questions };
}

/**
 * Reads the notebook at `path` and decides what needs no sandbox (a missing cell, a forbidden
 * import or API); writes the other answers as modules under `answerDir`.
 *
 * @throws {LabError} when the file is not a lab notebook or cannot be read
 */
async function prepare(
  path: string,
  student: string,
  answerDir: string,
  questions?: readonly string[],
): Promise<Prepared> {
  const name = notebookName(path);
  if (!name) {
    throw new LabError(
      `${path}: not one of the lab's notebooks (${Object.keys(QUESTIONS).join(", ")})`,
    );
  }
  const notebook = await readNotebook(path);
  const cells = questionCells(notebook);
  const asked = QUESTIONS[name].filter((q) => questions?.includes(q.id) ?? true);
  const grade: NotebookGrade = { path, student, questions: [] };
  const pending: Prepared["pending"] = [];
  for (const question of asked) {
    const cell = cells.get(question.id);
    const index = grade.questions.length;
    grade.questions.push({
      id: question.id,
      points: 0,
      max: question.points,
      passed: false,
      message: `no cell for question '${question.id}' (deleted?)`,
    });
    if (!cell) continue;
    const imports = importsBefore(notebook, cell);
    const forbidden = forbiddenUse(cellText(cell), imports);
    if (forbidden !== undefined) {
      grade.questions[index].message = forbidden;
      continue;
    }
    const dir = await Deno.makeTempDir({ dir: answerDir, prefix: `${name}-${question.id}-` });
    const answerPath = join(dir, "answer.ts");
    await Deno.writeTextFile(answerPath, answerModule(question, imports, cellText(cell)));
    pending.push({ index, job: { notebook: name, id: question.id, answerPath } });
  }
  return { grade, pending };
}

/** Fills in the sandboxed questions of one student's notebooks. */
async function checkStudent(prepared: Prepared[], options: SandboxOptions): Promise<void> {
  const pending = prepared.flatMap(({ grade, pending }) =>
    pending.map(({ index, job }) => ({ question: grade.questions[index], job }))
  );
  const results = await runSandboxed(pending.map((p) => p.job), options);
  pending.forEach(({ question }, i) => {
    question.passed = results[i].passed;
    question.points = results[i].passed ? question.max : 0;
    question.message = results[i].message;
  });
}

/** Options of {@link gradeFiles}. */
interface GradeFilesOptions extends GradeOptions {
  /** Score an unreadable notebook zero, with the reason, instead of throwing (a folder). */
  tolerant: boolean;
  /** The folder students are named from. */
  root: string;
}

/**
 * Grades notebook files: one sandboxed process per student at a time, up to
 * {@link GradeOptions.jobs} at once, on fixtures written once.
 */
async function gradeFiles(paths: string[], options: GradeFilesOptions): Promise<NotebookGrade[]> {
  const work = await Deno.makeTempDir({ prefix: "lab-grade-" });
  try {
    const fixtureDir = join(work, "fixtures");
    await Deno.mkdir(fixtureDir);
    await writeFixtures(fixtureDir);
    const byStudent = new Map<string, Prepared[]>();
    const grades: NotebookGrade[] = [];
    for (const path of paths) {
      const student = options.student ?? studentOf(path, options.root);
      if (!byStudent.has(student)) byStudent.set(student, []);
      const answerDir = join(work, `student-${[...byStudent.keys()].indexOf(student)}`);
      await Deno.mkdir(answerDir, { recursive: true });
      let prepared: Prepared;
      try {
        prepared = await prepare(path, student, answerDir, options.questions);
      } catch (error) {
        if (!(error instanceof LabError) || !options.tolerant) throw error;
        prepared = { grade: unreadable(path, student, error.message), pending: [] };
      }
      byStudent.get(student)!.push(prepared);
      grades.push(prepared.grade);
    }
    const timeoutSeconds = options.timeoutSeconds ?? QUESTION_TIMEOUT_SECONDS;
    const tasks = [...byStudent.values()].map((prepared, k) => () =>
      checkStudent(prepared, {
        answerDir: join(work, `student-${k}`),
        fixtureDir,
        timeoutSeconds,
      })
    );
    await inPool(tasks, options.jobs ?? defaultJobs());
    return grades;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** Sandboxes run at once by default: one per core. */
export function defaultJobs(): number {
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}

/** Grades one notebook file. */
export async function gradeNotebook(
  path: string,
  options: GradeOptions = {},
): Promise<NotebookGrade> {
  const [grade] = await gradeFiles([path], {
    ...options,
    tolerant: false,
    root: options.root ?? dirname(path),
  });
  return grade;
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

/**
 * Grades a notebook, or every lab notebook of the assignment in a folder and its subfolders; in
 * a folder, a notebook that cannot be read scores zero on each of its questions with the reason,
 * and the others are still graded.
 */
export async function gradePath(path: string, options: GradeOptions = {}): Promise<GradeReport> {
  let stat;
  try {
    stat = await Deno.stat(path);
  } catch {
    throw new LabError(`${path}: not found`);
  }
  if (!stat.isDirectory && notebookName(path) === undefined) {
    throw new LabError(
      `${path}: not one of the lab's notebooks (${Object.keys(QUESTIONS).join(", ")})`,
    );
  }
  const found = stat.isDirectory ? await findNotebooks(path) : [path];
  const assignment = options.notebooks
    ? assignmentNotebooks(options.notebooks)
    : stat.isDirectory
    ? Object.keys(QUESTIONS)
    : found.map((p) => notebookName(p)).filter((name) => name !== undefined);
  const paths = found.filter((p) => assignment.includes(notebookName(p)!));
  if (paths.length === 0 && options.student === undefined) {
    throw new LabError(`${path}: no notebook of the assignment (${assignment.join(", ")}) here`);
  }
  const notebooks = paths.length === 0 ? [] : await gradeFiles(paths, {
    ...options,
    tolerant: stat.isDirectory,
    root: options.root ?? (stat.isDirectory ? path : dirname(path)),
  });
  const students = notebooks.length === 0 && options.student !== undefined
    ? [{ student: options.student, score: 0, max: points(assignment), missing: assignment }]
    : studentTotals(notebooks, assignment);
  return {
    score: students.reduce((sum, s) => sum + s.score, 0),
    max: students.reduce((sum, s) => sum + s.max, 0),
    assignment,
    students,
    notebooks,
  };
}

/** Points available in the lab notebooks `names`. */
function points(names: readonly string[]): number {
  return names.flatMap((name) => QUESTIONS[name]).reduce((sum, q) => sum + q.points, 0);
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
      max: points(assignment),
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

/** Who sees a Gradescope test: Gradescope's `visibility` values. */
export const GRADESCOPE_VISIBILITY = ["visible", "after_due_date", "after_published", "hidden"];

/** Options of {@link reportToGradescope}. */
export interface GradescopeOptions {
  /** When students see each test and its message (default `visible`). */
  visibility?: string;
}

/**
 * A Gradescope autograder `results.json`: one test per question of the assignment, with its
 * score, maximum and the grader's message as output; a notebook handed in twice counts its
 * better copy, and one not handed in scores zero on each question, saying so. Test names start
 * with the student's name when the report holds several.
 */
export function reportToGradescope(
  report: GradeReport,
  options: GradescopeOptions = {},
): Record<string, unknown> {
  const visibility = options.visibility ?? "visible";
  const tests = report.students.flatMap(({ student }) =>
    report.assignment.flatMap((name) => {
      const copies = report.notebooks.filter((n) =>
        n.student === student && notebookName(n.path) === name
      );
      const score = (n: NotebookGrade) => n.questions.reduce((sum, q) => sum + q.points, 0);
      const best = copies.reduce<NotebookGrade | undefined>(
        (a, b) => (a === undefined || score(b) > score(a) ? b : a),
        undefined,
      );
      const who = report.students.length > 1 ? `${student} ` : "";
      return QUESTIONS[name].map((question) => {
        const graded = best?.questions.find((q) => q.id === question.id);
        return {
          name: `${who}${name} ${question.id}: ${question.title}`,
          score: graded?.points ?? 0,
          max_score: question.points,
          output: graded ? graded.message : `${name}.ipynb was ${MISSING}`,
          visibility,
        };
      });
    })
  );
  return {
    score: tests.reduce((sum, t) => sum + t.score, 0),
    visibility,
    stdout_visibility: "hidden",
    tests,
  };
}

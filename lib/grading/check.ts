/**
 * `await check("cost")`: the grader's own check of one question, run in the notebook's kernel on
 * what the student's cell defined, printed as PASS or FAIL with the grader's message (the
 * convention of otter-grader's `grader.check("q1")`).
 *
 * A check cell must say what the grader will say, or a student is told PASS and graded zero.
 * The grader grades the saved notebook, each answer cell alone in a sandbox, after rules on its
 * text (no imports but `"lab"` and TensorFlow.js, no Deno API, no files...). So the check applies,
 * in order:
 * 1. the grader's rules to the saved notebook (found from `JPY_SESSION_NAME`, which Jupyter
 *    sets, else the newest notebook of that name in the kernel's folder), with its messages;
 * 2. the same rules to the code of the functions the cell defined in the kernel, and looks for
 *    the lab's references among what they reach, whatever name they were imported under, so an
 *    answer not saved yet is held to the rules too;
 * 3. the question's check on the kernel's values, as before;
 * 4. the grader itself, in its sandbox, on the saved cell: what it says is the grade.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import {
  ALLOWED_IMPORTS,
  forbiddenUse,
  gradeNotebook,
  notebookName,
  writeFixtures,
} from "./grader.ts";
import { cellText, importsBefore, questionCells, readNotebook } from "./ipynb.ts";
import { checkQuestion, type CheckResult, type Question, QUESTIONS } from "./questions.ts";
import {
  computeCam,
  computeCost,
  computeRoc,
  extractFeaturesWeights,
  groupedFolds,
  predictClass,
  shareOnTube,
  upsample,
} from "./references.ts";
import { markAnswered } from "../notebook/unanswered.ts";
import { LabError } from "../core/errors.ts";
import * as lab from "../mod.ts";

/** The lab's reference answers, by the name of the question's answer they implement. */
const REFERENCES = new Map<unknown, string>([
  [computeCost, "computeCost"],
  [predictClass, "predictClass"],
  [computeRoc, "computeRoc"],
  [extractFeaturesWeights, "extractFeaturesWeights"],
  [computeCam, "computeCam"],
  [upsample, "upsample"],
  [shareOnTube, "shareOnTube"],
  [groupedFolds, "groupedFolds"],
]);

/** Every graded question by id (ids are unique across the notebooks), with its notebook. */
function findQuestion(id: string): { question: Question; notebook: string } {
  for (const [notebook, questions] of Object.entries(QUESTIONS)) {
    const question = questions.find((q) => q.id === id);
    if (question) return { question, notebook };
  }
  const known = Object.values(QUESTIONS).flat().map((q) => q.id);
  throw new LabError(`check: no question '${id}' (the lab's are ${known.join(", ")})`);
}

/**
 * The value of the global binding `name` in the kernel, or undefined. The Deno kernel runs each
 * cell as a script, so a cell's top-level `function`, `const` and `import` are global bindings;
 * an indirect eval of the bare name is the one way to read a `const` of another script. `name`
 * is an identifier: from the lab's question table, or matched as one in the answer's own code.
 */
function globalBinding(name: string): unknown {
  try {
    // deno-lint-ignore no-eval
    return (0, eval)(`typeof ${name} === "undefined" ? undefined : ${name}`);
  } catch {
    return undefined; // a keyword, or a binding not initialized yet
  }
}

/** The saved notebook the kernel runs for `notebook` (`04_roc`), or undefined. */
function savedNotebook(notebook: string): string | undefined {
  const session = Deno.env.get("JPY_SESSION_NAME");
  if (session && notebookName(session) === notebook && existsSync(session)) return session;
  let newest: { path: string; time: number } | undefined;
  for (const entry of Deno.readDirSync(".")) {
    if (!entry.isFile || !entry.name.endsWith(".ipynb") || notebookName(entry.name) !== notebook) {
      continue;
    }
    const time = Deno.statSync(entry.name).mtime?.getTime() ?? 0;
    if (!newest || time > newest.time) newest = { path: join(Deno.cwd(), entry.name), time };
  }
  return newest?.path;
}

/** Why the saved answer cell of `id` in `path` breaks the grader's rules (its words), if it does. */
async function savedRuleBroken(path: string, id: string): Promise<string | undefined> {
  const notebook = await readNotebook(path);
  const cell = questionCells(notebook).get(id);
  return cell && forbiddenUse(cellText(cell), importsBefore(notebook, cell));
}

/** What `"lab"` exports (read when a check runs: this module is itself one of lab's). */
function labFunctions(): Set<unknown> {
  return new Set(Object.values(lab));
}

const IDENTIFIER = /[A-Za-z_$][\w$]*/g;

/**
 * Why the functions the answer defined break the grader's rules, if they do: their code (as the
 * kernel runs it) uses what answers may not, or what they reach, through the globals they name,
 * is one of the lab's references.
 */
function liveRuleBroken(answer: Record<string, unknown>): string | undefined {
  const seen = new Set<unknown>();
  const queue: [string, unknown][] = Object.entries(answer);
  while (queue.length > 0 && seen.size < 200) {
    const [name, value] = queue.shift()!;
    if (seen.has(value)) continue;
    seen.add(value);
    const reference = REFERENCES.get(value) ??
      (value !== null && typeof value === "object" && !Array.isArray(value)
        ? Object.values(value).map((v) => REFERENCES.get(v)).find((r) => r !== undefined)
        : undefined);
    if (reference !== undefined) {
      return `the notebook imports the lab's reference ${reference} (here '${name}'); a graded ` +
        `notebook may import only from ${ALLOWED_IMPORTS.map((s) => `"${s}"`).join(" and ")}, ` +
        "so this answer scores zero";
    }
    // The lab's own functions may use what answers may not; only the notebook's code is held.
    if (typeof value !== "function" || labFunctions().has(value)) continue;
    const code = Function.prototype.toString.call(value);
    const broken = forbiddenUse(code, []);
    if (broken) return broken;
    for (const [identifier] of code.matchAll(IDENTIFIER)) {
      if (identifier !== name) queue.push([identifier, globalBinding(identifier)]);
    }
  }
  return undefined;
}

/** Options of {@link check}. */
export interface CheckOptions {
  /**
   * The names the answer defines (`{ computeCost }`); by default they are read from the
   * kernel's global scope, where the answer cell put them.
   */
  answer?: Record<string, unknown>;
  /**
   * The saved notebook the grader will grade (default: Jupyter's `JPY_SESSION_NAME`, else the
   * newest notebook of the question's name in the kernel's folder); `null` checks only the
   * kernel's values.
   */
  notebook?: string | null;
}

/** What {@link checkAnswer} found: the check's result and the points it is worth. */
export interface CheckedAnswer extends CheckResult {
  /** Points scored. */
  points: number;
  /** Points available. */
  max: number;
}

/** The check of the kernel's values (step 3 of the module's list). */
async function checkLive(question: Question, answer: Record<string, unknown>) {
  const fixtureDir = await Deno.makeTempDir({ prefix: "lab-check-" });
  try {
    await writeFixtures(fixtureDir);
    return await checkQuestion(question, answer, fixtureDir).catch((error): CheckResult => ({
      passed: false,
      message: `the check failed: ${(error as Error)?.message ?? error}`,
    }));
  } finally {
    await Deno.remove(fixtureDir, { recursive: true });
  }
}

/** Checks the answer to question `id` as the grader does (see the module), without printing. */
export async function checkAnswer(id: string, options: CheckOptions = {}): Promise<CheckedAnswer> {
  const { question, notebook } = findQuestion(id);
  const answer = options.answer ??
    Object.fromEntries(question.names.map((name) => [name, globalBinding(name)]));
  const saved = options.notebook === undefined ? savedNotebook(notebook) : options.notebook;
  const broken = (saved ? await savedRuleBroken(saved, id) : undefined) ?? liveRuleBroken(answer);
  let result: CheckResult = broken === undefined
    ? await checkLive(question, answer)
    : { passed: false, message: broken };
  if (result.passed && saved) {
    const graded = (await gradeNotebook(saved, { questions: [id] })).questions[0];
    if (graded && !graded.passed) {
      result = {
        passed: false,
        message: `${graded.message} (the grader's verdict on ${basename(saved)} as saved: ` +
          "save the notebook, then run this check again)",
      };
    }
  }
  if (result.passed) markAnswered(id);
  return { ...result, points: result.passed ? question.points : 0, max: question.points };
}

/**
 * The check cell of a notebook: checks the answer to question `id` as the grader does and prints
 * one line, `PASS cost 2/2: ok` or `FAIL cost 0/2: <what the grader says>`.
 */
export async function check(id: string, options: CheckOptions = {}): Promise<void> {
  const { passed, message, points, max } = await checkAnswer(id, options);
  console.log(`${passed ? "PASS" : "FAIL"} ${id} ${points}/${max}: ${message}`);
}

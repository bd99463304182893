/**
 * `await check("cost")`: the grader's own check of one question, run in the notebook's kernel on
 * what the student's cell defined, printed as PASS or FAIL with the grader's message (the
 * convention of otter-grader's `grader.check("q1")`). It is a preview: `deno task grade` runs
 * the same check on the saved notebook, each answer cell alone in a sandbox.
 *
 * @module
 */
import { writeFixtures } from "./grader.ts";
import { type CheckResult, type Question, QUESTIONS } from "./questions.ts";
import { markAnswered } from "../notebook/unanswered.ts";
import { LabError } from "../core/errors.ts";

/** Every graded question by id (ids are unique across the notebooks). */
function findQuestion(id: string): Question {
  for (const questions of Object.values(QUESTIONS)) {
    const found = questions.find((q) => q.id === id);
    if (found) return found;
  }
  const known = Object.values(QUESTIONS).flat().map((q) => q.id);
  throw new LabError(`check: no question '${id}' (the lab's are ${known.join(", ")})`);
}

/**
 * The value of the global binding `name` in the kernel, or undefined. The Deno kernel runs each
 * cell as a script, so a cell's top-level `function` and `const` are global bindings; an
 * indirect eval of the bare name is the one way to read a `const` of another script. `name`
 * comes from the lab's question table, never from the caller.
 */
function globalBinding(name: string): unknown {
  // deno-lint-ignore no-eval
  return (0, eval)(`typeof ${name} === "undefined" ? undefined : ${name}`);
}

/** Options of {@link check}. */
export interface CheckOptions {
  /**
   * The names the answer defines (`{ computeCost }`); by default they are read from the
   * kernel's global scope, where the answer cell put them.
   */
  answer?: Record<string, unknown>;
}

/** What {@link checkAnswer} found: the check's result and the points it is worth. */
export interface CheckedAnswer extends CheckResult {
  /** Points scored. */
  points: number;
  /** Points available. */
  max: number;
}

/** Checks the answer to question `id` as the grader does, without printing. */
export async function checkAnswer(id: string, options: CheckOptions = {}): Promise<CheckedAnswer> {
  const question = findQuestion(id);
  const answer = options.answer ??
    Object.fromEntries(question.names.map((name) => [name, globalBinding(name)]));
  const fixtureDir = await Deno.makeTempDir({ prefix: "lab-check-" });
  let result: CheckResult;
  try {
    await writeFixtures(fixtureDir);
    result = await question.check({ answer, fixtureDir }).catch((error) => ({
      passed: false,
      message: `the check failed: ${(error as Error)?.message ?? error}`,
    }));
  } finally {
    await Deno.remove(fixtureDir, { recursive: true });
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

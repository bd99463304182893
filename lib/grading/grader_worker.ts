/**
 * Runs one question's check in its own sandboxed process (started by grader.ts):
 * `grader_worker.ts NOTEBOOK QUESTION ANSWER_MODULE FIXTURE_DIR`. Prints the result as JSON on
 * the last line of standard output.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { pathToFileURL } from "node:url";
import { type CheckResult, QUESTIONS } from "./questions.ts";
import "../mod.ts";
import "@tensorflow/tfjs";

async function main(): Promise<CheckResult> {
  const [notebook, id, answerPath, fixtureDir] = Deno.args;
  const question = QUESTIONS[notebook]?.find((q) => q.id === id);
  if (!question) return { passed: false, message: `unknown question ${notebook}/${id}` };
  await tf.setBackend("cpu");
  let answer: Record<string, unknown>;
  try {
    answer = (await import(pathToFileURL(answerPath).href)).answer;
  } catch (error) {
    const first = String((error as Error)?.message ?? error).split("\n")[0];
    const notAnswered = (error as Error)?.name === "NotAnsweredError";
    return { passed: false, message: notAnswered ? "not answered" : `the cell failed: ${first}` };
  }
  return await question.check({ answer, fixtureDir });
}

const result = await main().catch((error) => ({
  passed: false,
  message: `the check failed: ${(error as Error)?.message ?? error}`,
}));
console.log(JSON.stringify(result));

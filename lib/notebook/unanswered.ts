/**
 * Errors at the TODO, once. The Deno kernel does not stop a Run All at the first error (it runs
 * every queued cell), so an unanswered TODO is followed by a cascade of `dataset is not
 * defined`. In the kernel, the first cell installs a stack formatter that turns such a
 * ReferenceError into one line that points back at the TODO that stopped the notebook; the
 * kernel shows an error's stack as its traceback, so this is what the student reads.
 *
 * @module
 */
import { NotAnsweredError, onUnanswered } from "../core/errors.ts";

/** The last gap {@link todo} hit in this kernel, until its check passes or the notebook restarts. */
let pending: NotAnsweredError | undefined;
let installed = false;

/** One line naming the gap a later error follows from. */
function pointer(gap: NotAnsweredError): string {
  const what = gap.question === undefined
    ? "an unanswered TODO"
    : `the unanswered TODO '${gap.question}'${gap.answer ? ` (${gap.answer})` : ""}`;
  return `this follows from ${what} above: answer it, run its cell, then run the cells after it`;
}

/** The stack as V8 would write it, or one line and the pointer for a cascade after a gap. */
function formatStack(error: Error, frames: NodeJS.CallSite[]): string {
  const head = `${error.name}: ${error.message}`;
  if (error instanceof NotAnsweredError) return head;
  if (pending && error instanceof ReferenceError) return `${head} (${pointer(pending)})`;
  return [head, ...frames.map((frame) => `    at ${frame}`)].join("\n");
}

/**
 * Starts pointing later errors back at an unanswered TODO (idempotent); forgets the previous
 * gap, since the notebook is being run again from its first cell.
 */
export function pointErrorsAtTodos(): void {
  pending = undefined;
  if (installed) return;
  installed = true;
  onUnanswered((error) => pending = error);
  Error.prepareStackTrace = formatStack;
}

/** Forgets the gap of `question` once its answer passes its check. */
export function markAnswered(question: string): void {
  if (pending?.question === question) pending = undefined;
}

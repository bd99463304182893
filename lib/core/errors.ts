/**
 * Typed errors of the lab. Every user-facing failure is a {@link LabError}: the CLI prints its
 * message as one line (no stack trace) and exits non-zero; notebooks show the same message.
 *
 * @module
 */

/** A failure caused by the user's input or environment (a bad file, a bad flag), not a bug. */
export class LabError extends Error {
  /** Creates an error whose message is shown to the user as is. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LabError";
  }
}

/** Where in a data file a {@link DataFileError} was found. */
export interface DataFileLocation {
  /** Path of the file. */
  file: string;
  /** Name of the HDF5 dataset (`image`, `label`, ...), when the problem is in one. */
  dataset?: string;
}

/** A data file that cannot be used as the lab's schema; the message names the file and dataset. */
export class DataFileError extends LabError {
  /** Path of the offending file. */
  readonly file: string;
  /** The HDF5 dataset at fault, if any. */
  readonly dataset?: string;

  /** Creates `"<file>: dataset '<dataset>': <problem>"`. */
  constructor(location: DataFileLocation, problem: string, options?: ErrorOptions) {
    const where = location.dataset === undefined
      ? location.file
      : `${location.file}: dataset '${location.dataset}'`;
    super(`${where}: ${problem}`, options);
    this.name = "DataFileError";
    this.file = location.file;
    this.dataset = location.dataset;
  }
}

/** A command-line flag or function option outside its allowed range. */
export class UsageError extends LabError {
  /** Creates an error for a bad flag or option; the message names it and the allowed values. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Thrown by {@link todo}: a notebook gap the student has not filled in yet. */
export class NotAnsweredError extends LabError {
  /** The question whose answer is missing (`cost`), when the stub names it. */
  readonly question?: string;
  /** The function or constant to write (`computeCost`), when the stub names it. */
  readonly answer?: string;

  /**
   * Creates the error, named after the gap. In the kernel it shows as one line, without the
   * frames under the stub (see lib/unanswered.ts).
   */
  constructor(question?: string, answer?: string) {
    const what = question === undefined
      ? "this TODO"
      : `the TODO '${question}'${answer ? ` (${answer})` : ""}`;
    super(
      `${what} is not answered yet: write it in its cell, run that cell, then run this one again`,
    );
    this.name = "NotAnsweredError";
    this.question = question;
    this.answer = answer;
  }
}

/**
 * Marks a gap in a student notebook: throws a {@link NotAnsweredError} naming the question and
 * what to write. Its return type lets it stand wherever a value is expected
 * (`return todo("cost", "computeCost");`, `const x = todo("class", "PNEUMOTHORAX_CLASS");`).
 */
export function todo(question?: string, answer?: string): never {
  const error = new NotAnsweredError(question, answer);
  unansweredListeners.forEach((listener) => listener(error));
  throw error;
}

const unansweredListeners = new Set<(error: NotAnsweredError) => void>();

/**
 * Calls `listener` with each {@link NotAnsweredError} that {@link todo} throws from now on (the
 * notebook runtime uses it to point later errors back at the gap); returns the unsubscribe.
 */
export function onUnanswered(listener: (error: NotAnsweredError) => void): () => void {
  unansweredListeners.add(listener);
  return () => unansweredListeners.delete(listener);
}

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
  /** Creates the error; `what` names the gap. */
  constructor(what = "this TODO") {
    super(`${what} is not answered yet: fill in the TODO and run the cell again`);
    this.name = "NotAnsweredError";
  }
}

/**
 * Marks a gap in a student notebook: throws a {@link NotAnsweredError}. Its return type lets it
 * stand wherever a value is expected (`return todo();`, `const x = todo();`).
 */
export function todo(what?: string): never {
  throw new NotAnsweredError(what);
}

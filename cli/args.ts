/**
 * What every command-line task shares: flag parsing with one-line errors, `--help`, and a
 * main wrapper that prints a {@link LabError} as one line (no stack trace) and exits non-zero.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { LabError, UsageError } from "../lib/core/errors.ts";

/** One flag: its type, a default, and the help line. */
export interface FlagSpec {
  /** `string` flags take a value, `boolean` flags do not. */
  type: "string" | "boolean";
  /** Help text. */
  help: string;
  /** Default value, shown in the help. */
  default?: string | boolean;
}

/** A task's name, usage line and flags. */
export interface CommandSpec {
  /** Task name as in `deno task <name>`. */
  name: string;
  /** One-line description. */
  summary: string;
  /** Flags by name (without the leading dashes). */
  flags: Record<string, FlagSpec>;
  /** Name of the positional argument, if the task takes one. */
  positional?: string;
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  /** Flag values by name. */
  values: Record<string, string | boolean | undefined>;
  /** Positional arguments. */
  positionals: string[];
}

/** The `--help` text of a task. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, flag]) => {
    const value = flag.type === "string" ? ` <${name}>` : "";
    const fallback = flag.default !== undefined ? ` (default: ${flag.default})` : "";
    return `  --${name}${value}\n      ${flag.help}${fallback}`;
  });
  const positional = spec.positional ? ` ${spec.positional}` : "";
  return [
    `deno task ${spec.name}${positional} [flags]`,
    "",
    spec.summary,
    "",
    "Flags:",
    ...rows,
    "  --help\n      Show this help.",
  ].join("\n");
}

/**
 * Joins `--flag -3` into `--flag=-3` for string flags, so a negative number reaches the flag's
 * own range check instead of being read as an unknown option.
 */
function attachNegativeValues(spec: CommandSpec, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith("--") ? argv[i].slice(2) : "";
    const next = argv[i + 1];
    if (spec.flags[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else {
      out.push(argv[i]);
    }
  }
  return out;
}

/**
 * Parses `argv` against `spec`. Unknown flags, missing values and unexpected positionals are
 * {@link UsageError}s that name the flag. `--help` prints the help and exits 0.
 */
export function parseCommand(spec: CommandSpec, argv: string[]): ParsedArgs {
  const options = Object.fromEntries(
    Object.entries(spec.flags).map(([name, flag]) => [name, { type: flag.type }]),
  );
  let parsed;
  try {
    parsed = parseArgs({
      args: attachNegativeValues(spec, argv),
      options: { ...options, help: { type: "boolean" } },
      allowPositionals: spec.positional !== undefined,
      strict: true,
    });
  } catch (error) {
    const message = (error as Error).message.split("\n")[0].replace(/^TypeError: /, "");
    throw new UsageError(`${message}. Run 'deno task ${spec.name} --help' for the flags.`);
  }
  if (parsed.values.help) {
    console.log(helpText(spec));
    Deno.exit(0);
  }
  const given = parsed.values as Record<string, string | boolean | undefined>;
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    values[name] = given[name] ?? flag.default;
  }
  return { values, positionals: parsed.positionals };
}

/** Options of {@link integerFlag}. */
export interface IntegerRange {
  /** Smallest allowed value (default 1). */
  min?: number;
  /** Largest allowed value (default none). */
  max?: number;
}

/** Reads an integer flag, or throws a {@link UsageError} naming the flag and the allowed range. */
export function integerFlag(
  args: ParsedArgs,
  name: string,
  range: IntegerRange = {},
): number {
  const raw = args.values[name];
  const min = range.min ?? 1;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const allowed = range.max === undefined
    ? `an integer >= ${min}`
    : `an integer in [${min}, ${max}]`;
  const value = typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be ${allowed}, got '${raw}'`);
  }
  return value;
}

/** Reads a string flag that must be one of `choices`. */
export function choiceFlag<T extends string>(args: ParsedArgs, name: string, choices: T[]): T {
  const raw = args.values[name];
  if (typeof raw !== "string" || !choices.includes(raw as T)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got '${raw}'`);
  }
  return raw as T;
}

/** Reads a string flag that is required. */
export function requiredFlag(args: ParsedArgs, name: string, why = ""): string {
  const raw = args.values[name];
  if (typeof raw !== "string" || raw === "") {
    throw new UsageError(`--${name} is required${why ? ` ${why}` : ""}`);
  }
  return raw;
}

/**
 * Whether `error` comes from the operating system (its message ends in "(os error N)", as
 * Deno's do): a path that names a file where a folder belongs, no permission, a full disk. These
 * are the user's environment, not bugs, and Deno's message already names the path.
 */
function isOsError(error: unknown): error is Error {
  return error instanceof Error && /\(os error \d+\)/.test(error.message);
}

/**
 * Runs a task's main function: a {@link LabError} (bad input, bad flag) or an operating-system
 * error (a full disk, a file where a folder belongs) prints one line on standard error and exits
 * 1; any other error is a bug and keeps its stack trace.
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (error instanceof LabError || isOsError(error)) {
      console.error(`error: ${error.message}`);
      Deno.exit(1);
    }
    throw error;
  }
}

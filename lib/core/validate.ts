/**
 * The one integer check of the lab's options: every count, size, seed and worker number in `lib/`
 * goes through {@link requireInteger}, so a bad value always reads the same way, names the option
 * and shows what was given ("workers must be an integer >= 0, got 1.5").
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** The bounds an integer option must lie within (both inclusive). */
export interface IntegerBounds {
  /** The smallest allowed value; no lower bound when omitted. */
  min?: number;
  /** The largest allowed value; no upper bound when omitted. */
  max?: number;
  /** What the bounds are, said after them: `"the patients"` gives "in [2, 40] (the patients)". */
  why?: string;
}

/**
 * Returns `value` when it is an integer within `bounds`, else throws a {@link UsageError} that
 * names the option.
 *
 * @example
 * ```ts
 * import { requireInteger } from "./validate.ts";
 * requireInteger("workers", 4, { min: 0 }); // 4
 * ```
 */
export function requireInteger(name: string, value: number, bounds: IntegerBounds = {}): number {
  const { min, max } = bounds;
  if (
    !Number.isSafeInteger(value) || (min !== undefined && value < min) ||
    (max !== undefined && value > max)
  ) {
    const why = bounds.why === undefined ? "" : ` (${bounds.why})`;
    throw new UsageError(`${name} must be ${describeBounds(bounds)}${why}, got ${value}`);
  }
  return value;
}

function describeBounds({ min, max }: IntegerBounds): string {
  if (min !== undefined && max !== undefined) return `an integer in [${min}, ${max}]`;
  if (min !== undefined) return `an integer >= ${min}`;
  if (max !== undefined) return `an integer <= ${max}`;
  return "an integer";
}

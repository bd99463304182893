/**
 * Seeded pseudo-random numbers: every random choice in the lab takes a seed, so runs repeat.
 *
 * @module
 */

/** A generator of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * Creates a seeded generator (mulberry32: a tiny 32-bit generator, good enough for sampling
 * batches and drawing phantoms, and identical on every platform).
 *
 * @example
 * ```ts
 * import { createRandom } from "./random.ts";
 * const a = createRandom(7), b = createRandom(7);
 * if (a() !== b()) throw new Error("same seed, same numbers");
 * ```
 */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer drawn uniformly from [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** Shuffles `values` in place (Fisher-Yates) and returns it. */
export function shuffleInPlace<T>(values: T[], random: Random): T[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

/** `k` distinct integers drawn uniformly from [0, n), in the order drawn. */
export function sampleWithoutReplacement(random: Random, n: number, k: number): number[] {
  if (k > n) throw new RangeError(`cannot draw ${k} distinct values from ${n}`);
  const chosen = new Set<number>();
  const order: number[] = [];
  while (order.length < k) {
    const value = randomInt(random, n);
    if (!chosen.has(value)) {
      chosen.add(value);
      order.push(value);
    }
  }
  return order;
}

/**
 * Half-films: one half of a chest X-ray beside its own mirror image, as a whole square image.
 *
 * Why: most pneumothoraces lie on one side, so the other half of the same film is a lesion-free
 * lung of the same patient, taken with the same machine, exposure and archive. Training on the
 * lesion half against the other half teaches what a pneumothorax looks like and nothing about
 * where a film came from (SIIM's positives and NIH's negatives differ in their archive, which a
 * whole-film model can learn instead). Mirroring the half keeps the lab's square input, so its
 * model, its class activation maps and its pointing game apply unchanged; a whole film is then
 * scored by its more suspicious half.
 *
 * The image's left half is the patient's right lung; the heart lies mostly in the image's right.
 *
 * @module
 */

/** Which half of the image: columns `[0, size/2)` (`left`) or `[size/2, size)` (`right`). */
export type Half = "left" | "right";

/**
 * The `half` of the square `film` (row-major, `size` x `size`) beside its mirror image: the half
 * stays where it is, and the other half of the result is its reflection about the centre line.
 *
 * @example
 * ```ts
 * import { mirroredHalf } from "./halves.ts";
 * const film = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
 * if (mirroredHalf(film, 4, "left").subarray(0, 4).join() !== "1,2,2,1") throw new Error();
 * if (mirroredHalf(film, 4, "right").subarray(0, 4).join() !== "4,3,3,4") throw new Error();
 * ```
 */
export function mirroredHalf(film: Uint8Array, size: number, half: Half): Uint8Array {
  if (film.length !== size * size || size % 2 !== 0) {
    throw new RangeError(`mirroredHalf(): ${film.length} pixels is not an even ${size}x${size}`);
  }
  const out = new Uint8Array(size * size);
  const middle = size / 2;
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) {
      const kept = half === "left" ? x < middle : x >= middle;
      out[row + x] = film[row + (kept ? x : size - 1 - x)];
    }
  }
  return out;
}

/** Both mirrored halves of a film and of its lesion mask (see {@link mirroredHalf}). */
export function filmHalves(
  film: Uint8Array,
  mask: Uint8Array,
  size: number,
): Record<Half, { image: Uint8Array; mask: Uint8Array }> {
  return {
    left: { image: mirroredHalf(film, size, "left"), mask: mirroredHalf(mask, size, "left") },
    right: { image: mirroredHalf(film, size, "right"), mask: mirroredHalf(mask, size, "right") },
  };
}

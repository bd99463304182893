/**
 * The chest-tube shortcut, made measurable. Many real pneumothorax films are treated cases with a
 * drain in view, so a network can score them by finding the tube. Phantoms reproduce that: with
 * `tube: { positive: 0.9, negative: 0.1 }` the tube goes with the label. To ask where a map
 * points, the tube needs a mask; the generator draws the tube from a random stream of its own,
 * so the same seed without tubes gives the same images but for the tube, and where the two
 * differ by more than {@link TUBE_CONTRAST} gray levels is the tube itself (below that lies the
 * scatter around it). The mask is widened by the pointing game's tolerance, so "the map peaks
 * on the tube" means what "the map points at the lesion" means in the lab's pointing game.
 *
 * @module
 */
import { POINTING_TOLERANCE } from "./localization.ts";
import { generatePhantoms, type PhantomArrays, type PhantomOptions } from "../phantom/generator.ts";
import { PHANTOM_SIZE } from "../phantom/render.ts";

/** Gray levels by which a pixel must change when the tube is drawn to count as the tube. */
export const TUBE_CONTRAST = 32;

/** Phantoms with, per image, the region of its chest tube (all zero without one). */
export interface TubePhantoms extends PhantomArrays {
  /** Tube regions, the images' layout: 1 within {@link POINTING_TOLERANCE} pixels of the tube. */
  tubeMasks: Uint8Array;
  /** Side of the square images. */
  imageSize: number;
}

/** `mask` (images of `size` x `size`) widened by `radius` pixels, a square neighbourhood. */
function dilate(mask: Uint8Array, size: number, radius: number): Uint8Array {
  const rows = new Uint8Array(mask.length);
  const out = new Uint8Array(mask.length);
  const images = mask.length / (size * size);
  for (let n = 0; n < images; n++) {
    const base = n * size * size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (!mask[base + y * size + x]) continue;
        rows.fill(
          1,
          base + y * size + Math.max(0, x - radius),
          base + y * size + Math.min(size, x + radius + 1),
        );
      }
    }
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (!rows[base + y * size + x]) continue;
        for (let dy = Math.max(0, y - radius); dy <= Math.min(size - 1, y + radius); dy++) {
          out[base + dy * size + x] = 1;
        }
      }
    }
  }
  return out;
}

/**
 * Generates `count` phantoms as {@link generatePhantoms} does, plus the region of each one's
 * chest tube: the images are generated a second time without tubes, and the tube is where they
 * differ by more than {@link TUBE_CONTRAST}, widened by {@link POINTING_TOLERANCE}.
 *
 * @example
 * ```ts
 * import { generateTubePhantoms } from "./tube_masks.ts";
 * const data = await generateTubePhantoms(2, { seed: 1, tube: { positive: 1, negative: 1 } });
 * if (data.tubeMasks.subarray(0, 256 * 256).every((v) => v === 0)) throw new Error("a tube");
 * ```
 */
export async function generateTubePhantoms(
  count: number,
  options: PhantomOptions = {},
): Promise<TubePhantoms> {
  const withTubes = await generatePhantoms(count, options);
  const without = await generatePhantoms(count, {
    ...options,
    tube: undefined,
    onProgress: undefined,
  });
  const pixels = PHANTOM_SIZE * PHANTOM_SIZE;
  const tube = new Uint8Array(withTubes.images.length);
  for (let i = 0; i < count; i++) {
    if (!withTubes.tubes[i]) continue;
    for (let p = i * pixels; p < (i + 1) * pixels; p++) {
      tube[p] = Math.abs(withTubes.images[p] - without.images[p]) > TUBE_CONTRAST ? 1 : 0;
    }
  }
  return {
    ...withTubes,
    tubeMasks: dilate(tube, PHANTOM_SIZE, POINTING_TOLERANCE),
    imageSize: PHANTOM_SIZE,
  };
}

/** Where an image's map peaks: the image's index, the column and row of the map's maximum. */
export interface MapPeak {
  /** Index of the image. */
  index: number;
  /** Column. */
  x: number;
  /** Row. */
  y: number;
}

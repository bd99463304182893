/**
 * The lab's data contract in one home: the image size, the classes and which label column is
 * pneumothorax. Every layer reads them from here (the loaders, the model, the CAM, the figures,
 * the grader), so none keeps a copy that could drift.
 *
 * @module
 */

/** Side of the lab's square X-rays in pixels. */
export const IMAGE_SIZE = 256;
/** Number of classes: column 0 = no pneumothorax, column 1 = pneumothorax. */
export const NUM_CLASSES = 2;
/** Column of the pneumothorax class in labels, logits and the dense kernel. */
export const PNEUMOTHORAX_CLASS = 1;
/** Names of the lab's classes: label 0 and label 1. */
export const CLASS_NAMES = ["normal", "pneumothorax"] as const;

/** Square images laid out as the lab stores them: image i is `images[i * s * s, (i + 1) * s * s)`. */
export interface ImageStack {
  /** The images (or masks), one after another, row-major. */
  images: Uint8Array;
  /** Side of each square image. */
  imageSize: number;
}

/**
 * Image `index` of `stack`, a view into it (no copy).
 *
 * @throws {RangeError} for an index outside the stack
 *
 * @example
 * ```ts
 * import { imageAt } from "./schema.ts";
 * const image = imageAt({ images: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), imageSize: 2 }, 1);
 * if (image.join() !== "5,6,7,8") throw new Error(image.join());
 * ```
 */
export function imageAt(stack: ImageStack, index: number): Uint8Array {
  const pixels = stack.imageSize * stack.imageSize;
  if (!Number.isInteger(index) || index < 0 || (index + 1) * pixels > stack.images.length) {
    throw new RangeError(`image ${index} is outside the ${stack.images.length / pixels} images`);
  }
  return stack.images.subarray(index * pixels, (index + 1) * pixels);
}

/** The images of `stack` at `indices`, copied one after another into `into` (default uint8). */
export function gatherImages<T extends Uint8Array | Float32Array = Uint8Array>(
  stack: ImageStack,
  indices: readonly number[],
  into?: T,
): T {
  const pixels = stack.imageSize * stack.imageSize;
  const out = into ?? new Uint8Array(indices.length * pixels) as T;
  indices.forEach((index, k) => out.set(imageAt(stack, index), k * pixels));
  return out;
}

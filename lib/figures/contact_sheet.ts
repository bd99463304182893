/**
 * A contact sheet for judging the phantoms at a glance: a grid of phantoms, each positive with
 * its pneumothorax mask outlined in red, beside a grid of real X-rays at the same size.
 *
 * @module
 */
import { UsageError } from "../core/errors.ts";
import type { PhantomArrays } from "../phantom/generator.ts";
import { PHANTOM_SIZE } from "../phantom/render.ts";
import type { Pixels } from "../core/png.ts";
import { imageAt } from "../data/schema.ts";

/** Colour of the mask outline. */
export const OUTLINE_RGB: [number, number, number] = [255, 48, 48];
/** Gray level of the gutter between the two grids. */
const GUTTER_GRAY = 255;

/** Options of {@link phantomContactSheet}. */
export interface ContactSheetOptions {
  /** Columns of the phantom grid (default 4). */
  phantomColumns?: number;
  /** Columns of the real grid (default 2). */
  realColumns?: number;
  /** Width of the gutter between the grids, pixels (default 12). */
  gutter?: number;
}

/** Whether pixel `i` of a size x size mask is inside it with a neighbour outside (4-neighbours). */
function onContour(mask: Uint8Array, offset: number, size: number, x: number, y: number): boolean {
  const i = offset + y * size + x;
  if (!mask[i]) return false;
  return x === 0 || y === 0 || x === size - 1 || y === size - 1 || !mask[i - 1] ||
    !mask[i + 1] || !mask[i - size] || !mask[i + size];
}

/**
 * Composes the phantoms of `phantoms` (all of them) and the `real` images (each PHANTOM_SIZE^2
 * gray bytes) into one RGB image: phantoms on the left with mask outlines, real ones on the right.
 */
export function phantomContactSheet(
  phantoms: PhantomArrays,
  real: Uint8Array[],
  options: ContactSheetOptions = {},
): Pixels {
  const size = PHANTOM_SIZE, pixels = size * size;
  const count = phantoms.labels.length;
  const phantomColumns = options.phantomColumns ?? 4;
  const realColumns = real.length > 0 ? options.realColumns ?? 2 : 0;
  const gutter = real.length > 0 ? options.gutter ?? 12 : 0;
  for (const [k, image] of real.entries()) {
    if (image.length !== pixels) {
      throw new UsageError(`real image ${k} has ${image.length} pixels, expected ${size}x${size}`);
    }
  }
  const rows = Math.max(
    Math.ceil(count / phantomColumns),
    realColumns ? Math.ceil(real.length / realColumns) : 0,
  );
  const width = (phantomColumns + realColumns) * size + gutter;
  const height = rows * size;
  const data = new Uint8Array(width * height * 3).fill(GUTTER_GRAY);
  const place = (source: Uint8Array, left: number, top: number, mask?: Uint8Array, at = 0) => {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const o = ((top + y) * width + left + x) * 3;
        if (mask && onContour(mask, at, size, x, y)) data.set(OUTLINE_RGB, o);
        else data.fill(source[y * size + x], o, o + 3);
      }
    }
  };
  for (let i = 0; i < count; i++) {
    const image = imageAt({ images: phantoms.images, imageSize: size }, i);
    const left = (i % phantomColumns) * size, top = Math.floor(i / phantomColumns) * size;
    place(image, left, top, phantoms.masks, i * pixels);
  }
  real.forEach((image, k) => {
    const left = phantomColumns * size + gutter + (k % realColumns) * size;
    place(image, left, Math.floor(k / realColumns) * size);
  });
  return { data, width, height, channels: 3 };
}

/**
 * SIIM-ACR's run-length masks (`train-rle.csv`, column `EncodedPixels`), decoded to the lab's
 * masks, and the mask downscale that keeps every lesion.
 *
 * The format, as SIIM's stage-1 file writes it: `-1` means no pneumothorax; otherwise pairs
 * `start length`, where each start counts from the end of the previous run (the first from pixel
 * 0), and pixels are numbered column-major (down each column first), so the decoded array is the
 * transpose of the image's row-major order. An image with several lesions has several rows; their
 * masks are united. Hand-written: it is a few lines, and no maintained npm package decodes this
 * relative, column-major variant (the usual Kaggle RLE is absolute and row-major).
 *
 * @module
 */

/** The `EncodedPixels` value that means "no pneumothorax". */
export const RLE_NONE = "-1";

/**
 * Parses one `EncodedPixels` value into its run pairs, `[start0, length0, start1, length1, ...]`
 * (starts still relative); `-1` gives no runs. Throws an `Error` saying what is wrong with the
 * text (not a number, an odd count); the caller adds where it was.
 *
 * @example
 * ```ts
 * import { parseRle } from "./rle.ts";
 * if (parseRle(" 5 2 3 1").join() !== "5,2,3,1") throw new Error("pairs, kept relative");
 * if (parseRle("-1").length !== 0) throw new Error("-1 is no lesion");
 * ```
 */
export function parseRle(text: string): Uint32Array {
  const trimmed = text.trim();
  if (trimmed === RLE_NONE) return new Uint32Array(0);
  if (trimmed === "") throw new Error("EncodedPixels is empty (expected -1 or start/length pairs)");
  const tokens = trimmed.split(/\s+/);
  const bad = tokens.find((token) => !/^\d{1,10}$/.test(token));
  if (bad !== undefined) {
    throw new Error(`EncodedPixels holds '${bad}', not a non-negative integer`);
  }
  if (tokens.length % 2 !== 0) {
    throw new Error(
      `EncodedPixels has ${tokens.length} numbers; start/length pairs need an even count`,
    );
  }
  const runs = Uint32Array.from(tokens, Number);
  for (let i = 1; i < runs.length; i += 2) {
    if (runs[i] === 0) throw new Error(`EncodedPixels has a run of length 0 (pair ${(i + 1) / 2})`);
  }
  return runs;
}

/**
 * Decodes the runs of one image (its rows' {@link parseRle} results, united) into a row-major
 * `width` x `height` mask: 1 inside the lesion, 0 outside. Throws an `Error` when a run reaches
 * past the image, which means the row belongs to an image of another size or is damaged.
 *
 * @example
 * ```ts
 * import { decodeRleMask, parseRle } from "./rle.ts";
 * // a 3x2 image (width 3, height 2): column-major pixels 1 and 2 are (x 0, y 1) and (x 1, y 0)
 * const mask = decodeRleMask([parseRle("1 2")], 3, 2);
 * if (mask.join() !== "0,1,0,1,0,0") throw new Error(mask.join());
 * ```
 */
export function decodeRleMask(
  rows: readonly Uint32Array[],
  width: number,
  height: number,
): Uint8Array {
  const total = width * height;
  const mask = new Uint8Array(total);
  rows.forEach((runs, row) => {
    let position = 0;
    for (let i = 0; i < runs.length; i += 2) {
      const start = position + runs[i];
      const end = start + runs[i + 1];
      if (end > total) {
        throw new Error(
          `${rows.length > 1 ? `row ${row + 1}: ` : ""}a run ends at pixel ${end}, past the ` +
            `image's ${width}x${height} = ${total} pixels`,
        );
      }
      let x = Math.floor(start / height);
      let y = start % height;
      for (let p = start; p < end; p++) {
        mask[y * width + x] = 1;
        if (++y === height) {
          y = 0;
          x++;
        }
      }
      position = end;
    }
  });
  return mask;
}

/** For one axis: the source range `[from[t], to[t])` each target pixel covers (any part of). */
function coveredRanges(source: number, target: number): { from: Int32Array; to: Int32Array } {
  const scale = source / target;
  const from = new Int32Array(target);
  const to = new Int32Array(target);
  for (let t = 0; t < target; t++) {
    // A pixel touched by less than 1e-9 of its width is not covered: float noise at the edges.
    from[t] = Math.floor(t * scale + 1e-9);
    to[t] = Math.min(source, Math.max(from[t] + 1, Math.ceil((t + 1) * scale - 1e-9)));
  }
  return { from, to };
}

/**
 * Downscales (or upscales) a 0/1 mask to `size` x `size` so that any covered area survives: a
 * target pixel is 1 when any source pixel it covers, even partly, is inside the lesion (a 1024 ->
 * 256 downscale is the maximum over each 4x4 block). The averaging used for images would drop
 * thin lesions, and a lesion lost from the mask would be scored as a miss of the map.
 *
 * @example
 * ```ts
 * import { resizeMaskAny } from "./rle.ts";
 * const mask = new Uint8Array(16);
 * mask[15] = 1; // one pixel in the last 2x2 block of a 4x4 mask
 * if (resizeMaskAny(mask, { width: 4, height: 4 }, 2).join() !== "0,0,0,1") throw new Error();
 * ```
 */
export function resizeMaskAny(
  mask: Uint8Array,
  shape: { width: number; height: number },
  size: number,
): Uint8Array {
  const { width, height } = shape;
  const across = coveredRanges(width, size);
  const down = coveredRanges(height, size);
  const rows = new Uint8Array(height * size);
  for (let y = 0; y < height; y++) {
    const line = y * width;
    for (let t = 0; t < size; t++) {
      for (let x = across.from[t]; x < across.to[t]; x++) {
        if (mask[line + x] !== 0) {
          rows[y * size + t] = 1;
          break;
        }
      }
    }
  }
  const out = new Uint8Array(size * size);
  for (let t = 0; t < size; t++) {
    for (let y = down.from[t]; y < down.to[t]; y++) {
      for (let x = 0; x < size; x++) out[t * size + x] |= rows[y * size + x];
    }
  }
  return out;
}

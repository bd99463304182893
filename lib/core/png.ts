/**
 * Raster images of the lab (X-rays, class activation maps, masks) and their PNG encoding with
 * `fast-png`: the plots embed the PNG as a `data:` URL, the CLI writes it to a file.
 *
 * @module
 */

import { dirname } from "node:path";
import { Buffer } from "node:buffer";
import { encode } from "fast-png";
import { UsageError } from "./errors.ts";

/** A single-channel image, row-major from the top-left pixel: `data[y * width + x]`. */
export interface GrayImage {
  /** Pixel values, `width * height` of them, in any numeric range. */
  data: ArrayLike<number>;
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
}

/** 8-bit pixels ready to encode: 1 (gray), 3 (RGB) or 4 (RGBA) channels, interleaved. */
export interface Pixels {
  /** `width * height * channels` bytes, row-major from the top-left pixel. */
  data: Uint8Array;
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
  /** Channels per pixel. */
  channels: 1 | 3 | 4;
}

/**
 * An image as a {@link GrayImage}. A plain array (or typed array, or a tensor's `dataSync()`)
 * must be square, as the lab's 256x256 X-rays are; `name` goes into the error message.
 *
 * @throws {UsageError} when a plain array is not square, or a `GrayImage`'s size does not match
 * its data
 *
 * @example
 * ```ts
 * import { toGrayImage } from "./png.ts";
 * const image = toGrayImage(new Uint8Array(16), "image");
 * if (image.width !== 4 || image.height !== 4) throw new Error();
 * ```
 */
export function toGrayImage(image: ArrayLike<number> | GrayImage, name: string): GrayImage {
  if ("data" in image) {
    const { width, height, data } = image;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new UsageError(`${name}: size ${width}x${height} is not positive integers`);
    }
    if (data.length !== width * height) {
      throw new UsageError(
        `${name}: ${data.length} pixels do not make a ${width}x${height} image`,
      );
    }
    return image;
  }
  const side = Math.round(Math.sqrt(image.length));
  if (image.length === 0 || side * side !== image.length) {
    throw new UsageError(
      `${name}: ${image.length} pixels are not a square image; pass {data, width, height}`,
    );
  }
  return { data: image, width: side, height: side };
}

/** The smallest and largest finite value, or `[0, 0]` when there is none. */
export function valueRange(values: ArrayLike<number>): [number, number] {
  let low = Infinity, high = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value < low) low = value;
    if (value > high) high = value;
  }
  return low <= high ? [low, high] : [0, 0];
}

/**
 * Scales values to [0, 1] over `domain` (clamped; NaN gives 0). A zero-width domain gives 0
 * everywhere.
 */
export function scaleToUnit(values: ArrayLike<number>, domain: [number, number]): Float32Array {
  const [low, high] = domain;
  const span = high - low;
  const out = new Float32Array(values.length);
  if (!(span > 0)) return out;
  for (let i = 0; i < values.length; i++) {
    const t = (values[i] - low) / span;
    out[i] = t > 1 ? 1 : t > 0 ? t : 0;
  }
  return out;
}

/**
 * The display range of an X-ray: [0, 255] for 8-bit data (as the lab's files hold), otherwise
 * the image's own minimum and maximum (for standardized or float images).
 */
export function intensityDomain(data: ArrayLike<number>): [number, number] {
  return data instanceof Uint8Array || data instanceof Uint8ClampedArray
    ? [0, 255]
    : valueRange(data);
}

/**
 * 8-bit gray pixels of an image, mapping `domain` (default {@link intensityDomain}) to 0..255.
 *
 * @example
 * ```ts
 * import { grayPixels } from "./png.ts";
 * const pixels = grayPixels({ data: [0, 0.5, 1, 2], width: 2, height: 2 }, [0, 1]);
 * if (pixels.data.join() !== "0,128,255,255") throw new Error();
 * ```
 */
export function grayPixels(image: GrayImage, domain?: [number, number]): Pixels {
  const t = scaleToUnit(image.data, domain ?? intensityDomain(image.data));
  const data = new Uint8Array(t.length);
  for (let i = 0; i < t.length; i++) data[i] = Math.round(t[i] * 255);
  return { data, width: image.width, height: image.height, channels: 1 };
}

/**
 * Encodes 8-bit pixels as a PNG file's bytes.
 *
 * @throws {UsageError} when `data` does not hold `width * height * channels` bytes
 */
export function encodePng(pixels: Pixels): Uint8Array {
  const { data, width, height, channels } = pixels;
  if (data.length !== width * height * channels) {
    throw new UsageError(
      `encodePng(): ${data.length} bytes do not make ${width}x${height} pixels of ${channels} channels`,
    );
  }
  return encode({ data, width, height, channels, depth: 8 });
}

/**
 * A `data:image/png;base64,...` URL of 8-bit pixels, to place in an SVG `<image>` or HTML `<img>`.
 *
 * @example
 * ```ts
 * import { pngDataUrl } from "./png.ts";
 * const url = pngDataUrl({ data: new Uint8Array(4), width: 2, height: 2, channels: 1 });
 * if (!url.startsWith("data:image/png;base64,iVBORw0KGgo")) throw new Error();
 * ```
 */
export function pngDataUrl(pixels: Pixels): string {
  return `data:image/png;base64,${Buffer.from(encodePng(pixels)).toString("base64")}`;
}

/** Writes 8-bit pixels to a `.png` file, creating its folder. */
export async function writePng(path: string, pixels: Pixels): Promise<void> {
  if (!path.toLowerCase().endsWith(".png")) {
    throw new UsageError(`writePng(): '${path}' does not end in .png`);
  }
  const bytes = encodePng(pixels);
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeFile(path, bytes);
}

/**
 * Reading chest X-ray PNGs as the lab's images: decode (with `fast-png`), convert to one gray
 * channel, and area-downscale to the lab's 256x256, optionally in a pool of worker threads.
 *
 * Colour rules: gray stays gray; RGB and RGBA become gray with the ITU-R BT.601 luma weights
 * (0.299 R + 0.587 G + 0.114 B, as Pillow's `convert("L")`); alpha is ignored, not composited
 * (X-rays are opaque: the RGBA files of NIH's release have alpha 255 everywhere); palette images
 * go through their palette first; 16-bit and 1/2/4-bit images are scaled to 0..255.
 *
 * @module
 */
import { convertIndexedToRgb, decode, type DecodedPng } from "fast-png";
import { DataFileError } from "../core/errors.ts";
import { createWorkerPool, defaultWorkerCount } from "../core/worker_pool.ts";

const LUMA_RED = 0.299;
const LUMA_GREEN = 0.587;
const LUMA_BLUE = 0.114;

/** One gray channel at the PNG's own bit depth: values run from 0 to `maxValue`. */
export interface DecodedGray {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Row-major gray values, `width * height` of them. */
  data: Uint8Array | Uint16Array | Float32Array;
  /** The value that means white (255 for 8-bit, 65535 for 16-bit, 15 for 4-bit, ...). */
  maxValue: number;
}

/** Unpacks 1-, 2- or 4-bit samples (rows padded to whole bytes, as PNG stores them). */
function unpackLowBitGray(png: DecodedPng): Uint8Array {
  const { width, height, depth } = png;
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = png.data[y * rowBytes + (bit >> 3)];
      out[y * width + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

function firstChannel(
  data: ArrayLike<number>,
  channels: number,
  pixels: number,
  depth: number,
): Uint8Array | Uint16Array {
  const out = depth === 16 ? new Uint16Array(pixels) : new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) out[i] = data[i * channels];
  return out;
}

/**
 * Gray from interleaved colour samples by the BT.601 luma weights (see the module notes):
 * `channels` samples per pixel, the first three red, green and blue.
 */
export function luma(data: ArrayLike<number>, channels: number, pixels: number): Float32Array {
  const out = new Float32Array(pixels);
  for (let i = 0, j = 0; i < pixels; i++, j += channels) {
    out[i] = LUMA_RED * data[j] + LUMA_GREEN * data[j + 1] + LUMA_BLUE * data[j + 2];
  }
  return out;
}

function toGray(png: DecodedPng): DecodedGray {
  const { width, height, channels, depth } = png;
  const pixels = width * height;
  if (png.palette && png.palette.length > 0) {
    const rgb = convertIndexedToRgb(png);
    return { width, height, data: luma(rgb, png.palette[0].length, pixels), maxValue: 255 };
  }
  const maxValue = 2 ** depth - 1;
  if (channels === 1) {
    const data = depth < 8 ? unpackLowBitGray(png) : png.data as Uint8Array | Uint16Array;
    return { width, height, data, maxValue };
  }
  if (channels === 2) {
    return { width, height, data: firstChannel(png.data, 2, pixels, depth), maxValue };
  }
  return { width, height, data: luma(png.data, channels, pixels), maxValue };
}

/**
 * Decodes PNG bytes to one gray channel (see the module notes for the colour rules).
 * Throws a {@link DataFileError} naming `file` when the bytes are not a PNG it can read.
 *
 * @example
 * ```ts
 * import { encode } from "fast-png";
 * import { decodeGrayPng } from "./xray_png.ts";
 * const rgba = new Uint8Array([255, 0, 0, 255]);
 * const gray = decodeGrayPng(encode({ width: 1, height: 1, data: rgba, channels: 4 }));
 * if (Math.round(gray.data[0]) !== 76) throw new Error("pure red has luma 0.299 * 255");
 * ```
 */
export function decodeGrayPng(bytes: Uint8Array, file = "PNG data"): DecodedGray {
  let png: DecodedPng;
  try {
    png = decode(bytes);
  } catch (error) {
    throw new DataFileError({ file }, `cannot decode as PNG: ${(error as Error).message}`);
  }
  if (png.width === 0 || png.height === 0) {
    throw new DataFileError({ file }, `PNG has no pixels (${png.width}x${png.height})`);
  }
  return toGray(png);
}

/** For one axis: which source pixels each target pixel covers, and by what fraction. */
interface AxisWeights {
  /** `offsets[t] .. offsets[t + 1]` index `sources` and `weights` for target pixel `t`. */
  offsets: Int32Array;
  sources: Int32Array;
  weights: Float64Array;
}

/**
 * Exact area weights from `source` pixels down (or up) to `target`: target pixel t spans
 * [t, t + 1) * source / target in source coordinates and averages what it covers, partial
 * pixels by the fraction covered. Hand-written: no library here resamples by exact area.
 */
function areaWeights(source: number, target: number): AxisWeights {
  const scale = source / target;
  const offsets = new Int32Array(target + 1);
  const sources: number[] = [];
  const weights: number[] = [];
  for (let t = 0; t < target; t++) {
    const start = t * scale;
    const end = (t + 1) * scale;
    for (let s = Math.floor(start); s < Math.min(source, Math.ceil(end)); s++) {
      const covered = Math.min(end, s + 1) - Math.max(start, s);
      if (covered > 1e-9) {
        sources.push(s);
        weights.push(covered / scale);
      }
    }
    offsets[t + 1] = sources.length;
  }
  return { offsets, sources: Int32Array.from(sources), weights: Float64Array.from(weights) };
}

/**
 * Resizes `image` to `size` x `size` 8-bit gray by exact area averaging (a 1024 -> 256 resize is
 * the mean of each 4x4 block), each axis on its own; values are rounded to the nearest level.
 *
 * @example
 * ```ts
 * import { areaResize } from "./xray_png.ts";
 * const image = { width: 2, height: 2, data: new Uint8Array([0, 100, 200, 100]), maxValue: 255 };
 * if (areaResize(image, 1)[0] !== 100) throw new Error("the mean of the four pixels");
 * ```
 */
export function areaResize(image: DecodedGray, size: number): Uint8Array {
  const { width, height, data } = image;
  const across = areaWeights(width, size);
  const down = areaWeights(height, size);
  const rows = new Float64Array(height * size);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let t = 0; t < size; t++) {
      let sum = 0;
      for (let k = across.offsets[t]; k < across.offsets[t + 1]; k++) {
        sum += data[row + across.sources[k]] * across.weights[k];
      }
      rows[y * size + t] = sum;
    }
  }
  const toLevels = 255 / image.maxValue;
  const out = new Uint8Array(size * size);
  for (let t = 0; t < size; t++) {
    for (let x = 0; x < size; x++) {
      let sum = 0;
      for (let k = down.offsets[t]; k < down.offsets[t + 1]; k++) {
        sum += rows[down.sources[k] * size + x] * down.weights[k];
      }
      out[t * size + x] = Math.min(255, Math.max(0, Math.round(sum * toLevels)));
    }
  }
  return out;
}

/** Reads the PNG at `path` as a `size` x `size` 8-bit gray image (errors name the file). */
export async function readXrayPng(path: string, size: number): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DataFileError({ file: path }, `cannot read: ${(error as Error).message}`);
  }
  return areaResize(decodeGrayPng(bytes, path), size);
}

/** Options of {@link createXrayPngPool}. */
export interface XrayPngPoolOptions {
  /**
   * Worker threads that decode in parallel (default: the machine's logical cores, at most 8);
   * 0 decodes on the calling thread. Each worker holds one decoded image at a time.
   */
  workers?: number;
  /** Side of the output images in pixels (the lab's is 256). */
  size: number;
}

/** Reads X-ray PNGs as lab images, in parallel when it has workers; `close()` when done. */
export interface XrayPngPool {
  /** Number of worker threads (0: the calling thread). */
  readonly workers: number;
  /** Reads and resizes one PNG, as {@link readXrayPng}. */
  read(path: string): Promise<Uint8Array>;
  /** Stops the workers; reads still pending are rejected. */
  close(): void;
}

/** A request to a decoding worker: read `path` as a `size` x `size` image. */
export interface XrayPngRequest {
  /** The PNG to read. */
  path: string;
  /** Side of the output image in pixels. */
  size: number;
}

/**
 * Creates a pool that reads X-ray PNGs on `workers` threads (Deno module workers running
 * `xray_png_worker.ts`); results come back in whatever order the caller awaits them.
 */
export function createXrayPngPool(options: XrayPngPoolOptions): XrayPngPool {
  const size = options.size;
  const pool = createWorkerPool<XrayPngRequest, Uint8Array>(
    new URL("./xray_png_worker.ts", import.meta.url),
    {
      workers: options.workers ?? defaultWorkerCount(),
      name: "PNG",
      handle: (request) => readXrayPng(request.path, request.size),
    },
  );
  return {
    workers: pool.workers,
    read: (path) => pool.run({ path, size }),
    close: () => pool.close(),
  };
}

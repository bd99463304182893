/**
 * Reading chest X-ray JPEGs as gray images, for copies of SIIM-ACR kept as `<ImageId>.jpg`
 * (the form most public copies of the challenge take). Decoded by `jpeg-js`, as the JPEG frames
 * inside SIIM's DICOMs are (`dicom.ts`); gray JPEGs stay gray and colour ones become gray by the
 * BT.601 luma weights, as PNGs do (`xray_png.ts`).
 *
 * jpeg-js rounds its inverse DCT differently from libjpeg (Pillow): a pixel may differ from
 * Pillow's by one level.
 *
 * @module
 */
import jpeg from "jpeg-js";
import { DataFileError } from "../core/errors.ts";
import { type DecodedGray, luma } from "./xray_png.ts";

/** The first bytes of every JPEG file (start of image, then a marker). */
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

/**
 * Decodes JPEG bytes to one 8-bit gray channel. Throws a {@link DataFileError} naming `file`
 * when the bytes are not a JPEG, or one cut short (no tolerant decoding: a truncated film is an
 * error, not a half-gray image).
 *
 * @example
 * ```ts
 * import jpeg from "jpeg-js";
 * import { decodeGrayJpeg } from "./xray_jpeg.ts";
 * const rgba = new Uint8Array(8 * 8 * 4).fill(200);
 * const bytes = jpeg.encode({ width: 8, height: 8, data: rgba }, 95).data;
 * const gray = decodeGrayJpeg(bytes);
 * if (Math.abs(gray.data[0] - 200) > 2) throw new Error("a flat gray square stays gray");
 * ```
 */
export function decodeGrayJpeg(bytes: Uint8Array, file = "JPEG data"): DecodedGray {
  if (!JPEG_SIGNATURE.every((byte, i) => bytes[i] === byte)) {
    throw new DataFileError({ file }, "is not a JPEG (no start-of-image marker)");
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
  } catch (error) {
    throw new DataFileError(
      { file },
      `cannot decode as JPEG (truncated?): ${(error as Error).message}`,
    );
  }
  const { width, height, data } = decoded;
  if (width === 0 || height === 0) {
    throw new DataFileError({ file }, `JPEG has no pixels (${width}x${height})`);
  }
  const pixels = width * height;
  let gray = true;
  for (let i = 0; i < pixels && gray; i++) {
    gray = data[3 * i] === data[3 * i + 1] && data[3 * i] === data[3 * i + 2];
  }
  if (!gray) return { width, height, data: luma(data, 3, pixels), maxValue: 255 };
  const values = new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) values[i] = data[3 * i];
  return { width, height, data: values, maxValue: 255 };
}

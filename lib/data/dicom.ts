/**
 * Reading chest X-ray DICOM files (SIIM-ACR's, and any single-frame greyscale radiograph) as
 * one gray channel ready for the lab's area downscale (`areaResize` in `xray_png.ts`).
 *
 * Packages, both pinned in `deno.json`:
 * - [`dicom-parser`](https://github.com/cornerstonejs/dicomParser) 1.8.21 parses the Part-10
 *   file: it is cornerstone's parser (the DICOM viewers OHIF and cornerstone3D read through it),
 *   small, dependency-free, and it reads implicit and explicit VR little endian data sets and
 *   hands back the fragments of encapsulated (compressed) pixel data, which is all this needs.
 *   `dcmjs` 0.52 was the alternative: it can also write DICOM, but it converts the whole data set
 *   into named JavaScript objects, more than an importer of 12,000 files wants.
 * - [`jpeg-js`](https://github.com/jpeg-js/jpeg-js) 0.4.4 decodes the JPEG-baseline frames
 *   (transfer syntax 1.2.840.10008.1.2.4.50, SIIM's): pure JavaScript (no native build, so it
 *   runs in workers and offline), maintained, and it decodes 8-bit greyscale baseline JPEG. It
 *   rounds its inverse DCT differently from libjpeg (Pillow, pydicom): pixels may differ by one
 *   level, as two conforming JPEG decoders may.
 *
 * Pixel values: images of at most 8 bits stored, unsigned and without a Modality rescale (all of
 * SIIM's) keep their stored values, scaled from 0..2^BitsStored-1 to 0..255 (so 8-bit pixels are
 * unchanged and match the NIH PNGs SIIM derives from). Deeper, signed or rescaled images (12- or
 * 16-bit radiographs) get the Modality rescale (RescaleSlope, RescaleIntercept) and are then
 * stretched from their own minimum to maximum: their stored range rarely fills 12 or 16 bits, and
 * the lab's network standardizes each image anyway. MONOCHROME1 (white = low values) is inverted,
 * so that the lab always sees air dark.
 *
 * @module
 */
import dicomParser from "dicom-parser";
import jpeg from "jpeg-js";
import { DataFileError } from "../core/errors.ts";
import type { DecodedGray } from "./xray_png.ts";

/** The transfer syntaxes this module reads, by UID. */
export const TRANSFER_SYNTAXES = {
  /** Implicit VR Little Endian, DICOM's default. */
  implicitLittleEndian: "1.2.840.10008.1.2",
  /** Explicit VR Little Endian. */
  explicitLittleEndian: "1.2.840.10008.1.2.1",
  /** JPEG Baseline (Process 1), 8-bit lossy: SIIM-ACR's. */
  jpegBaseline: "1.2.840.10008.1.2.4.50",
} as const;

const SUPPORTED = new Set<string>(Object.values(TRANSFER_SYNTAXES));
const PIXEL_DATA = "x7fe00010";
/** Where a Part-10 file says "DICM", after its 128-byte preamble. */
const DICM_OFFSET = 128;

/** What the importer needs of a DICOM file's header. */
export interface DicomHeader {
  /** SOP Instance UID (0008,0018): SIIM's `ImageId`. */
  sopInstanceUid: string;
  /** Patient ID (0010,0020); empty when the file has none. */
  patientId: string;
  /** Transfer syntax UID (0002,0010). */
  transferSyntax: string;
  /** Columns (0028,0011). */
  width: number;
  /** Rows (0028,0010). */
  height: number;
  /** Photometric interpretation (0028,0004), e.g. MONOCHROME2. */
  photometric: string;
}

/** A decoded DICOM image: its header and one gray channel for `areaResize`. */
export interface DicomImage extends DicomHeader {
  /** The pixels as gray, air dark (see the module notes for the rules). */
  gray: DecodedGray;
}

/**
 * dicom-parser throws strings, errors, and `{ exception, dataSet }` objects (from `parseDicom`,
 * with what it had parsed); this gives the text in each case.
 */
function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "exception" in error) {
    return messageOf((error as { exception: unknown }).exception);
  }
  return String(error);
}

function parse(bytes: Uint8Array, file: string, untilTag?: string): dicomParser.DataSet {
  const marker = new TextDecoder().decode(bytes.subarray(DICM_OFFSET, DICM_OFFSET + 4));
  if (marker !== "DICM") {
    throw new DataFileError(
      { file },
      bytes.length < DICM_OFFSET + 4
        ? `not a DICOM file: ${bytes.length} bytes, too short for a DICOM header`
        : "not a DICOM file (no 'DICM' marker at byte 128)",
    );
  }
  try {
    return dicomParser.parseDicom(bytes, untilTag ? { untilTag } : undefined);
  } catch (error) {
    throw new DataFileError(
      { file },
      `cannot parse the DICOM data set (truncated or damaged?): ${messageOf(error)}`,
    );
  }
}

function headerOf(data: dicomParser.DataSet, file: string): DicomHeader {
  const transferSyntax = data.string("x00020010")?.replace(/\0/g, "").trim() ?? "";
  const sopInstanceUid = data.string("x00080018")?.trim() ?? "";
  if (sopInstanceUid === "") throw new DataFileError({ file }, "has no SOP Instance UID");
  const width = data.uint16("x00280011") ?? 0;
  const height = data.uint16("x00280010") ?? 0;
  return {
    sopInstanceUid,
    patientId: data.string("x00100020")?.trim() ?? "",
    transferSyntax,
    width,
    height,
    photometric: data.string("x00280004")?.trim() ?? "",
  };
}

/**
 * Reads the header of the DICOM file `bytes` (named `file` in errors), stopping before the pixel
 * data. Throws a {@link DataFileError} naming the file when it is not DICOM or cannot be parsed.
 */
export function readDicomHeader(bytes: Uint8Array, file: string): DicomHeader {
  return headerOf(parse(bytes, file, PIXEL_DATA), file);
}

/** The stored values of an uncompressed frame, masked to BitsStored and sign-extended. */
function uncompressedValues(
  data: dicomParser.DataSet,
  element: dicomParser.Element,
  layout: { pixels: number; bitsAllocated: number; bitsStored: number; signed: boolean },
  file: string,
): Uint8Array | Uint16Array | Int32Array {
  const { pixels, bitsAllocated, bitsStored, signed } = layout;
  const bytesPerPixel = bitsAllocated / 8;
  const needed = pixels * bytesPerPixel;
  const available = Math.min(element.length, data.byteArray.length - element.dataOffset);
  if (available < needed) {
    throw new DataFileError(
      { file },
      `truncated: the pixel data needs ${needed} bytes, the file holds ${Math.max(0, available)}`,
    );
  }
  const raw = new DataView(data.byteArray.buffer, data.byteArray.byteOffset + element.dataOffset);
  if (bitsAllocated === 8 && bitsStored === 8 && !signed) {
    return data.byteArray.slice(element.dataOffset, element.dataOffset + needed);
  }
  const mask = 2 ** bitsStored - 1;
  const signBit = 2 ** (bitsStored - 1);
  const out = new Int32Array(pixels);
  for (let i = 0; i < pixels; i++) {
    const stored = (bytesPerPixel === 1 ? raw.getUint8(i) : raw.getUint16(2 * i, true)) & mask;
    out[i] = signed && stored >= signBit ? stored - 2 * signBit : stored;
  }
  return out;
}

/** The decoded greyscale values of a JPEG-baseline frame. */
function jpegValues(data: dicomParser.DataSet, element: dicomParser.Element, file: string) {
  let frame: Uint8Array;
  try {
    const fragments = element.fragments ?? [];
    if (fragments.length === 0) throw new Error("no fragments");
    frame = dicomParser.readEncapsulatedPixelDataFromFragments(
      data,
      element,
      0,
      fragments.length,
    ) as Uint8Array;
  } catch (error) {
    throw new DataFileError(
      { file },
      `cannot read the encapsulated JPEG frame (truncated?): ${messageOf(error)}`,
    );
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    // tolerantDecoding off: a cut-short frame is an error, not a half-grey image.
    decoded = jpeg.decode(frame, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
    });
  } catch (error) {
    throw new DataFileError({ file }, `cannot decode its JPEG frame: ${messageOf(error)}`);
  }
  // jpeg-js returns three equal channels for a greyscale JPEG: keep the first.
  const pixels = decoded.width * decoded.height;
  const gray = new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) gray[i] = decoded.data[3 * i];
  return { width: decoded.width, height: decoded.height, values: gray };
}

/** Applies the module's value rules (see the notes) to stored values. */
function toGray(
  values: Uint8Array | Uint16Array | Int32Array,
  layout: { width: number; height: number; bitsStored: number; signed: boolean },
  rescale: { slope: number; intercept: number },
  monochrome1: boolean,
): DecodedGray {
  const { width, height, bitsStored, signed } = layout;
  const asStored = bitsStored <= 8 && !signed && rescale.slope === 1 && rescale.intercept === 0;
  if (asStored) {
    const maxValue = 2 ** bitsStored - 1;
    const data = values instanceof Uint8Array ? values : Uint8Array.from(values);
    if (monochrome1) { for (let i = 0; i < data.length; i++) data[i] = maxValue - data[i]; }
    return { width, height, data, maxValue };
  }
  const data = new Float32Array(values.length);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const value = values[i] * rescale.slope + rescale.intercept;
    data[i] = value;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  for (let i = 0; i < data.length; i++) data[i] = monochrome1 ? max - data[i] : data[i] - min;
  return { width, height, data, maxValue: max > min ? max - min : 1 };
}

function numberOf(data: dicomParser.DataSet, tag: string, fallback: number): number {
  const text = data.string(tag)?.trim();
  const value = text ? Number(text.split("\\")[0]) : fallback;
  return Number.isFinite(value) ? value : fallback;
}

/**
 * Decodes the DICOM file `bytes` (named `file` in errors) to its header and gray pixels: a
 * single-frame MONOCHROME1/2 image, uncompressed (implicit or explicit VR little endian, 8 or 16
 * bits allocated) or JPEG baseline. Throws a {@link DataFileError} naming the file and the
 * problem for anything else: not DICOM, truncated, no pixel data, another transfer syntax, colour.
 */
export function decodeDicom(bytes: Uint8Array, file: string): DicomImage {
  const data = parse(bytes, file);
  const header = headerOf(data, file);
  const element = data.elements[PIXEL_DATA];
  if (element === undefined) throw new DataFileError({ file }, "has no pixel data (7FE0,0010)");
  if (!SUPPORTED.has(header.transferSyntax)) {
    throw new DataFileError(
      { file },
      `transfer syntax ${header.transferSyntax || "(none)"} is not supported (supported: ` +
        `${[...SUPPORTED].join(", ")})`,
    );
  }
  if (header.photometric !== "MONOCHROME1" && header.photometric !== "MONOCHROME2") {
    throw new DataFileError(
      { file },
      `photometric interpretation '${header.photometric}' is not greyscale (MONOCHROME1/2)`,
    );
  }
  const frames = numberOf(data, "x00280008", 1);
  if (frames !== 1) throw new DataFileError({ file }, `has ${frames} frames; expected one`);
  const { width, height } = header;
  if (width === 0 || height === 0) {
    throw new DataFileError({ file }, `has no pixels (${width}x${height})`);
  }
  const bitsAllocated = data.uint16("x00280100") ?? 8;
  const bitsStored = data.uint16("x00280101") ?? bitsAllocated;
  const signed = (data.uint16("x00280103") ?? 0) === 1;
  const rescale = {
    slope: numberOf(data, "x00281053", 1),
    intercept: numberOf(data, "x00281052", 0),
  };
  const monochrome1 = header.photometric === "MONOCHROME1";
  if (header.transferSyntax === TRANSFER_SYNTAXES.jpegBaseline) {
    const decoded = jpegValues(data, element, file);
    if (decoded.width !== width || decoded.height !== height) {
      throw new DataFileError(
        { file },
        `its JPEG frame is ${decoded.width}x${decoded.height}, the header says ${width}x${height}`,
      );
    }
    const layout = { width, height, bitsStored: 8, signed: false };
    return { ...header, gray: toGray(decoded.values, layout, rescale, monochrome1) };
  }
  if (
    (bitsAllocated !== 8 && bitsAllocated !== 16) || bitsStored < 1 || bitsStored > bitsAllocated
  ) {
    throw new DataFileError(
      { file },
      `BitsAllocated ${bitsAllocated} with BitsStored ${bitsStored} is not supported (8 or 16 ` +
        "bits allocated)",
    );
  }
  if ((data.uint16("x00280002") ?? 1) !== 1) {
    throw new DataFileError({ file }, "has more than one sample per pixel (colour)");
  }
  const layout = { pixels: width * height, bitsAllocated, bitsStored, signed };
  const values = uncompressedValues(data, element, layout, file);
  return {
    ...header,
    gray: toGray(values, { width, height, bitsStored, signed }, rescale, monochrome1),
  };
}

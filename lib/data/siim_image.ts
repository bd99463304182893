/**
 * One SIIM-ACR film as the lab stores it: the film decoded and area-downscaled to the lab's size,
 * and its run-length mask decoded at the film's own size and downscaled so that any covered area
 * survives. A film may be SIIM's DICOM or a PNG or JPEG copy named by its `ImageId` (as most
 * public copies keep them): {@link decodeSiimFilm} reads all three. Kept apart from `siim.ts` so
 * the decoding workers load only this, the decoders and the RLE decoder, not the HDF5 writer.
 *
 * @module
 */
import { DataFileError } from "../core/errors.ts";
import { decodeDicom } from "./dicom.ts";
import type { DecodedImage } from "./import_common.ts";
import { decodeRleMask, resizeMaskAny } from "./rle.ts";
import { areaResize, type DecodedGray, decodeGrayPng } from "./xray_png.ts";
import { decodeGrayJpeg } from "./xray_jpeg.ts";

/** File names a SIIM film may have: its `ImageId` and one of these extensions. */
export const SIIM_FILM_PATTERN = /\.(dcm|png|jpe?g)$/i;

/** The `ImageId` a film's file name stands for (the name less its extension). */
export function imageIdOfFilm(name: string): string {
  return name.replace(SIIM_FILM_PATTERN, "");
}

/** Whether a film's file is a DICOM (which carries its own SOP Instance UID and Patient ID). */
export function isDicomFilm(name: string): boolean {
  return /\.dcm$/i.test(name);
}

/**
 * Decodes a SIIM film's bytes by its file name's extension: a DICOM, which must carry the SOP
 * Instance UID `imageId`, or a PNG or JPEG. Throws a {@link DataFileError} naming `path`.
 */
export function decodeSiimFilm(bytes: Uint8Array, path: string, imageId: string): DecodedGray {
  if (/\.png$/i.test(path)) return decodeGrayPng(bytes, path);
  if (/\.jpe?g$/i.test(path)) return decodeGrayJpeg(bytes, path);
  const dicom = decodeDicom(bytes, path);
  if (dicom.sopInstanceUid !== imageId) {
    throw new DataFileError(
      { file: path },
      `its SOP Instance UID is ${dicom.sopInstanceUid}, not the ${imageId} its name says`,
    );
  }
  return dicom.gray;
}

/** What to read: a film's file, the image it must be, and the runs of its CSV rows. */
export interface SiimImageRequest {
  /** Path of the film: `<ImageId>.dcm`, `.png`, `.jpg` or `.jpeg`. */
  path: string;
  /** SIIM's `ImageId`: the SOP Instance UID a DICOM must carry. */
  imageId: string;
  /** The parsed `EncodedPixels` of each of the image's rows (none for a negative). */
  runs: Uint32Array[];
  /** Side of the stored image and mask. */
  size: number;
}

/**
 * Reads the SIIM film `request` names: its pixels and its mask (0/1), both `size` x `size`.
 * Throws a {@link DataFileError} naming the file when it cannot be read or decoded, a DICOM
 * carries another SOP Instance UID than its name, or a mask run reaches past its pixels.
 */
export async function readSiimImage(request: SiimImageRequest): Promise<DecodedImage> {
  const { path, imageId, runs, size } = request;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DataFileError({ file: path }, `cannot read: ${(error as Error).message}`);
  }
  const gray = decodeSiimFilm(bytes, path, imageId);
  const shape = { width: gray.width, height: gray.height };
  let mask: Uint8Array;
  try {
    mask = decodeRleMask(runs, shape.width, shape.height);
  } catch (error) {
    throw new DataFileError({ file: path }, `its mask does not fit: ${(error as Error).message}`);
  }
  return { image: areaResize(gray, size), mask: resizeMaskAny(mask, shape, size) };
}

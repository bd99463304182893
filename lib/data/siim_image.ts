/**
 * One SIIM-ACR image as the lab stores it: the DICOM decoded and area-downscaled to the lab's
 * size, and its run-length mask decoded at the DICOM's own size and downscaled so that any
 * covered area survives. Kept apart from `siim.ts` so the decoding workers load only this, the
 * DICOM reader and the RLE decoder, not the HDF5 writer.
 *
 * @module
 */
import { DataFileError } from "../core/errors.ts";
import { decodeDicom } from "./dicom.ts";
import type { DecodedImage } from "./import_common.ts";
import { decodeRleMask, resizeMaskAny } from "./rle.ts";
import { areaResize } from "./xray_png.ts";

/** What to read: a DICOM file, the image it must be, and the runs of its CSV rows. */
export interface SiimImageRequest {
  /** Path of the DICOM file. */
  path: string;
  /** SIIM's `ImageId`: the SOP Instance UID the file must carry. */
  imageId: string;
  /** The parsed `EncodedPixels` of each of the image's rows (none for a negative). */
  runs: Uint32Array[];
  /** Side of the stored image and mask. */
  size: number;
}

/**
 * Reads the SIIM image `request` names: its pixels and its mask (0/1), both `size` x `size`.
 * Throws a {@link DataFileError} naming the file when it cannot be read, carries another SOP
 * Instance UID than its name, or a mask run reaches past its pixels.
 */
export async function readSiimImage(request: SiimImageRequest): Promise<DecodedImage> {
  const { path, imageId, runs, size } = request;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DataFileError({ file: path }, `cannot read: ${(error as Error).message}`);
  }
  const dicom = decodeDicom(bytes, path);
  if (dicom.sopInstanceUid !== imageId) {
    throw new DataFileError(
      { file: path },
      `its SOP Instance UID is ${dicom.sopInstanceUid}, not the ${imageId} its name says`,
    );
  }
  const shape = { width: dicom.width, height: dicom.height };
  let mask: Uint8Array;
  try {
    mask = decodeRleMask(runs, shape.width, shape.height);
  } catch (error) {
    throw new DataFileError({ file: path }, `its mask does not fit: ${(error as Error).message}`);
  }
  return { image: areaResize(dicom.gray, size), mask: resizeMaskAny(mask, shape, size) };
}

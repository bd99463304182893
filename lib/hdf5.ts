/**
 * HDF5 access through h5wasm: opening a file with clear errors, and writing the lab's schema.
 *
 * h5wasm does not throw when a file is not HDF5 or is cut short; it prints HDF5's diagnostic
 * stack to standard error and hands back an unusable file. So before opening, this module reads
 * the superblock itself (hand-written because no library exposes it): the signature tells an
 * HDF5 file from an HTML error page, and the end-of-file address it records tells a complete file
 * from a truncated download.
 *
 * @module
 */
import h5wasm from "h5wasm/node";
import { DataFileError } from "./errors.ts";

/** The h5wasm file type. */
export type H5File = InstanceType<typeof h5wasm.File>;
/** The h5wasm dataset type. */
export type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const SUPERBLOCK_OFFSETS = [0, 512, 1024, 2048, 4096, 8192];
const UNDEFINED_ADDRESS = 0xffffffffffffffffn;

function hasSignatureAt(bytes: Uint8Array, offset: number): boolean {
  return SIGNATURE.every((byte, i) => bytes[offset + i] === byte);
}

function readAddress(view: DataView, offset: number, size: number): bigint {
  if (size === 8) return view.getBigUint64(offset, true);
  if (size === 4) return BigInt(view.getUint32(offset, true));
  if (size === 2) return BigInt(view.getUint16(offset, true));
  throw new Error(`unsupported HDF5 offset size ${size}`);
}

/**
 * The end-of-file address an HDF5 superblock records, or undefined when the superblock is of a
 * version this check does not know. Layout: HDF5 File Format Specification, section II.A.
 */
function recordedEndOfFile(head: Uint8Array, base: number): bigint | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = head[base + 8];
  if (version === 0 || version === 1) {
    const offsetSize = head[base + 13];
    const addresses = base + 24 + (version === 1 ? 4 : 0);
    return readAddress(view, addresses + 2 * offsetSize, offsetSize);
  }
  if (version === 2 || version === 3) {
    const offsetSize = head[base + 9];
    return readAddress(view, base + 12 + 2 * offsetSize, offsetSize);
  }
  return undefined;
}

function describeForeignContent(head: Uint8Array): string {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(head.subarray(0, 512))
    .trimStart().toLowerCase();
  if (text.startsWith("<!doctype html") || text.startsWith("<html") || text.includes("<head")) {
    return "this is an HTML page, not an HDF5 file (a download that returned an error or login page?)";
  }
  if (text.startsWith("{") || text.startsWith("[")) return "this is JSON text, not an HDF5 file";
  return "not an HDF5 file (no HDF5 signature found)";
}

/**
 * Checks that `path` is a complete HDF5 file, reading only its first few kilobytes.
 * Throws a {@link DataFileError} naming the file when it is missing, empty, not HDF5 (an HTML
 * error page, say) or shorter than its superblock says.
 */
export async function checkHdf5File(path: string): Promise<void> {
  let size: number;
  let head: Uint8Array;
  try {
    const file = await Deno.open(path, { read: true });
    try {
      size = (await file.stat()).size;
      head = new Uint8Array(Math.min(size, 8192 + 128));
      let filled = 0;
      while (filled < head.length) {
        const n = await file.read(head.subarray(filled));
        if (n === null) break;
        filled += n;
      }
    } finally {
      file.close();
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DataFileError({ file: path }, "file not found");
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new DataFileError({ file: path }, "is a directory, not an HDF5 file");
    }
    throw new DataFileError({ file: path }, `cannot read: ${(error as Error).message}`);
  }
  if (size === 0) throw new DataFileError({ file: path }, "file is empty (0 bytes)");
  const base = SUPERBLOCK_OFFSETS.find((offset) => hasSignatureAt(head, offset));
  if (base === undefined) throw new DataFileError({ file: path }, describeForeignContent(head));
  const end = recordedEndOfFile(head, base);
  if (end !== undefined && end !== UNDEFINED_ADDRESS && BigInt(size) < end + BigInt(base)) {
    throw new DataFileError(
      { file: path },
      `file is truncated: ${size} bytes, but its HDF5 header says ${end + BigInt(base)} ` +
        "(an interrupted download or copy?)",
    );
  }
}

/** Waits for the h5wasm module to be ready (idempotent). */
export async function readyHdf5(): Promise<void> {
  await h5wasm.ready;
}

/**
 * Opens an HDF5 file for reading after {@link checkHdf5File}; the caller closes it.
 */
export async function openHdf5(path: string): Promise<H5File> {
  await checkHdf5File(path);
  await readyHdf5();
  const file = new h5wasm.File(path, "r");
  if (!(file.file_id > 0n)) {
    throw new DataFileError({ file: path }, "HDF5 library could not open the file (corrupt?)");
  }
  return file;
}

/** Returns the dataset `name` of `file`, or throws a {@link DataFileError} listing what exists. */
export function requireDataset(file: H5File, path: string, name: string): H5Dataset {
  const entry = file.get(name);
  if (!(entry instanceof h5wasm.Dataset)) {
    const present = file.keys().join(", ") || "none";
    throw new DataFileError(
      { file: path, dataset: name },
      `missing (datasets present: ${present})`,
    );
  }
  return entry;
}

/** Returns the dataset `name` of `file` if it exists. */
export function optionalDataset(file: H5File, name: string): H5Dataset | undefined {
  const entry = file.get(name);
  return entry instanceof h5wasm.Dataset ? entry : undefined;
}

/** The arrays of one file of the lab's schema (see DESIGN.md, "Dataset files"). */
export interface LabArrays {
  /** Images, N x 256 x 256 (x 1), row-major uint8. */
  images: Uint8Array;
  /** Class index per image: 1 = pneumothorax, 0 = not. Written one-hot as `label` (N,2). */
  labels: Uint8Array;
  /** Lesion masks, same layout as images (phantoms only). */
  masks?: Uint8Array;
  /** Patient identifier per image (NIH imports). */
  patientIds?: string[];
  /** Source file name per image (NIH imports). */
  files?: string[];
}

/** Options of {@link writeLabFile}. */
export interface WriteLabFileOptions {
  /** Image side in pixels (default 256). */
  imageSize?: number;
}

/**
 * Writes `arrays` to `path` in the lab's schema: `image` (N,S,S,1) uint8, `label` (N,2) float32
 * one-hot with column 1 = pneumothorax, and the optional `mask`, `patient_id`, `file`.
 * Writes to `<path>.tmp` and renames, so a reader never sees a half-written file.
 */
export async function writeLabFile(
  path: string,
  arrays: LabArrays,
  options: WriteLabFileOptions = {},
): Promise<void> {
  const size = options.imageSize ?? 256;
  const n = arrays.labels.length;
  if (arrays.images.length !== n * size * size) {
    throw new RangeError(
      `images hold ${arrays.images.length} values, expected ${n}x${size}x${size}`,
    );
  }
  await readyHdf5();
  const oneHot = new Float32Array(n * 2);
  arrays.labels.forEach((label, i) => oneHot[i * 2 + (label ? 1 : 0)] = 1);
  const tmp = `${path}.tmp`;
  const file = new h5wasm.File(tmp, "w");
  try {
    const shape = [n, size, size, 1];
    file.create_dataset({ name: "image", data: arrays.images, shape, dtype: "<B" });
    file.create_dataset({ name: "label", data: oneHot, shape: [n, 2], dtype: "<f" });
    if (arrays.masks) {
      file.create_dataset({ name: "mask", data: arrays.masks, shape, dtype: "<B" });
    }
    if (arrays.patientIds) file.create_dataset({ name: "patient_id", data: arrays.patientIds });
    if (arrays.files) file.create_dataset({ name: "file", data: arrays.files });
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}

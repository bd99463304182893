/**
 * HDF5 access through h5wasm: opening a file with clear errors, and writing the lab's schema.
 *
 * h5wasm does not throw when a file is not HDF5 or is cut short; it prints HDF5's diagnostic
 * stack to standard error and hands back an unusable file. So before opening, this module reads
 * the superblock itself (hand-written because no library exposes it): the signature tells an
 * HDF5 file from an HTML error page, and the end-of-file address it records tells a complete file
 * from a truncated download. Reads of a file that passes that check but is damaged inside go
 * through {@link readHdf5Guarded}, which turns HDF5's complaints into a {@link DataFileError}.
 *
 * @module
 */
import h5wasm, { FS as hdf5Fs, Module as hdf5Module } from "h5wasm/node";
import { DataFileError, LabError } from "../core/errors.ts";
import { replaceFile } from "../core/fs.ts";
import { IMAGE_SIZE } from "./schema.ts";

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

function readAddress(view: DataView, offset: number, size: number): bigint | undefined {
  if (offset + size > view.byteLength) return undefined;
  if (size === 8) return view.getBigUint64(offset, true);
  if (size === 4) return BigInt(view.getUint32(offset, true));
  if (size === 2) return BigInt(view.getUint16(offset, true));
  return undefined;
}

/** What the superblock says about the file's length. */
type RecordedEnd = { kind: "address"; end: bigint } | { kind: "cut" } | { kind: "unknown" };

/**
 * The end-of-file address an HDF5 superblock records; `cut` when the file ends inside the
 * superblock; `unknown` for a version or offset size this check does not know. Layout: HDF5 File
 * Format Specification, section II.A.
 */
function recordedEndOfFile(head: Uint8Array, base: number): RecordedEnd {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (base + 14 > head.length) return { kind: "cut" };
  const version = head[base + 8];
  let offsetSize: number;
  let at: number;
  if (version === 0 || version === 1) {
    offsetSize = head[base + 13];
    at = base + 24 + (version === 1 ? 4 : 0) + 2 * offsetSize;
  } else if (version === 2 || version === 3) {
    offsetSize = head[base + 9];
    at = base + 12 + 2 * offsetSize;
  } else {
    return { kind: "unknown" };
  }
  if (![2, 4, 8].includes(offsetSize)) return { kind: "unknown" };
  const end = readAddress(view, at, offsetSize);
  return end === undefined ? { kind: "cut" } : { kind: "address", end };
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
  const recorded = recordedEndOfFile(head, base);
  if (recorded.kind === "cut") {
    throw new DataFileError(
      { file: path },
      `file is truncated: ${size} bytes end inside its HDF5 header (an interrupted download or ` +
        "copy?)",
    );
  }
  const end = recorded.kind === "address" ? recorded.end : UNDEFINED_ADDRESS;
  if (end !== UNDEFINED_ADDRESS && BigInt(size) < end + BigInt(base)) {
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

/** How many {@link readHdf5Guarded} calls are running (they may nest). */
let guardDepth = 0;

/** The part of an Emscripten file stream {@link closeLeakedErrorFiles} reads. */
interface OpenStream {
  path?: string;
}

/**
 * h5wasm 0.10.3's throwing error handler (`throwing_error_handler` in its `hdf5_util.cc`) prints
 * HDF5's error stack into a `tmpfile()` and throws before closing it, so each error leaves an
 * unlinked temporary file open: after about 2,000 errors the module runs out of descriptors and
 * aborts. This closes those files. Hand-written because h5wasm offers no other way; it uses only
 * the Emscripten `FS` that h5wasm exports.
 */
function closeLeakedErrorFiles(): void {
  if (hdf5Fs === null) return;
  const fs = hdf5Fs;
  const streams = (fs as unknown as { streams: (OpenStream | null)[] }).streams;
  for (const stream of streams) {
    const path = stream?.path;
    if (path?.startsWith("/tmp/tmpfile_") && !fs.analyzePath(path).exists) {
      fs.close(stream as Parameters<typeof fs.close>[0]);
    }
  }
}

/** HDF5's first complaint in a diagnostic stack ("H5Dread(): can't read data"), else line one. */
function firstComplaint(message: string): string {
  const frame = message.match(/#\d+: .* in (\w+\(\)): (.+)/);
  return (frame ? `${frame[1]}: ${frame[2]}` : message.split("\n")[0]).trim();
}

/**
 * The file whose reading made the h5wasm module abort (a damaged heap of variable-length
 * strings can); the module cannot run again in this process.
 */
let abortedReading: string | undefined;

/** The error a guarded read of `path` that failed with `error` (not a LabError) becomes. */
function readFailure(error: unknown, path: string): unknown {
  if (error instanceof WebAssembly.RuntimeError) {
    abortedReading ??= path;
    return new DataFileError(
      { file: path },
      "the HDF5 library aborted while reading it (damaged?); restart this program, or the " +
        "notebook's kernel, to read HDF5 files again",
      { cause: error },
    );
  }
  if (error instanceof Error && (error.constructor === Error || error instanceof RangeError)) {
    closeLeakedErrorFiles();
    return new DataFileError(
      { file: path },
      `HDF5 cannot read it (damaged or incompletely written?): ${firstComplaint(error.message)}`,
      { cause: error },
    );
  }
  return error;
}

/**
 * Runs `read`, synchronous h5wasm calls on the file at `path`, with h5wasm's throwing HDF5 error
 * handler switched on: a damaged file then fails at the first HDF5 call that notices, as a
 * {@link DataFileError} naming the file, instead of HDF5's diagnostic stack on standard error
 * and silently wrong data. The errors h5wasm itself throws (`Error`, `RangeError` for sizes it
 * cannot allocate, `WebAssembly.RuntimeError` when it aborts) are converted the same way; a
 * {@link LabError} passes through, and any other error (a bug) keeps its type. `read` must not
 * await: the handler is process-wide. Each error h5wasm 0.10.3 throws leaks about 1 KB of its
 * 2 MiB WebAssembly stack: it aborted after 2,024 errors in one process here, where a lab
 * session meets a handful.
 */
export function readHdf5Guarded<T>(path: string, read: () => T): T {
  if (abortedReading !== undefined) {
    throw new DataFileError(
      { file: path },
      `cannot read HDF5 files any more: the HDF5 library aborted while reading ` +
        `${abortedReading}; restart this program, or the notebook's kernel`,
    );
  }
  if (guardDepth === 0) hdf5Module.activate_throwing_error_handler();
  guardDepth++;
  try {
    return read();
  } catch (error) {
    throw error instanceof LabError ? error : readFailure(error, path);
  } finally {
    guardDepth--;
    if (guardDepth === 0 && abortedReading === undefined) {
      hdf5Module.deactivate_throwing_error_handler();
    }
  }
}

/**
 * Opens an HDF5 file for reading after {@link checkHdf5File}; the caller closes it. Read it
 * inside {@link readHdf5Guarded} to get clear errors from a damaged file.
 */
export async function openHdf5(path: string): Promise<H5File> {
  await checkHdf5File(path);
  await readyHdf5();
  const file = readHdf5Guarded(path, () => new h5wasm.File(path, "r"));
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

/** The arrays of one file of the lab's schema (the README's "Data" section). */
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
  /** Near-duplicate group per image, where films carry no patient id (SIIM's shipped films). */
  groups?: string[];
}

/** Options of {@link writeLabFile}. */
export interface WriteLabFileOptions {
  /** Image side in pixels (default 256). */
  imageSize?: number;
}

/**
 * Writes `arrays` to `path` in the lab's schema: `image` (N,S,S,1) uint8, `label` (N,2) float32
 * one-hot with column 1 = pneumothorax, and the optional `mask`, `patient_id`, `file`, `near_duplicate_group`.
 * Writes to `<path>.tmp` and renames, so a reader never sees a half-written file.
 */
export async function writeLabFile(
  path: string,
  arrays: LabArrays,
  options: WriteLabFileOptions = {},
): Promise<void> {
  const size = options.imageSize ?? IMAGE_SIZE;
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
    if (arrays.groups) file.create_dataset({ name: "near_duplicate_group", data: arrays.groups });
  } finally {
    file.close();
  }
  await replaceFile(tmp, path);
}

/**
 * Writing a file of the lab's schema slice by slice, for datasets too big to hold in memory twice
 * (10,000 phantoms with masks are 1.3 GB): `image` and `mask` are created chunked at their final
 * shape, and each slice is written as it is produced, in any order. Same schema as
 * `writeLabFile` in `lab_files.ts`; masks, mostly zeros, are gzip-compressed.
 *
 * @module
 */
import h5wasm from "h5wasm/node";
import { UsageError } from "../core/errors.ts";
import { replaceFile } from "../core/fs.ts";
import { readyHdf5 } from "./lab_files.ts";

/** Images per HDF5 chunk (1 MiB at 256 x 256). */
const CHUNK_IMAGES = 16;
/** gzip level of the masks: the fastest, as zeros compress well at any level. */
const MASK_GZIP_LEVEL = 1;

/** Options of {@link createLabFileStream}. */
export interface LabFileStreamOptions {
  /** Image side in pixels (default 256). */
  imageSize?: number;
  /** Whether the file gets a `mask` dataset (default false). */
  masks?: boolean;
}

/** A lab file being written; see {@link createLabFileStream}. */
export interface LabFileStream {
  /**
   * Writes images `start` .. `start + k - 1` (and their masks, when the file has them), where
   * `images` holds k images.
   */
  write(start: number, images: Uint8Array, masks?: Uint8Array): void;
  /** Finishes the file and moves it into place. */
  close(): Promise<void>;
  /** Closes and deletes the unfinished file. */
  abort(): Promise<void>;
}

/**
 * Starts writing `path` for images with class indices `labels` (written at once, one-hot float32
 * (N,2) with column 1 = pneumothorax). Writes go to `<path>.tmp`, renamed on
 * {@link LabFileStream.close}, so a reader never sees a half-written file.
 */
export async function createLabFileStream(
  path: string,
  labels: Uint8Array,
  options: LabFileStreamOptions = {},
): Promise<LabFileStream> {
  const size = options.imageSize ?? 256;
  const n = labels.length;
  const pixels = size * size;
  await readyHdf5();
  const oneHot = new Float32Array(n * 2);
  labels.forEach((label, i) => oneHot[i * 2 + (label ? 1 : 0)] = 1);
  const tmp = `${path}.tmp`;
  const file = new h5wasm.File(tmp, "w");
  const chunked = (name: string, gzip: boolean) => {
    const dataset = file.create_dataset({
      name,
      data: new Uint8Array(0),
      shape: [0, size, size, 1],
      maxshape: [null, size, size, 1],
      chunks: [Math.max(1, Math.min(n, CHUNK_IMAGES)), size, size, 1],
      dtype: "<B",
      ...(gzip ? { compression: "gzip", compression_opts: MASK_GZIP_LEVEL } : {}),
    });
    dataset.resize([n, size, size, 1]);
    return dataset;
  };
  const image = chunked("image", false);
  file.create_dataset({ name: "label", data: oneHot, shape: [n, 2], dtype: "<f" });
  const mask = options.masks ? chunked("mask", true) : undefined;
  let open = true;
  return {
    write(start, images, masks) {
      const count = images.length / pixels;
      if (!Number.isInteger(count) || start < 0 || start + count > n) {
        throw new UsageError(
          `${path}: cannot write ${images.length} bytes at image ${start} of ${n} (${size}x${size})`,
        );
      }
      if (mask && masks?.length !== images.length) {
        throw new UsageError(`${path}: images ${start}.. need masks of ${images.length} bytes`);
      }
      image.write_slice([[start, start + count], [], [], []], images);
      if (mask && masks) mask.write_slice([[start, start + count], [], [], []], masks);
    },
    async close() {
      if (!open) return;
      open = false;
      file.close();
      await replaceFile(tmp, path);
    },
    async abort() {
      if (open) file.close();
      open = false;
      await Deno.remove(tmp).catch(() => {});
    },
  };
}

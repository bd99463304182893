/**
 * The lab's one way to put a file in place: write it under a temporary name, flush it to the disk,
 * rename it over the destination, then flush the directory's entry. A reader then sees the old
 * file or the complete new one, never half a file, even when the process is killed or the machine
 * loses power mid-write (a rename alone survives the first, not the second: without the flushes,
 * ext4 and xfs may commit the rename before the data).
 *
 * @module
 */

import { dirname } from "node:path";

/** Whether anything (file, directory, link) exists at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Writes `bytes` to a new file (failing if it exists) and flushes it to the disk. */
export async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/** Flushes a directory's entries (new names, renames) to the disk. */
export async function syncDirectory(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/**
 * Puts the complete file `temp` in place of `path` (which may or may not exist): flushes `temp`,
 * renames it to `path` and flushes the directory. `temp` must be on the same file system as
 * `path`, as a name beside it is.
 */
export async function replaceFile(temp: string, path: string): Promise<void> {
  const file = await Deno.open(temp, { read: true, write: true });
  try {
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(temp, path);
  await syncDirectory(dirname(path) || ".");
}

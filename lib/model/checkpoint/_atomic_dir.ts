/**
 * How a checkpoint directory is replaced atomically: everything is written and flushed into a
 * temporary sibling directory, which then replaces the checkpoint by two renames (the old one is
 * moved to `<dir>.previous` first and deleted last). A process killed at any moment leaves either
 * the new or the previous checkpoint complete, and {@link findCheckpoint} finds it.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { LabError } from "../../core/errors.ts";
import { pathExists, syncDirectory } from "../../core/fs.ts";
import { MANIFEST_FILE } from "./manifest.ts";

/** Suffix of the directory holding the previous checkpoint while a new one is committed. */
const PREVIOUS_SUFFIX = ".previous";
/** Infix of the temporary directory a checkpoint is written into. */
export const TEMP_INFIX = ".tmp-";

/** Fails unless `dir` is absent, empty or a checkpoint: a save never deletes other files. */
export async function checkReplaceable(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(dir)].map((entry) => entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    if (error instanceof Deno.errors.NotADirectory) {
      throw new LabError(`${dir} is a file, not a checkpoint directory`);
    }
    throw error;
  }
  if (entries.length > 0 && !entries.includes(MANIFEST_FILE)) {
    throw new LabError(
      `${dir} holds files but no ${MANIFEST_FILE}, so it is not a checkpoint; ` +
        "refusing to replace it (choose another directory)",
    );
  }
  if (entries.length === 0) await Deno.remove(dir);
}

/** Removes temporary directories left by saves that were killed. */
export async function removeStaleTemporaries(dir: string): Promise<void> {
  const parent = dirname(dir);
  const prefix = `${basename(dir)}${TEMP_INFIX}`;
  for (const entry of Deno.readDirSync(parent)) {
    if (entry.isDirectory && entry.name.startsWith(prefix)) {
      await Deno.remove(join(parent, entry.name), { recursive: true });
    }
  }
}

/** Puts the complete checkpoint `temp` in place of `dir`, keeping the old one until it is. */
export async function commit(temp: string, dir: string): Promise<void> {
  const previous = `${dir}${PREVIOUS_SUFFIX}`;
  if (await pathExists(dir)) {
    if (await pathExists(previous)) await Deno.remove(previous, { recursive: true });
    await Deno.rename(dir, previous);
  }
  await Deno.rename(temp, dir);
  await syncDirectory(dirname(dir));
  if (await pathExists(previous)) await Deno.remove(previous, { recursive: true });
}

/**
 * The directory holding the complete checkpoint saved as `dir`: `dir` itself, or
 * `<dir>.previous` when a save was killed between its two renames; undefined when neither has
 * a manifest.
 */
export async function findCheckpoint(dir: string): Promise<string | undefined> {
  for (const candidate of [dir, `${dir}${PREVIOUS_SUFFIX}`]) {
    if (await pathExists(join(candidate, MANIFEST_FILE))) return candidate;
  }
  return undefined;
}

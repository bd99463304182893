/**
 * Where the lab's own files are, in one place: modules move between folders, and a root counted
 * in `dirname` calls from each of them breaks when one does.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The repository root (the folder of `deno.json`). */
export const LAB_ROOT: string = fileURLToPath(new URL("../../", import.meta.url)).replace(
  /\/$/,
  "",
);

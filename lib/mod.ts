/**
 * The lab's library: what the notebooks import. Re-exports only.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./random.ts";
export * from "./progress.ts";
export * from "./hdf5.ts";
export * from "./dataset.ts";
export * from "./download.ts";
export * from "./data_source.ts";

/**
 * Worker thread of {@link createXrayPngPool}: reads one PNG per request and answers with its
 * 8-bit gray pixels at the requested size (transferred, not copied).
 *
 * @module
 */
import { serveWorkerPool } from "../core/worker_pool.ts";
import { readXrayPng, type XrayPngRequest } from "./xray_png.ts";

serveWorkerPool(
  ({ path, size }: XrayPngRequest) => readXrayPng(path, size),
  (pixels) => [pixels.buffer as ArrayBuffer],
);

/**
 * Worker thread of the SIIM-ACR importer: reads one DICOM and its mask per request (see
 * `siim_image.ts`) and answers with both, transferred rather than copied.
 *
 * @module
 */
import { serveWorkerPool } from "../core/worker_pool.ts";
import { readSiimImage } from "./siim_image.ts";

serveWorkerPool(readSiimImage, (reply) => [
  reply.image.buffer as ArrayBuffer,
  ...(reply.mask ? [reply.mask.buffer as ArrayBuffer] : []),
]);

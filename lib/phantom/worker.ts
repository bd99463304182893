/**
 * Worker entry of the phantom generator: renders each {@link PhantomJob} it receives and answers
 * with the images, masks and tube flags, transferring their buffers.
 *
 * @module
 */
import { serveWorkerPool } from "../core/worker_pool.ts";
import { type PhantomJob, renderPhantomJob } from "./jobs.ts";

serveWorkerPool(
  (job: PhantomJob) => renderPhantomJob(job),
  (result) => [result.images, result.masks, result.tubes].map((a) => a.buffer as ArrayBuffer),
);

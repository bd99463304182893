/**
 * Worker entry of the phantom generator: renders each {@link PhantomJob} it receives and posts
 * the images, masks and tube flags back, transferring their buffers.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type PhantomJob, renderPhantomJob } from "./jobs.ts";

self.onmessage = (event: MessageEvent<PhantomJob>) => {
  const result = renderPhantomJob(event.data);
  const buffers = [result.images, result.masks, result.tubes].map((a) => a.buffer as ArrayBuffer);
  self.postMessage(result, buffers);
};

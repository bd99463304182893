/**
 * Worker thread of {@link createXrayPngPool}: reads one PNG per message and answers with its
 * 8-bit gray pixels at the requested size (transferred, not copied), or the error message.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { readXrayPng, type XrayPngReply } from "./xray_png.ts";

/** A request from the pool: read `path` as a `size` x `size` image. */
interface XrayPngRequest {
  id: number;
  path: string;
  size: number;
}

self.onmessage = async (event: MessageEvent<XrayPngRequest>) => {
  const { id, path, size } = event.data;
  let reply: XrayPngReply;
  try {
    reply = { id, pixels: await readXrayPng(path, size) };
  } catch (error) {
    reply = { id, error: error instanceof Error ? error.message : String(error) };
  }
  self.postMessage(reply, reply.pixels ? [reply.pixels.buffer as ArrayBuffer] : []);
};

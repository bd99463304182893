/**
 * The lab's one pool of module workers, for work that is the same function applied to many
 * independent inputs (drawing phantoms, decoding X-ray files). The calling thread queues requests
 * and each idle worker takes the next; replies are matched to requests by id, so callers may await
 * them in any order. A worker's module calls {@link serveWorkerPool} with the function it runs.
 *
 * With 0 workers the same function runs on the calling thread, so results never depend on the
 * number of workers.
 *
 * Why not one worker per request: starting a Deno worker costs tens of milliseconds and a module
 * graph, more than decoding one image.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import { requireInteger } from "./validate.ts";

/** The default number of worker threads: the logical cores, at most 8. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));
}

/** Runs requests on a fixed set of worker threads; `close()` when done. */
export interface WorkerPool<Request, Result> {
  /** Number of worker threads (0: the calling thread). */
  readonly workers: number;
  /** Queues `request` for the next idle worker; resolves with its result or rejects with its error. */
  run(request: Request): Promise<Result>;
  /** Stops the workers; requests still pending are rejected. */
  close(): void;
}

interface Envelope<Request> {
  id: number;
  request: Request;
}

interface Reply<Result> {
  id: number;
  result?: Result;
  error?: string;
}

/** The part of a worker's global scope a pool's worker uses (typed here, not by the worker lib,
 * because this module is also loaded by the calling thread). */
interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
}

/** Options of {@link createWorkerPool}. */
export interface WorkerPoolOptions<Request, Result> {
  /** Worker threads; 0 runs {@link WorkerPoolOptions.handle} on the calling thread instead. */
  workers: number;
  /** Says whose workers they are in errors ("phantom worker failed: ..."). */
  name: string;
  /**
   * The function the worker module serves, for 0 workers: results then never depend on the
   * number of workers. Required when `workers` is 0.
   */
  handle?: (request: Request) => Result | Promise<Result>;
}

/**
 * Starts `options.workers` module workers running `url`, a module that calls
 * {@link serveWorkerPool}; with 0 workers, runs `options.handle` on the calling thread.
 */
export function createWorkerPool<Request, Result>(
  url: URL,
  options: WorkerPoolOptions<Request, Result>,
): WorkerPool<Request, Result> {
  const { workers: count, name, handle } = options;
  requireInteger("workers", count, { min: 0 });
  if (count === 0) {
    if (handle === undefined) throw new UsageError(`${name} pool: 0 workers needs a handle`);
    return { workers: 0, run: async (request) => await handle(request), close: () => {} };
  }
  type Pending = { resolve: (result: Result) => void; reject: (error: Error) => void };
  const pending = new Map<number, Pending>();
  const queue: Envelope<Request>[] = [];
  const idle: Worker[] = [];
  const workers: Worker[] = [];
  let failure: Error | undefined;
  let nextId = 0;

  function dispatch(): void {
    while (idle.length > 0 && queue.length > 0) idle.pop()!.postMessage(queue.shift()!);
  }
  function failAll(error: Error): void {
    failure ??= error;
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
    queue.length = 0;
  }
  for (let i = 0; i < count; i++) {
    const worker = new Worker(url, { type: "module" });
    worker.onmessage = (event: MessageEvent<Reply<Result>>) => {
      const { id, result, error } = event.data;
      const waiting = pending.get(id);
      pending.delete(id);
      idle.push(worker);
      dispatch();
      if (error === undefined) waiting?.resolve(result as Result);
      else waiting?.reject(new Error(error));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      failAll(new Error(`${name} worker failed: ${event.message}`));
    };
    workers.push(worker);
    idle.push(worker);
  }
  return {
    workers: count,
    run(request) {
      if (failure) return Promise.reject(failure);
      const id = nextId++;
      const result = new Promise<Result>((resolve, reject) => {
        pending.set(id, { resolve, reject });
      });
      queue.push({ id, request });
      dispatch();
      return result;
    },
    close() {
      for (const worker of workers) worker.terminate();
      failAll(new Error(`${name} pool closed`));
    },
  };
}

/**
 * Makes the calling worker serve a {@link WorkerPool}: runs `handle` on each request and posts its
 * result (transferring the buffers `transfer` lists) or its error message back.
 */
export function serveWorkerPool<Request, Result>(
  handle: (request: Request) => Result | Promise<Result>,
  transfer: (result: Result) => ArrayBuffer[] = () => [],
): void {
  const scope = self as unknown as WorkerScope;
  scope.onmessage = async (event: MessageEvent<Envelope<Request>>) => {
    const { id, request } = event.data;
    let reply: Reply<Result>;
    try {
      reply = { id, result: await handle(request) };
    } catch (error) {
      reply = { id, error: error instanceof Error ? error.message : String(error) };
    }
    scope.postMessage(reply, reply.result === undefined ? [] : transfer(reply.result));
  };
}

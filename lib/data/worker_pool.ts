/**
 * A pool of Deno module workers that answer requests of one kind (decode this file), for the
 * importers: each worker handles one request at a time, requests queue until one is idle, and
 * each answer settles the promise of its request. With 0 workers the same handler runs on the
 * calling thread, so results never depend on the number of workers.
 *
 * The worker module calls {@link serveRequests} with its handler; the pool is made with the
 * module's URL and the same handler for the 0-worker case.
 *
 * @module
 */

/** A pool of workers; `close()` when done. */
export interface WorkerPool<Request, Reply> {
  /** Number of worker threads (0: the calling thread). */
  readonly workers: number;
  /** Sends `request` to an idle worker (or queues it) and resolves with its reply. */
  run(request: Request): Promise<Reply>;
  /** Stops the workers; requests still pending are rejected. */
  close(): void;
}

/** What travels to a worker. */
interface Envelope<Request> {
  id: number;
  request: Request;
}

/** What travels back: the reply, or the error's message. */
interface ReplyEnvelope<Reply> {
  id: number;
  reply?: Reply;
  error?: string;
}

/** Options of {@link createWorkerPool}. */
export interface WorkerPoolOptions<Request, Reply> {
  /** Worker threads (0: run `handle` on the calling thread). */
  workers: number;
  /** The handler the worker module serves, for the 0-worker case. */
  handle: (request: Request) => Promise<Reply> | Reply;
  /** Names the pool in errors ("DICOM worker failed: ..."). */
  name: string;
}

/** The default number of decoding workers: the logical cores, at most 8. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));
}

/**
 * Starts `options.workers` workers running the module at `url` (which calls
 * {@link serveRequests}); replies come back in whatever order the caller awaits them.
 */
export function createWorkerPool<Request, Reply>(
  url: URL,
  options: WorkerPoolOptions<Request, Reply>,
): WorkerPool<Request, Reply> {
  const count = options.workers;
  if (count === 0) {
    return { workers: 0, run: async (request) => await options.handle(request), close: () => {} };
  }
  type Pending = { resolve: (reply: Reply) => void; reject: (error: Error) => void };
  const pending = new Map<number, Pending>();
  const queue: Envelope<Request>[] = [];
  const idle: Worker[] = [];
  const workers: Worker[] = [];
  let nextId = 0;

  function dispatch(): void {
    while (idle.length > 0 && queue.length > 0) idle.pop()!.postMessage(queue.shift()!);
  }
  function failAll(error: Error): void {
    for (const waiting of pending.values()) waiting.reject(error);
    pending.clear();
    queue.length = 0;
  }
  for (let i = 0; i < count; i++) {
    const worker = new Worker(url, { type: "module" });
    worker.onmessage = (event: MessageEvent<ReplyEnvelope<Reply>>) => {
      const { id, reply, error } = event.data;
      const waiting = pending.get(id);
      pending.delete(id);
      idle.push(worker);
      dispatch();
      if (error === undefined) waiting?.resolve(reply as Reply);
      else waiting?.reject(new Error(error));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      failAll(new Error(`${options.name} failed: ${event.message}`));
    };
    workers.push(worker);
    idle.push(worker);
  }
  return {
    workers: count,
    run(request) {
      const id = nextId++;
      const result = new Promise<Reply>((resolve, reject) => pending.set(id, { resolve, reject }));
      queue.push({ id, request });
      dispatch();
      return result;
    },
    close() {
      for (const worker of workers) worker.terminate();
      failAll(new Error(`${options.name} pool closed`));
    },
  };
}

/**
 * Called once by a worker module: answers each request with `handle`'s reply, moving the buffers
 * `transfer` lists instead of copying them, or with the error's message.
 */
export function serveRequests<Request, Reply>(
  handle: (request: Request) => Promise<Reply> | Reply,
  transfer: (reply: Reply) => Transferable[] = () => [],
): void {
  const scope = self as unknown as {
    onmessage: ((event: MessageEvent<Envelope<Request>>) => void) | null;
    postMessage(message: ReplyEnvelope<Reply>, transfer: Transferable[]): void;
  };
  scope.onmessage = async (event) => {
    const { id, request } = event.data;
    let envelope: ReplyEnvelope<Reply>;
    try {
      envelope = { id, reply: await handle(request) };
    } catch (error) {
      envelope = { id, error: error instanceof Error ? error.message : String(error) };
    }
    scope.postMessage(envelope, envelope.reply === undefined ? [] : transfer(envelope.reply));
  };
}

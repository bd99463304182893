/**
 * Downloads the lab's two data files from their original addresses, safely: the bytes go to
 * `<destination>.part`, an interrupted transfer resumes with an HTTP `Range` request, a stall
 * times out, an HTML error page or a short body is rejected, and the file gets its final name
 * only after it validates. A half-downloaded file never sits under the final name.
 *
 * HTTP itself is Deno's built-in `fetch`; written here by hand is only the resume protocol
 * (`Range`, 206/200/416), the idle timeout and validate-then-rename. The npm downloaders
 * (node-downloader-helper, easydl) sit on Node's `http` module, which Deno only emulates, and
 * would still need the HTML, validation and rename steps around them.
 *
 * @module
 */
import { basename, join } from "node:path";
import { LabError } from "../core/errors.ts";
import { replaceFile } from "../core/fs.ts";
import { TEST_FILE, TRAIN_FILE } from "./dataset.ts";
import { checkHdf5File } from "./lab_files.ts";
import {
  createProgressBar,
  formatBytes,
  type ProgressBar,
  type ProgressOptions,
} from "../core/progress.ts";

/** The lab's original download addresses (Dropbox), as the 2018 notebook fetched them. */
export const LAB_FILE_URLS = {
  test: "https://www.dropbox.com/s/x74ykyivipwnozs/pneumothorax_test.h5?dl=1",
  train: "https://www.dropbox.com/s/pnwf67qzztd1slc/pneumothorax_train.h5?dl=1",
} as const;

/** Which of the lab's files: `"train"` or `"test"`. */
export type LabFileKind = keyof typeof LAB_FILE_URLS;

const LAB_FILE_NAMES: Record<LabFileKind, string> = { test: TEST_FILE, train: TRAIN_FILE };

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 5;
const DEFAULT_RETRY_DELAY_MS = 1_000;
const encoder = new TextEncoder();

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /**
   * Milliseconds to wait for the server's answer, and then for each next piece of the body,
   * before giving up on the connection (default 30 000).
   */
  timeoutMs?: number;
  /**
   * How many times in a row a request that ends early (the connection drops, stalls or is cut
   * short) is followed by another before the download fails, keeping the partial file; a request
   * that brings new bytes starts the count again (default 5).
   */
  retries?: number;
  /** Wait before the first retry in milliseconds, doubled for each later one (default 1 000). */
  retryDelayMs?: number;
  /**
   * Checks the complete file (at its `.part` path) before it gets its final name; it throws to
   * reject the file (default: {@link checkHdf5File}, a complete HDF5 file). The data CLI passes
   * the lab's schema check.
   */
  validate?: (path: string) => unknown;
  /**
   * The progress bar (bytes, rate, ETA), or `false` for none (default: a bar on standard error,
   * labelled with the file name, sizes shown with {@link formatBytes}).
   */
  progress?: Partial<ProgressOptions> | false;
  /**
   * Receives one-line notes about retries and resumes (default: standard error, or the progress
   * bar's `write` when one is given).
   */
  log?: (message: string) => void;
}

/** What {@link downloadFile} did. */
export interface DownloadResult {
  /** Final path of the file. */
  path: string;
  /** Size of the file in bytes. */
  bytes: number;
  /** Whether it was fetched now (false when {@link downloadLabFiles} found it already there). */
  downloaded: boolean;
  /** Bytes that were already in `<path>.part` when this run started (0 for a fresh download). */
  resumedFrom: number;
  /** HTTP requests made (1 for a download that went through at once). */
  requests: number;
}

/** Options of {@link downloadLabFiles}. */
export interface DownloadLabFilesOptions extends DownloadOptions {
  /** Addresses to use instead of {@link LAB_FILE_URLS} (default: the lab's originals). */
  urls?: Partial<Record<LabFileKind, string>>;
  /** Download a file even when `outDir` already has it (default false: keep it). */
  overwrite?: boolean;
}

/** How one HTTP request ended, when it did not throw. */
type Attempt =
  | { kind: "complete" }
  | { kind: "restart"; reason: string }
  | { kind: "incomplete"; reason: string; received: number; total?: number };

/** Settings shared by the requests of one download. */
interface Transfer {
  url: string;
  part: string;
  timeoutMs: number;
  log: (message: string) => void;
  progress: (received: number, total: number | undefined, offset: number) => void;
}

function isTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Parses `Content-Range: bytes <start>-<end>/<total>` (or `bytes *\/<total>`). */
function parseContentRange(header: string | null): { start?: number; total?: number } {
  const match = header?.match(/^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i);
  if (!match) return {};
  return {
    start: match[1] === undefined ? undefined : Number(match[1]),
    total: match[2] === "*" ? undefined : Number(match[2]),
  };
}

function looksLikeHtml(chunk: Uint8Array): boolean {
  const first = chunk.find((byte) =>
    byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d
  );
  return first === 0x3c; // "<"
}

function htmlError(url: string, why: string): LabError {
  return new LabError(
    `${url} answered with an HTML page (${why}), not the data file: the link is broken, ` +
      "rate-limited or asks for a login",
  );
}

/** The useful part of a failed fetch's message: Deno puts the details in `cause`. */
function networkProblem(error: Error): string {
  const detail = error.cause instanceof Error ? error.cause.message : error.message;
  return detail.replace(/^error sending request for url \([^)]*\): /, "");
}

async function writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  for (let written = 0; written < chunk.length;) {
    written += await file.write(chunk.subarray(written));
  }
}

/**
 * Makes one request for the bytes `part` lacks and appends what arrives. Throws a LabError for
 * answers that retrying cannot fix (HTTP errors, HTML, no answer at all); returns how the body
 * ended otherwise.
 */
async function fetchOnce(transfer: Transfer, offset: number): Promise<Attempt> {
  const { url, timeoutMs } = transfer;
  const abort = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
  };
  const seconds = `${timeoutMs / 1000} s`;
  arm();
  try {
    const headers: Record<string, string> = { "accept-encoding": "identity" };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: abort.signal });
    } catch (error) {
      if (timedOut) throw new LabError(`${url}: no answer within ${seconds} (timed out)`);
      throw new LabError(`cannot download ${url}: ${networkProblem(error as Error)}`);
    }
    const range = parseContentRange(response.headers.get("content-range"));
    if (response.status === 416 && offset > 0) {
      await response.body?.cancel();
      if (range.total === offset) return { kind: "complete" };
      return { kind: "restart", reason: `the server refused to resume at byte ${offset}` };
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new LabError(`HTTP ${response.status} ${response.statusText} from ${url}`.trim());
    }
    const type = response.headers.get("content-type") ?? "";
    if (/text\/html/i.test(type)) {
      await response.body?.cancel();
      throw htmlError(url, `Content-Type ${type}`);
    }
    const resuming = response.status === 206;
    if (offset > 0 && !resuming) {
      transfer.log(`${url}: the server ignored the resume request; starting over`);
    }
    if (resuming && range.start !== offset) {
      await response.body?.cancel();
      return { kind: "restart", reason: `the server sent a range that starts at ${range.start}` };
    }
    const length = response.headers.get("content-length");
    const start = resuming ? offset : 0;
    const total = resuming ? range.total : length === null ? undefined : Number(length);
    return await receiveBody(transfer, response, start, total, arm, () => timedOut);
  } finally {
    clearTimeout(timer);
  }
}

/** Appends the body of `response` to the part file from byte `start`. */
async function receiveBody(
  transfer: Transfer,
  response: Response,
  start: number,
  total: number | undefined,
  arm: () => void,
  timedOut: () => boolean,
): Promise<Attempt> {
  const { url, part, timeoutMs } = transfer;
  const reader = response.body!.getReader();
  let file: Deno.FsFile | undefined;
  let received = start;
  try {
    for (;;) {
      arm();
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        const reason = timedOut()
          ? `no data for ${timeoutMs / 1000} s (timed out)`
          : `the connection dropped (${(error as Error).message})`;
        return { kind: "incomplete", reason, received, total };
      }
      if (chunk.done) break;
      if (file === undefined) {
        if (start === 0 && looksLikeHtml(chunk.value)) {
          await reader.cancel();
          throw htmlError(url, "the body starts with '<'");
        }
        file = await Deno.open(part, { write: true, create: true, truncate: start === 0 });
        await file.seek(start, Deno.SeekMode.Start);
      }
      await writeAll(file, chunk.value);
      received += chunk.value.length;
      transfer.progress(received, total, start);
    }
  } finally {
    file?.close();
    reader.releaseLock();
  }
  if (file === undefined && start === 0) await Deno.writeFile(part, new Uint8Array());
  if (total !== undefined && received < total) {
    return { kind: "incomplete", reason: "the body ended early (truncated)", received, total };
  }
  return { kind: "complete" };
}

/** Builds the progress callback and the log of one download. */
function reporting(destination: string, options: DownloadOptions) {
  const settings = options.progress === false ? undefined : options.progress ?? {};
  const interactive = settings?.interactive ?? isTerminal();
  const write = settings?.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  let bar: ProgressBar | undefined;
  let base = 0;
  const log = options.log ??
    ((message: string) => write(`${bar && interactive ? "\r\x1b[2K" : ""}${message}\n`));
  const progress = (received: number, total: number | undefined, offset: number) => {
    if (settings === undefined) return;
    if (bar === undefined || offset < base) {
      base = offset;
      const label = settings.label ?? basename(destination);
      bar = createProgressBar(total === undefined ? 0 : total - base, {
        format: formatBytes,
        unit: "",
        interactive,
        write,
        ...settings,
        label: base > 0 ? `${label} (resumed at ${formatBytes(base)})` : label,
      });
    }
    bar.update(received - base, total === undefined ? undefined : total - base);
  };
  return {
    log,
    progress,
    finish(ok: boolean) {
      if (ok) bar?.done();
      else if (bar && interactive) write("\n");
    },
  };
}

function describeAmount(received: number, total: number | undefined): string {
  return total === undefined
    ? formatBytes(received)
    : `${formatBytes(received)} of ${formatBytes(total)}`;
}

/**
 * Downloads `url` to `destination` through `<destination>.part`, resuming what an earlier run
 * left there, and renames it only once complete and validated.
 *
 * Throws a {@link LabError} with one line naming the URL when the server answers an HTTP error or
 * an HTML page, does not answer within `timeoutMs`, or keeps dropping the connection (then the
 * `.part` file stays, and the next call resumes it); and when the file fails `validate` (then
 * the `.part` file is deleted).
 *
 * @example
 * ```ts ignore
 * import { downloadFile, LAB_FILE_URLS } from "./download.ts";
 * await downloadFile(LAB_FILE_URLS.test, "data/pneumothorax_test.h5", { timeoutMs: 60_000 });
 * ```
 */
export async function downloadFile(
  url: string,
  destination: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const part = `${destination}.part`;
  const retries = options.retries ?? DEFAULT_RETRIES;
  const retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  const report = reporting(destination, options);
  const transfer: Transfer = {
    url,
    part,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    log: report.log,
    progress: report.progress,
  };
  const resumedFrom = await fileSize(part);
  let requests = 0;
  let ok = false;
  try {
    for (let failures = 0;; failures++) {
      const offset = await fileSize(part);
      requests++;
      const attempt = await fetchOnce(transfer, offset);
      if (attempt.kind === "complete") break;
      const amount = attempt.kind === "incomplete"
        ? ` at ${describeAmount(attempt.received, attempt.total)}`
        : "";
      if (attempt.kind === "incomplete" && attempt.received > offset) failures = 0;
      if (failures >= retries) {
        throw new LabError(
          `${url}: download incomplete after ${requests} requests: ${attempt.reason}${amount}. ` +
            `The partial file ${part} is kept; run the download again to resume it`,
        );
      }
      if (attempt.kind === "restart") await removeIfPresent(part);
      const next = attempt.kind === "restart" ? "starting over" : "resuming";
      const retry = `retry ${failures + 1} of ${retries}`;
      report.log(`${basename(destination)}: ${attempt.reason}${amount}; ${next} (${retry})`);
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** failures));
    }
    await validateThenRename(url, part, destination, options.validate ?? checkHdf5File);
    ok = true;
  } finally {
    report.finish(ok);
  }
  return {
    path: destination,
    bytes: await fileSize(destination),
    downloaded: true,
    resumedFrom,
    requests,
  };
}

async function validateThenRename(
  url: string,
  part: string,
  destination: string,
  validate: (path: string) => unknown,
): Promise<void> {
  try {
    await validate(part);
  } catch (error) {
    await removeIfPresent(part);
    throw new LabError(
      `${url}: the downloaded file is not usable, so ${part} was deleted: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  await replaceFile(part, destination);
}

/**
 * Downloads the lab's `pneumothorax_train.h5` and `pneumothorax_test.h5` into `outDir`
 * (created if missing), skipping a file that is already there unless `overwrite` is set.
 *
 * @example
 * ```ts ignore
 * import { downloadLabFiles } from "./download.ts";
 * const { train, test } = await downloadLabFiles("data");
 * console.log(train.path, test.path);
 * ```
 */
export async function downloadLabFiles(
  outDir: string,
  options: DownloadLabFilesOptions = {},
): Promise<Record<LabFileKind, DownloadResult>> {
  await Deno.mkdir(outDir, { recursive: true });
  const results: Partial<Record<LabFileKind, DownloadResult>> = {};
  for (const kind of ["test", "train"] as const) {
    const path = join(outDir, LAB_FILE_NAMES[kind]);
    const bytes = await fileSize(path);
    if (bytes > 0 && !options.overwrite) {
      results[kind] = { path, bytes, downloaded: false, resumedFrom: 0, requests: 0 };
      continue;
    }
    results[kind] = await downloadFile(options.urls?.[kind] ?? LAB_FILE_URLS[kind], path, options);
  }
  return results as Record<LabFileKind, DownloadResult>;
}

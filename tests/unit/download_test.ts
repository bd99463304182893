import assert from "node:assert/strict";
import { join } from "node:path";
import { downloadFile, downloadLabFiles, LAB_FILE_URLS } from "../../lib/data/download.ts";
import { validateLabFile } from "../../lib/data/dataset.ts";
import { LabError } from "../../lib/core/errors.ts";
import { writeFixtureLabFile } from "../fixtures/lab_files.ts";

/** How the test server answers one request. */
interface Plan {
  /** Serve the whole file with 200 even when asked for a range. */
  ignoreRange?: boolean;
  /** Absolute byte at which the body stops: the connection closes (`"drop"`) or hangs (`"stall"`). */
  cutAt?: number;
  cut?: "drop" | "stall";
  /** Most bytes one 206 answer carries (its Content-Range then ends before the file does). */
  rangeLimit?: number;
  /** Answer every request with 206 from this byte, whatever was asked. */
  rangeFrom?: number;
  /** Never send the response headers (until the server closes). */
  silent?: boolean;
  /** A canned response instead of the file. */
  response?: () => Response;
}

interface TestServer {
  url: string;
  /** The `Range` header of every request, in order (null when none). */
  ranges: (string | null)[];
  close(): Promise<void>;
}

const CHUNK = 16 * 1024;
const FAST = { retryDelayMs: 0, progress: false as const, log: () => {} };

/** The lab file the server hands out: 4 images of 256x256 (about 260 kB). */
const fixture = (async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "served.h5");
  await writeFixtureLabFile(path, 4);
  const bytes = await Deno.readFile(path);
  await Deno.remove(dir, { recursive: true });
  return bytes;
})();

/** A body that sends `bytes` in chunks, then ends, drops at `cutAt`, or stalls there. */
function body(bytes: Uint8Array, offset: number, plan: Plan, onStall: Promise<void>) {
  const end = plan.cutAt === undefined ? bytes.length : plan.cutAt;
  let position = offset;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (position >= end) {
        if (plan.cut === "stall") await onStall;
        controller.close();
        return;
      }
      const next = Math.min(end, position + CHUNK);
      controller.enqueue(bytes.slice(position, next));
      position = next;
    },
  });
}

/** Serves `bytes` on 127.0.0.1 with Range support, each request following `plans[i]`. */
function serve(bytes: Uint8Array, plans: Plan[]): TestServer {
  const ranges: (string | null)[] = [];
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const plan = plans[Math.min(ranges.length, plans.length - 1)];
    ranges.push(request.headers.get("range"));
    if (plan.silent) await released;
    if (plan.response) return plan.response();
    const asked = request.headers.get("range")?.match(/^bytes=(\d+)-$/);
    const offset = plan.rangeFrom ?? (asked && !plan.ignoreRange ? Number(asked[1]) : 0);
    if (offset >= bytes.length) {
      return new Response(null, {
        status: 416,
        headers: { "content-range": `bytes */${bytes.length}` },
      });
    }
    const end = offset > 0
      ? Math.min(bytes.length, offset + (plan.rangeLimit ?? Infinity))
      : bytes.length;
    const headers: Record<string, string> = {
      "content-type": "application/octet-stream",
      "content-length": String(end - offset),
      "accept-ranges": "bytes",
    };
    if (offset > 0) headers["content-range"] = `bytes ${offset}-${end - 1}/${bytes.length}`;
    return new Response(body(bytes.subarray(0, end), offset, plan, released), {
      status: offset > 0 ? 206 : 200,
      headers,
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/pneumothorax_test.h5?dl=1`,
    ranges,
    async close() {
      release();
      await server.shutdown();
    },
  };
}

/** Runs `test` with a fresh directory and a server, cleaning both up. */
async function withServer(
  plans: Plan[],
  test: (server: TestServer, dir: string, bytes: Uint8Array) => Promise<void>,
) {
  const bytes = await fixture;
  const dir = await Deno.makeTempDir();
  const server = serve(bytes, plans);
  try {
    await test(server, dir, bytes);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The amount a file size shows as in the progress bar, in kB. */
function kB(bytes: number): number {
  return Number((bytes / 1000).toFixed(1));
}

/** The `done/total` amounts, in kB, of one progress line such as `... 12.3 kB/264.2 kB ...`. */
function amounts(line: string): [number, number] {
  const match = line.match(/ ([\d.]+) kB\/([\d.]+) kB /);
  assert.ok(match, `amounts in ${line}`);
  return [Number(match[1]), Number(match[2])];
}

/** Asserts that the file at `path` holds exactly `expected` (naming the first differing byte). */
async function assertFileBytes(path: string, expected: Uint8Array) {
  const actual = await Deno.readFile(path);
  assert.equal(actual.length, expected.length, `${path}: size`);
  const differs = actual.findIndex((byte, i) => byte !== expected[i]);
  assert.equal(differs, -1, `${path}: first differing byte`);
}

/** Asserts a one-line LabError matching every pattern. */
function labError(...patterns: RegExp[]) {
  return (error: unknown) => {
    assert.ok(error instanceof LabError, `LabError expected, got ${error}`);
    assert.ok(!error.message.includes("\n"), `one line: ${error.message}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  };
}

Deno.test("downloadFile() fetches the file byte for byte, validates the .part, then renames", async () => {
  await withServer([{}], async (server, dir, bytes) => {
    const destination = join(dir, "pneumothorax_test.h5");
    const lines: string[] = [];
    const validated: { path: string; finalExists: boolean }[] = [];
    const result = await downloadFile(server.url, destination, {
      progress: { write: (text) => lines.push(text), interactive: false, intervalMs: 0 },
      validate: async (path) => {
        validated.push({ path, finalExists: await exists(destination) });
        await validateLabFile(path);
      },
    });
    await assertFileBytes(destination, bytes);
    assert.deepEqual(validated, [{ path: `${destination}.part`, finalExists: false }]);
    assert.equal(await exists(`${destination}.part`), false);
    assert.deepEqual(result, {
      path: destination,
      bytes: bytes.length,
      downloaded: true,
      resumedFrom: 0,
      requests: 1,
    });
    assert.deepEqual(server.ranges, [null]);
    const drawn = lines.map(amounts);
    assert.ok(drawn.length > 2, "the bar is redrawn as bytes arrive");
    assert.ok(drawn[0][0] < drawn[0][1], "first draw shows a part of the file");
    drawn.forEach(([done, total], i) => {
      assert.equal(total, kB(bytes.length));
      assert.ok(i === 0 || done >= drawn[i - 1][0], "amount only grows");
    });
    assert.equal(drawn.at(-1)![0], kB(bytes.length));
    assert.match(
      lines.at(-1)!,
      /^pneumothorax_test\.h5 \[#{24}\] .* [\d.]+ [kMG]?B ?\/s ETA 0s\n$/,
    );
  });
});

Deno.test("downloadFile() resumes with Range after the connection drops, as often as it progresses", async () => {
  const half = Math.floor((await fixture).length / 2);
  await withServer([{ cutAt: half, cut: "drop" }, {}], async (server, dir, bytes) => {
    const destination = join(dir, "file.h5");
    const notes: string[] = [];
    const result = await downloadFile(server.url, destination, {
      ...FAST,
      log: (note) => notes.push(note),
    });
    assert.deepEqual(server.ranges, [null, `bytes=${half}-`]);
    await assertFileBytes(destination, bytes);
    assert.equal(result.requests, 2);
    assert.equal(notes.length, 1);
    assert.match(notes[0], /connection dropped.*; resuming \(retry 1 of 5\)/);
  });
  const cuts = [60_000, 120_000, 180_000, 240_000];
  const plans: Plan[] = [...cuts.map((cutAt) => ({ cutAt, cut: "drop" as const })), {}];
  await withServer(plans, async (server, dir, bytes) => {
    const destination = join(dir, "file.h5");
    const result = await downloadFile(server.url, destination, { ...FAST, retries: 1 });
    assert.deepEqual(server.ranges, [null, ...cuts.map((cut) => `bytes=${cut}-`)]);
    assert.equal(result.requests, 5, "each request brought bytes, so one retry at a time sufficed");
    await assertFileBytes(destination, bytes);
  });
});

Deno.test("downloadFile() asks again for the rest when a range answer ends before the file", async () => {
  const plans = [{ cutAt: 50_000, cut: "drop" as const }, { rangeLimit: 100_000 }];
  await withServer(plans, async (server, dir, bytes) => {
    const destination = join(dir, "file.h5");
    const notes: string[] = [];
    const result = await downloadFile(server.url, destination, {
      ...FAST,
      log: (note) => notes.push(note),
    });
    const expected = [null, "bytes=50000-", "bytes=150000-", "bytes=250000-"];
    assert.deepEqual(
      server.ranges,
      expected.slice(0, Math.ceil((bytes.length - 50_000) / 100_000) + 1),
    );
    await assertFileBytes(destination, bytes);
    assert.equal(result.requests, server.ranges.length);
    assert.match(notes.at(-1) ?? "", /the body ended early \(truncated\) at .*; resuming/);
  });
});

Deno.test("downloadFile() resumes a .part an earlier run left, and finishes one already complete", async () => {
  await withServer([{}], async (server, dir, bytes) => {
    const destination = join(dir, "file.h5");
    await Deno.writeFile(`${destination}.part`, bytes.subarray(0, 100_000));
    const lines: string[] = [];
    const result = await downloadFile(server.url, destination, {
      ...FAST,
      progress: { write: (text) => lines.push(text), interactive: false, intervalMs: 0 },
    });
    assert.match(lines[0], /^file\.h5 \(resumed at 100\.0 kB\) /);
    assert.equal(amounts(lines.at(-1)!)[1], kB(bytes.length - 100_000), "bar counts what is left");
    await assertFileBytes(destination, bytes);
    assert.equal(result.resumedFrom, 100_000);
    assert.deepEqual(server.ranges, ["bytes=100000-"]);

    await Deno.rename(destination, `${destination}.part`);
    const complete = await downloadFile(server.url, destination, FAST);
    assert.deepEqual(server.ranges.slice(1), [`bytes=${bytes.length}-`], "one request, 416");
    assert.equal(complete.requests, 1);
    await assertFileBytes(destination, bytes);
  });
});

Deno.test("downloadFile() starts over when the server ignores Range or sends another range", async () => {
  await withServer([{ ignoreRange: true }], async (server, dir, bytes) => {
    const destination = join(dir, "file.h5");
    const stale = new Uint8Array(bytes.length + 5_000).fill(7);
    await Deno.writeFile(`${destination}.part`, stale);
    const notes: string[] = [];
    const result = await downloadFile(server.url, destination, {
      ...FAST,
      log: (note) => notes.push(note),
    });
    assert.match(notes.join("\n"), /ignored the resume request; starting over/);
    assert.deepEqual(server.ranges, [`bytes=${stale.length}-`]);
    await assertFileBytes(destination, bytes);
    assert.equal(result.bytes, bytes.length);
  });
  await withServer([{ rangeFrom: 1_000 }, {}], async (server, dir, bytes) => {
    const destination = join(dir, "file.h5");
    await Deno.writeFile(`${destination}.part`, bytes.subarray(0, 5_000));
    const notes: string[] = [];
    await downloadFile(server.url, destination, { ...FAST, log: (note) => notes.push(note) });
    assert.deepEqual(server.ranges, ["bytes=5000-", null]);
    await assertFileBytes(destination, bytes);
    assert.match(notes.join("\n"), /a range that starts at 1000; starting over/);
  });
});

Deno.test("downloadFile() reports an HTTP error as one line with the status and URL", async () => {
  const notFound = () => new Response("gone", { status: 404, statusText: "Not Found" });
  await withServer([{ response: notFound }], async (server, dir) => {
    const destination = join(dir, "file.h5");
    await assert.rejects(
      downloadFile(server.url, destination, FAST),
      labError(/^HTTP 404 Not Found from http:\/\/127\.0\.0\.1:\d+\/pneumothorax_test\.h5\?dl=1$/),
    );
    assert.equal(await exists(destination), false);
    assert.equal(await exists(`${destination}.part`), false);
  });
});

Deno.test("downloadFile() names the URL when nothing listens there", async () => {
  const server = serve(new Uint8Array(), [{}]);
  await server.close();
  const dir = await Deno.makeTempDir();
  try {
    const destination = join(dir, "file.h5");
    await assert.rejects(
      downloadFile(server.url, destination, FAST),
      labError(new RegExp(`^cannot download ${RegExp.escape(server.url)}: .*refused`, "i")),
    );
    assert.equal(await exists(`${destination}.part`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadFile() rejects an HTML page served with 200", async () => {
  const page = "\n<!DOCTYPE html><html><body>This file is no longer available</body></html>";
  const asHtml = () =>
    new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
  const asBinary = () =>
    new Response(page, { headers: { "content-type": "application/octet-stream" } });
  for (
    const [response, why] of [[asHtml, /Content-Type text\/html/], [
      asBinary,
      /starts with '<'/,
    ]] as const
  ) {
    await withServer([{ response }], async (server, dir) => {
      const destination = join(dir, "file.h5");
      await assert.rejects(
        downloadFile(server.url, destination, FAST),
        labError(/HTML page/, why, new RegExp(`^${RegExp.escape(server.url)}`)),
      );
      assert.equal(await exists(destination), false);
      assert.equal(await exists(`${destination}.part`), false);
    });
  }
});

Deno.test("downloadFile() gives up on a truncated body it cannot resume, keeping the .part", async () => {
  const half = Math.floor((await fixture).length / 2);
  const plan = { ignoreRange: true, cutAt: half, cut: "drop" } as const;
  await withServer([plan], async (server, dir, bytes) => {
    const destination = join(dir, "file.h5");
    await assert.rejects(
      downloadFile(server.url, destination, { ...FAST, retries: 2 }),
      labError(
        /download incomplete after 3 requests/,
        new RegExp(`at ${(half / 1000).toFixed(1)} kB of ${(bytes.length / 1000).toFixed(1)} kB`),
        /\.part is kept; run the download again to resume/,
      ),
    );
    assert.deepEqual(server.ranges, [null, `bytes=${half}-`, `bytes=${half}-`]);
    assert.equal(await exists(destination), false);
    await assertFileBytes(`${destination}.part`, bytes.subarray(0, half));
  });
});

Deno.test("downloadFile() times out on a server that stalls, and resumes after a stall", async () => {
  const half = Math.floor((await fixture).length / 2);
  await withServer([{ silent: true }], async (server, dir) => {
    const destination = join(dir, "file.h5");
    const start = performance.now();
    await assert.rejects(
      downloadFile(server.url, destination, { ...FAST, timeoutMs: 300 }),
      labError(/no answer within 0\.3 s \(timed out\)/),
    );
    assert.ok(performance.now() - start < 2_000, "gave up about when the timeout said");
    assert.equal(await exists(destination), false);
  });
  await withServer([{ cutAt: half, cut: "stall" }, {}], async (server, dir, bytes) => {
    const destination = join(dir, "file.h5");
    const notes: string[] = [];
    await downloadFile(server.url, destination, {
      ...FAST,
      timeoutMs: 300,
      log: (note) => notes.push(note),
    });
    assert.deepEqual(server.ranges, [null, `bytes=${half}-`]);
    await assertFileBytes(destination, bytes);
    assert.match(notes.join("\n"), /no data for 0\.3 s \(timed out\)/);
  });
  await withServer([{ cutAt: half, cut: "stall" }], async (server, dir) => {
    const destination = join(dir, "file.h5");
    await assert.rejects(
      downloadFile(server.url, destination, { ...FAST, timeoutMs: 300, retries: 0 }),
      labError(/no data for 0\.3 s \(timed out\)/, /is kept/),
    );
    assert.equal(await exists(destination), false);
  });
});

Deno.test("downloadFile() deletes a complete download that fails validation", async () => {
  const served = await fixture;
  const cut = served.subarray(0, served.length - 1000);
  const truncatedFile = () =>
    new Response(cut, { headers: { "content-type": "application/octet-stream" } });
  await withServer([{ response: truncatedFile }], async (server, dir) => {
    const destination = join(dir, "file.h5");
    await assert.rejects(
      downloadFile(server.url, destination, FAST),
      labError(/not usable, so .*file\.h5\.part was deleted: .*truncated/),
    );
    assert.equal(await exists(destination), false);
    assert.equal(await exists(`${destination}.part`), false);
  });
  await withServer([{}], async (server, dir) => {
    const destination = join(dir, "file.h5");
    const validate = () => {
      throw new LabError("dataset 'label': not one-hot");
    };
    await assert.rejects(
      downloadFile(server.url, destination, { ...FAST, validate }),
      labError(/deleted: dataset 'label': not one-hot$/),
    );
    assert.equal(await exists(destination), false);
    assert.equal(await exists(`${destination}.part`), false);
  });
});

Deno.test("downloadLabFiles() writes both lab files from overridden URLs and keeps existing ones", async () => {
  await withServer([{}], async (server, dir, bytes) => {
    const urls = { train: `${server.url}&split=train`, test: `${server.url}&split=test` };
    const first = await downloadLabFiles(dir, { ...FAST, urls, validate: validateLabFile });
    for (const name of ["pneumothorax_train.h5", "pneumothorax_test.h5"]) {
      await assertFileBytes(join(dir, name), bytes);
    }
    assert.equal(first.train.path, join(dir, "pneumothorax_train.h5"));
    assert.equal(first.test.downloaded, true);
    const again = await downloadLabFiles(dir, { ...FAST, urls });
    assert.equal(again.train.downloaded, false);
    assert.equal(again.test.bytes, bytes.length);
    assert.equal(server.ranges.length, 2, "no request for files already there");
    assert.match(
      LAB_FILE_URLS.train,
      /^https:\/\/www\.dropbox\.com\/.*pneumothorax_train\.h5\?dl=1$/,
    );
  });
});

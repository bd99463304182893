/**
 * The browser check: Jupyter Notebook (Debian's `jupyter-notebook`, 6.x) serves the answered
 * `05_cam` notebook on loopback, headless Chromium (Debian's) driven by playwright-core runs
 * every cell in the real Deno kernel in fast mode, and the test checks that no cell failed, that
 * the CAM overlay figure is drawn in the page, and that its title (naming the map's class) lies
 * whole inside the figure as the browser lays it out. The screenshot of the CAM output is kept in
 * `test-artifacts/05_cam.png` (the last cell's output: its prompt and the figure).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  CHROMIUM,
  commandWorks,
  denoKernelDir,
  ensureCheckpoint,
  guardNotebooks,
  type JupyterServer as Server,
  launchChromium,
  startJupyter,
  stopJupyter,
  waitForJupyter,
} from "../fixtures/jupyter.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "../fixtures/solutions.ts";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { NOTEBOOK_CHECKPOINT } from "../../lib/notebook/setup.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const NOTEBOOK = "05_cam.ipynb";
const ARTIFACTS = join(ROOT, "test-artifacts");
const SCREENSHOT = join(ARTIFACTS, "05_cam.png");
/** Pixels kept right of the figure in the screenshot (the output area spans the page). */
const SCREENSHOT_MARGIN = 16;
/** The whole page, kept when the check fails. */
const FAILURE_SCREENSHOT = join(ARTIFACTS, "05_cam_failure.png");
/** Time limits, in milliseconds, of the stages; together well under the test's 90 s budget. */
const SERVER_START_MS = 15_000;
const PAGE_LOAD_MS = 15_000;
const RUN_ALL_MS = 45_000;

/** What the page shows after running every cell. */
interface RunReport {
  /** The `ename: evalue` of every error output. */
  errors: string[];
  /** The text of the error and stderr outputs drawn in the page. */
  errorText: string;
  /** The text the cells printed (the check cells' PASS or FAIL lines among it). */
  printed: string;
  /** Outputs of the last code cell. */
  lastCellOutputs: number;
  /** Code cells whose prompt shows no execution count. */
  notRun: number;
  /** Code cells still running. */
  running: number;
}

/**
 * The part of Notebook 6's page (its `Jupyter` JS API and the DOM) the checks use. Functions
 * run in the page are serialized by Playwright, so each casts `globalThis` to this itself.
 */
interface NotebookPage {
  Jupyter: {
    notebook?: {
      _fully_loaded: boolean;
      kernel?: { is_connected(): boolean; info_reply?: { status?: string } };
      set_autosave_interval(interval: number): void;
      execute_all_cells(): void;
      get_cells(): {
        cell_type: string;
        input_prompt_number?: number | string | null;
        output_area: { outputs: { output_type: string; ename?: string; evalue?: string }[] };
      }[];
    };
  };
  document: {
    querySelector(selector: string): unknown;
    querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  };
}

/**
 * Opens the notebook, waits for its kernel (failing with the server's log past
 * {@link PAGE_LOAD_MS}), and turns autosave off so the file stays as it is.
 */
async function openNotebook(page: Page, server: Server): Promise<void> {
  try {
    await page.goto(`${server.url}/notebooks/${NOTEBOOK}?token=${server.token}`, {
      timeout: PAGE_LOAD_MS,
    });
    await page.waitForFunction(
      () => {
        const notebook = (globalThis as unknown as NotebookPage).Jupyter?.notebook;
        return notebook?._fully_loaded && notebook.kernel?.is_connected() &&
          notebook.kernel.info_reply?.status === "ok";
      },
      undefined,
      { timeout: PAGE_LOAD_MS },
    );
  } catch (error) {
    throw new Error(
      `${NOTEBOOK} did not open with a ready Deno kernel within ${PAGE_LOAD_MS} ms; ` +
        `server log:\n${server.log()}`,
      { cause: error },
    );
  }
  await page.evaluate(() =>
    (globalThis as unknown as NotebookPage).Jupyter.notebook!.set_autosave_interval(0)
  );
}

/** Reads what the page shows: errors, outputs, prompts. */
function readReport(page: Page): Promise<RunReport> {
  return page.evaluate(() => {
    const { Jupyter, document } = globalThis as unknown as NotebookPage;
    const cells = Jupyter.notebook!.get_cells().filter((cell) => cell.cell_type === "code");
    const outputs = cells.flatMap((cell) => cell.output_area.outputs);
    return {
      errors: outputs.filter((o) => o.output_type === "error").map((o) =>
        `${o.ename}: ${o.evalue}`
      ),
      errorText: Array.from(document.querySelectorAll(".output_error, .output_stderr"))
        .map((element) => element.textContent ?? "")
        .join("\n"),
      printed: Array.from(document.querySelectorAll(".output_stdout"))
        .map((element) => element.textContent ?? "")
        .join("\n"),
      lastCellOutputs: cells[cells.length - 1].output_area.outputs.length,
      notRun: cells.filter((cell) => typeof cell.input_prompt_number !== "number").length,
      running: document.querySelectorAll(".code_cell.running").length,
    };
  });
}

/**
 * Runs all cells through Jupyter's JS API and waits until none runs and the kernel is idle;
 * past {@link RUN_ALL_MS} fails with what the page shows so far.
 */
async function runAllCells(page: Page): Promise<RunReport> {
  await page.evaluate(() =>
    (globalThis as unknown as NotebookPage).Jupyter.notebook!.execute_all_cells()
  );
  try {
    await page.waitForFunction(
      () => {
        const { document } = globalThis as unknown as NotebookPage;
        return document.querySelectorAll(".code_cell.running").length === 0 &&
          document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null;
      },
      undefined,
      { timeout: RUN_ALL_MS, polling: 250 },
    );
  } catch (error) {
    const report = await readReport(page);
    throw new Error(
      `the cells did not finish within ${RUN_ALL_MS} ms (${report.running} still running, ` +
        `${report.notRun} without a count); error output so far:\n${report.errorText}`,
      { cause: error },
    );
  }
  return await readReport(page);
}

/** The CAM overlay: a PNG data URL drawn by an inline <svg> (Plot's image mark). */
const CAM_IMAGE = '.output_svg svg image[href^="data:image/png"]';

/** The first output area that holds a CAM overlay: section 5.4's, on the dataset's image. */
function camOutput(page: Page): Locator {
  return page.locator(".code_cell .output_area").filter({ has: page.locator(CAM_IMAGE) }).first();
}

/**
 * Runs the notebook in `page` and checks the outcome: no error output, every code cell run,
 * the CAM overlay drawn; then keeps the screenshot of the CAM output.
 */
async function checkCamNotebook(page: Page, server: Server): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await Deno.remove(FAILURE_SCREENSHOT).catch(() => {});
  await openNotebook(page, server);
  const report = await runAllCells(page);
  const diagnostics = `error output:\n${report.errorText}\nserver log:\n${server.log()}`;
  assert.deepEqual(report.errors, [], `cells failed; ${diagnostics}`);
  assert.equal(report.notRun, 0, `${report.notRun} code cells did not run; ${diagnostics}`);
  assert.ok(report.lastCellOutputs > 0, `the last cell has no output; ${diagnostics}`);
  for (const question of ["features 1/1", "cam 2/2", "class 1/1", "upsample 1/1"]) {
    assert.match(report.printed, new RegExp(`PASS ${question}: ok`), `check cell ${question}`);
  }
  const output = camOutput(page);
  const figure = output.locator(".output_svg svg");
  assert.equal(
    await figure.count(),
    1,
    `no CAM overlay (<svg> with a PNG <image>); ${diagnostics}`,
  );
  await output.scrollIntoViewIfNeeded();
  const box = await figure.boundingBox();
  assert.ok(box && box.width > 100 && box.height > 100, `CAM figure size ${JSON.stringify(box)}`);
  const title = figure.locator("text").filter({ hasText: "CAM of class 1 (pneumothorax)" });
  assert.equal(await title.count(), 1, `no CAM title naming the class; ${diagnostics}`);
  assert.match(await title.textContent() ?? "", /label pneumothorax, prediction/);
  const titleBox = await title.boundingBox();
  assert.ok(
    titleBox && titleBox.x >= box.x && titleBox.x + titleBox.width <= box.x + box.width,
    `the CAM title is clipped: ${JSON.stringify(titleBox)} in the figure ${JSON.stringify(box)}`,
  );
  const area = await output.boundingBox();
  assert.ok(area, "the CAM output area is laid out");
  const right = box.x + box.width + SCREENSHOT_MARGIN;
  await page.screenshot({
    path: SCREENSHOT,
    clip: { x: area.x, y: area.y, width: right - area.x, height: area.height },
  });
  assert.ok((await Deno.stat(SCREENSHOT)).size > 0, `empty screenshot ${SCREENSHOT}`);
}

Deno.test({
  name: "05_cam runs in Jupyter Notebook in headless Chromium and draws the CAM overlay",
  ignore: !commandWorks("jupyter-notebook") || !existsSync(CHROMIUM) || !HAS_SOLUTIONS,
  async fn() {
    const guard = await guardNotebooks(SOLUTIONS, [NOTEBOOK]);
    const madeCheckpoint = await ensureCheckpoint();
    const kernels = await denoKernelDir();
    const jupyterHome = await Deno.makeTempDir({ prefix: "lab-jupyter-home-" });
    const profile = await Deno.makeTempDir({ prefix: "lab-chromium-" });
    let server: Server | undefined;
    let context: BrowserContext | undefined;
    try {
      server = startJupyter({
        command: "jupyter-notebook",
        notebookDir: SOLUTIONS,
        home: jupyterHome,
        kernels,
        args: (_port, token) => [`--NotebookApp.token=${token}`, `--notebook-dir=${SOLUTIONS}`],
      });
      await waitForJupyter(server, SERVER_START_MS);
      context = await launchChromium(profile, PAGE_LOAD_MS);
      const page = context.pages()[0] ?? await context.newPage();
      try {
        await checkCamNotebook(page, server);
      } catch (error) {
        await page.screenshot({ path: FAILURE_SCREENSHOT, fullPage: true }).catch(() => {});
        throw error;
      }
    } finally {
      await context?.close();
      if (server) await stopJupyter(server);
      await Deno.remove(profile, { recursive: true });
      await Deno.remove(jupyterHome, { recursive: true });
      await Deno.remove(kernels, { recursive: true });
      if (madeCheckpoint) await Deno.remove(NOTEBOOK_CHECKPOINT, { recursive: true });
    }
    const saved = await guard.restore();
    assert.deepEqual(saved, [], "the browser session saved these notebooks (restored them)");
  },
});

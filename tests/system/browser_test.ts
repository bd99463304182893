/**
 * The lab in Jupyter Notebook 6 (Debian's `jupyter-notebook`), as a student of a classic setup
 * opens it: the server serves `notebooks/` on loopback, and headless Chromium (Debian's) driven
 * by playwright-core opens each answered notebook, runs it from the menu (Cell > Run All) in the
 * real Deno kernel in fast mode, and waits until no cell runs and the kernel is idle. Then, per
 * notebook: every code cell ran, none failed, every figure the kernel sent is drawn in the page,
 * every check cell printed PASS, and a screenshot with a figure in view is kept in
 * `test-artifacts/notebook6_<notebook>.png`. For 02 it watches the live training plot (one
 * display, redrawn in place at each evaluation); for 05 it checks that the CAM overlay is drawn
 * and that its title (naming the map's class) lies whole inside the figure as the browser lays
 * it out, and keeps the screenshot of that output in `test-artifacts/05_cam.png`.
 *
 * tests/system/jupyterlab_test.ts does the same in JupyterLab 4; the two share the server and
 * browser plumbing (tests/support/jupyter.ts) and which notebooks run: all six solutions, or
 * those `LAB_BROWSER_NOTEBOOKS` names (comma-separated).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  ARTIFACTS,
  assertLivePlot,
  BROWSER_NOTEBOOKS,
  checkedQuestions,
  CHROMIUM,
  commandWorks,
  denoKernelDir,
  ensureCheckpoint,
  guardNotebooks,
  type JupyterServer as Server,
  launchChromium,
  NOTEBOOKS_DIR,
  PAGE_LOAD_MS,
  RUN_ALL_MS,
  SERVER_START_MS,
  shutDownKernels,
  startJupyter,
  stopJupyter,
  waitForJupyter,
} from "../support/jupyter.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "../support/solutions.ts";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { NOTEBOOK_CHECKPOINT } from "../../lib/notebook/setup.ts";

/** The CAM output of 05, cut to the figure (the README's Notebook 6 screenshot). */
const CAM_SCREENSHOT = join(ARTIFACTS, "05_cam.png");
/** Pixels kept right of the figure in the screenshot (the output area spans the page). */
const SCREENSHOT_MARGIN = 16;

const missing = !commandWorks("jupyter-notebook")
  ? "no jupyter-notebook (Debian: apt-get install jupyter-notebook)"
  : !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium fonts-liberation)`
  : undefined;
if (missing && HAS_SOLUTIONS) console.log(`skipping the Jupyter Notebook browser test: ${missing}`);

/** An output as Notebook 6's model holds it (nbformat's JSON). */
interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  ename?: string;
  evalue?: string;
  data?: Record<string, unknown>;
}

/** What the page shows after running every cell. */
interface RunReport {
  /** The `ename: evalue` of every error output. */
  errors: string[];
  /** The text of the error and stderr outputs drawn in the page. */
  errorText: string;
  /** The text the cells printed (the check cells' PASS or FAIL lines among it). */
  printed: string;
  /** Code cells, and those whose prompt shows no execution count. */
  codeCells: number;
  notRun: number;
  /** Code cells still running. */
  running: number;
  /** Figure outputs in the model (SVG or PNG). */
  figureOutputs: number;
  /** Figures drawn in the page: the `aria-label` of each inline SVG, or "png". */
  drawn: string[];
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
      get_cells(): {
        cell_type: string;
        input_prompt_number?: number | string | null;
        output_area: { outputs: Output[] };
      }[];
    };
  };
  document: {
    querySelector(selector: string): unknown;
    querySelectorAll(selector: string): ArrayLike<{
      textContent: string | null;
      getAttribute(name: string): string | null;
    }>;
  };
  labTrainingSteps?: number[];
  MutationObserver: new (callback: () => void) => {
    observe(target: unknown, options: Record<string, boolean>): void;
  };
}

/**
 * Opens `name` (a path under `notebooks/`), waits for its kernel (failing with the server's log
 * past {@link PAGE_LOAD_MS}), and turns autosave off so the file stays as it is.
 */
async function openNotebook(page: Page, server: Server, name: string): Promise<void> {
  try {
    await page.goto(`${server.url}/notebooks/${name}?token=${server.token}`, {
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
      `${name} did not open with a ready Deno kernel within ${PAGE_LOAD_MS} ms; ` +
        `server log:\n${server.log()}`,
      { cause: error },
    );
  }
  await page.evaluate(() =>
    (globalThis as unknown as NotebookPage).Jupyter.notebook!.set_autosave_interval(0)
  );
}

/** Reads what the page shows: errors, outputs, prompts, figures. */
function readReport(page: Page): Promise<RunReport> {
  return page.evaluate(() => {
    const { Jupyter, document } = globalThis as unknown as NotebookPage;
    const cells = Jupyter.notebook!.get_cells().filter((cell) => cell.cell_type === "code");
    const outputs = cells.flatMap((cell) => cell.output_area.outputs);
    const textOf = (selector: string) =>
      Array.from(document.querySelectorAll(selector))
        .map((element) => element.textContent ?? "")
        .join("\n");
    return {
      errors: outputs.filter((o) => o.output_type === "error").map((o) =>
        `${o.ename}: ${o.evalue}`
      ),
      errorText: textOf(".output_error, .output_stderr"),
      printed: textOf(".output_stdout"),
      codeCells: cells.length,
      notRun: cells.filter((cell) => typeof cell.input_prompt_number !== "number").length,
      running: document.querySelectorAll(".code_cell.running").length,
      figureOutputs: outputs.filter((o) =>
        o.data && ("image/svg+xml" in o.data || "image/png" in o.data)
      ).length,
      drawn: Array.from(document.querySelectorAll(".output_svg svg:not(svg svg), .output_png img"))
        .map((element) => element.getAttribute("aria-label") ?? "png"),
    };
  });
}

/**
 * Watches the page for the live training plot: every time an inline `<svg>` described as
 * `training curves to step N` is drawn, N is recorded in `labTrainingSteps`, in order.
 */
function watchTrainingPlot(page: Page): Promise<void> {
  return page.evaluate(() => {
    const scope = globalThis as unknown as NotebookPage;
    const steps: number[] = [];
    scope.labTrainingSteps = steps;
    const seen = new WeakSet<object>();
    const record = () => {
      for (
        const svg of Array.from(scope.document.querySelectorAll(".output_svg svg:not(svg svg)"))
      ) {
        if (seen.has(svg)) continue;
        seen.add(svg);
        const match = /^training curves to step (\d+)$/.exec(svg.getAttribute("aria-label") ?? "");
        if (match) steps.push(Number(match[1]));
      }
    };
    new scope.MutationObserver(record).observe(scope.document, {
      subtree: true,
      childList: true,
    });
  });
}

/**
 * Runs all cells from the menu, as a student does (Cell > Run All), and waits until none runs
 * and the kernel is idle; past {@link RUN_ALL_MS} fails with what the page shows so far.
 */
async function runAllCells(page: Page, name: string): Promise<RunReport> {
  await page.locator("#menus a.dropdown-toggle", { hasText: /^Cell$/ }).click();
  await page.locator("#run_all_cells > a").click();
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
      `${name}: the cells did not finish within ${RUN_ALL_MS} ms (${report.running} still ` +
        `running, ${report.notRun} without a count); error output so far:\n${report.errorText}`,
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
 * 05's CAM overlay: drawn, its title naming the class inside the figure as laid out; keeps the
 * screenshot of that output.
 */
async function checkCamOverlay(page: Page, diagnostics: string): Promise<void> {
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
    path: CAM_SCREENSHOT,
    clip: { x: area.x, y: area.y, width: right - area.x, height: area.height },
  });
  assert.ok((await Deno.stat(CAM_SCREENSHOT)).size > 0, `empty screenshot ${CAM_SCREENSHOT}`);
}

/**
 * Runs solution `name` from the menu and checks what the page then shows; returns a line that
 * says how long Run All took (and where the live plot was seen).
 */
async function checkNotebook(page: Page, server: Server, name: string): Promise<string> {
  await openNotebook(page, server, `solutions/${name}.ipynb`);
  await watchTrainingPlot(page);
  const started = performance.now();
  const report = await runAllCells(page, name);
  const seconds = (performance.now() - started) / 1000;
  const diagnostics = `error output:\n${report.errorText}\nserver log:\n${server.log()}`;
  assert.deepEqual(report.errors, [], `${name}: cells failed; ${diagnostics}`);
  assert.equal(
    report.notRun,
    0,
    `${name}: ${report.notRun} code cells did not run; ${diagnostics}`,
  );
  assert.ok(report.figureOutputs > 0, `${name}: no figure output; ${diagnostics}`);
  assert.equal(
    report.drawn.length,
    report.figureOutputs,
    `${name}: figures sent ${report.figureOutputs}, drawn [${report.drawn.join("; ")}]`,
  );
  for (const question of await checkedQuestions(join(SOLUTIONS, `${name}.ipynb`))) {
    assert.match(report.printed, new RegExp(`^PASS ${question} \\d+/\\d+: ok$`, "m"), question);
  }
  let live = "";
  if (name === "02_training") {
    const steps: number[] = await page.evaluate(() =>
      (globalThis as unknown as NotebookPage).labTrainingSteps ?? []
    );
    const labels = report.drawn.filter((label) => label.startsWith("training curves"));
    assertLivePlot(steps, labels, report.printed);
    live = `; live plot drawn at steps ${steps.join(", ")}`;
  }
  if (name === "05_cam") await checkCamOverlay(page, diagnostics);
  await page.locator(".output_svg svg:not(svg svg), .output_png img").last()
    .scrollIntoViewIfNeeded();
  const path = join(ARTIFACTS, `notebook6_${name}.png`);
  await page.screenshot({ path });
  return `${name}: Run All to idle in ${
    seconds.toFixed(1)
  } s, ${report.drawn.length} figures${live}`;
}

Deno.test({
  name: `Jupyter Notebook in headless Chromium: Run All of the solutions (${
    BROWSER_NOTEBOOKS.join(", ")
  }) ends with no errors, figures drawn, checks passed, 02's plot live and 05's CAM title whole`,
  ignore: missing !== undefined || !HAS_SOLUTIONS,
  async fn(t) {
    const guard = await guardNotebooks(
      NOTEBOOKS_DIR,
      BROWSER_NOTEBOOKS.map((name) => `solutions/${name}.ipynb`),
    );
    const hadNotebookCheckpoint = existsSync(NOTEBOOK_CHECKPOINT);
    await ensureCheckpoint();
    const kernels = await denoKernelDir();
    const jupyterHome = await Deno.makeTempDir({ prefix: "lab-jupyter-home-" });
    const profile = await Deno.makeTempDir({ prefix: "lab-chromium-" });
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    let server: Server | undefined;
    let context: BrowserContext | undefined;
    try {
      server = startJupyter({
        command: "jupyter-notebook",
        notebookDir: NOTEBOOKS_DIR,
        home: jupyterHome,
        kernels,
        args: (_port, token) => [
          `--NotebookApp.token=${token}`,
          `--notebook-dir=${NOTEBOOKS_DIR}`,
        ],
      });
      await waitForJupyter(server, SERVER_START_MS);
      context = await launchChromium(profile, PAGE_LOAD_MS);
      for (const name of BROWSER_NOTEBOOKS) {
        await t.step(name, async () => {
          // The whole page, kept when the check fails (and only then: an older one goes).
          const failure = join(ARTIFACTS, `notebook6_${name}_failure.png`);
          await Deno.remove(failure).catch(() => {});
          const page = await context!.newPage();
          try {
            console.log(await checkNotebook(page, server!, name));
          } catch (error) {
            await page.screenshot({ path: failure, fullPage: true }).catch(() => {});
            throw error;
          } finally {
            await page.close();
            await shutDownKernels(server!);
          }
        });
      }
    } finally {
      await context?.close();
      if (server) await stopJupyter(server);
      for (const dir of [profile, jupyterHome, kernels]) {
        await Deno.remove(dir, { recursive: true });
      }
      // The stand-in checkpoint, or the one 02 saved, where there was none.
      if (!hadNotebookCheckpoint) {
        await Deno.remove(NOTEBOOK_CHECKPOINT, { recursive: true }).catch(() => {});
      }
    }
    const saved = await guard.restore();
    assert.deepEqual(saved, [], "the browser session saved these notebooks (restored them)");
  },
});

/**
 * The lab as most students open it: JupyterLab 4 serves `notebooks/` on loopback, and headless
 * Chromium (driven by playwright-core) opens each answered notebook, runs it as a student does
 * (the menu's Run > Run All Cells) in the real Deno kernel in fast mode, and waits until the
 * kernel is idle, no cell is queued and every code cell has its execution count. Then, per
 * notebook: none failed,
 * every figure the kernel sent is drawn in the page (and none shows as untrusted), every check
 * cell printed PASS, and a screenshot of the page with a figure in view is kept in
 * `test-artifacts/jupyterlab_<notebook>.png`. For 02 it also watches the live training plot:
 * JupyterLab must redraw the one display in place (update_display_data) at each evaluation, not
 * append new ones, ending at the step the training reached. Last, the untouched student 01:
 * every cell after the unanswered TODO's error must run and show its output, since the Deno
 * kernel runs them (JupyterLab clears their `[*]` at the error, yet takes their replies) and
 * those say where their failure comes from.
 *
 * Notebook 6 renders SVG inline, JupyterLab as an `<img>` of the SVG, so the figures' own
 * descriptions (their `aria-label`) are read from the image's data URL. What the page holds is
 * read from the front end's models through `window.jupyterapp`
 * (`--LabApp.expose_app_in_browser`); what runs is started by clicks, as a student would.
 *
 * JupyterLab is found as `deno task lab` finds it (cli/lab.ts): `$LAB_JUPYTERLAB`, else
 * `jupyter-lab` on PATH; without one the test is skipped with one line. All six solutions run
 * by default (about 2 minutes, 06's cross-validation the longest); `LAB_BROWSER_NOTEBOOKS`
 * names fewer, e.g. `LAB_BROWSER_NOTEBOOKS=02_training,05_cam` for the live plot and the CAMs.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BrowserContext, Locator, Page } from "playwright-core";
import {
  ARTIFACTS,
  assertLivePlot,
  BROWSER_NOTEBOOKS,
  checkedQuestions,
  CHROMIUM,
  denoKernelDir,
  ensureCheckpoint,
  guardNotebooks,
  type JupyterServer,
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
import { findJupyter, JUPYTERLAB_ENV } from "../../cli/lab.ts";
import { NOTEBOOK_CHECKPOINT } from "../../lib/notebook/setup.ts";

/** The untouched student notebook whose Run All meets an unanswered TODO. */
const STUDENT_NOTEBOOK = "01_dataset.ipynb";
/** The JupyterLab this test was written and passed with (.ci/run installs it). */
const TESTED_JUPYTERLAB = "4.6.6";

const found = await findJupyter();
const jupyterLab = found?.name === "JupyterLab" ? found : undefined;
const missing = !jupyterLab
  ? `no JupyterLab (set ${JUPYTERLAB_ENV} to a jupyter-lab, e.g. /opt/jupyterlab/bin/jupyter-lab ` +
    "after 'python3 -m venv /opt/jupyterlab && /opt/jupyterlab/bin/pip install " +
    `jupyterlab==${TESTED_JUPYTERLAB}', or put jupyter-lab on PATH)`
  : !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM}`
  : undefined;
if (missing && HAS_SOLUTIONS) console.log(`skipping the JupyterLab browser test: ${missing}`);

/**
 * Settings a fresh JupyterLab is given in its user settings folder: no news or update checks
 * (no network, and no "receive official Jupyter news?" toast over the screenshot), and no
 * autosave (the served solutions must stay as they are).
 */
const LAB_SETTINGS: Record<string, unknown> = {
  "@jupyterlab/apputils-extension/notification": { fetchNews: "false", checkForUpdates: false },
  "@jupyterlab/docmanager-extension/plugin": { autosave: false },
};

async function writeLabSettings(jupyterHome: string): Promise<void> {
  const dir = join(jupyterHome, "config", "lab", "user-settings");
  for (const [plugin, settings] of Object.entries(LAB_SETTINGS)) {
    const path = join(dir, `${plugin}.jupyterlab-settings`);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, JSON.stringify(settings));
  }
}

/** The part of JupyterLab's app and models (`window.jupyterapp`) the checks read. */
interface LabPage {
  jupyterapp?: {
    shell: {
      currentWidget: {
        context?: { isReady: boolean; path: string };
        sessionContext?: {
          kernelDisplayStatus: string;
          session?: { kernel?: { connectionStatus: string; name: string } | null } | null;
        };
        content?: {
          model?: {
            cells: {
              length: number;
              get(index: number): {
                id: string;
                type: string;
                executionCount?: number | null;
                outputs?: { toJSON(): LabOutput[] };
              };
            };
          };
        };
      } | null;
    };
  };
  document: {
    querySelectorAll(selector: string): ArrayLike<{
      textContent: string | null;
      getAttribute(name: string): string | null;
      naturalWidth?: number;
    }>;
  };
  labTrainingSteps?: number[];
  MutationObserver: new (callback: () => void) => {
    observe(target: unknown, options: Record<string, boolean>): void;
  };
}

/** An output as nbformat writes it. */
interface LabOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  ename?: string;
  evalue?: string;
  data?: Record<string, unknown>;
  traceback?: string[];
}

/** What the page holds after Run All. */
interface Report {
  /** The notebook's kernel status as the toolbar shows it. */
  status: string;
  /** The code cells: id, execution count (null before it ran), outputs. */
  cells: { id: string; count: number | null; outputs: LabOutput[] }[];
  /** `ename: evalue` of every error output. */
  errors: string[];
  /** Everything the cells printed (stdout and stderr streams). */
  printed: string;
  /** Code cells and those without an execution count. */
  codeCells: number;
  notRun: number;
  /** Figure outputs in the model (SVG or PNG). */
  figureOutputs: number;
  /** Figures drawn in the page: their `aria-label`s (SVG) or "png", and whether each loaded. */
  drawn: { label: string; loaded: boolean }[];
  /** Outputs JupyterLab refused to draw as untrusted. */
  untrusted: number;
}

/**
 * Reads the page: the open notebook's model (outputs, execution counts) and the figures in its
 * DOM. A function run in the page, so it holds everything it needs.
 */
function readReport(page: Page): Promise<Report> {
  return page.evaluate(() => {
    const { jupyterapp, document } = globalThis as unknown as LabPage;
    const panel = jupyterapp!.shell.currentWidget!;
    const cells = panel.content!.model!.cells;
    const code = Array.from({ length: cells.length }, (_, i) => cells.get(i))
      .filter((cell) => cell.type === "code");
    const outputs = code.flatMap((cell) => cell.outputs!.toJSON());
    const text = (value: unknown) => [value ?? ""].flat().join("");
    const svgPrefix = "data:image/svg+xml,";
    const drawn = Array.from(
      document.querySelectorAll(
        ".jp-OutputArea-output img[src^='data:image/svg+xml'], " +
          ".jp-OutputArea-output img[src^='data:image/png']",
      ),
    ).map((img) => {
      const src = img.getAttribute("src") ?? "";
      const svg = src.startsWith(svgPrefix) ? decodeURIComponent(src.slice(svgPrefix.length)) : "";
      return {
        label: src.startsWith(svgPrefix)
          ? /aria-label="([^"]*)"/.exec(svg)?.[1] ?? "svg without a label"
          : "png",
        loaded: (img.naturalWidth ?? 0) > 0,
      };
    });
    return {
      status: panel.sessionContext!.kernelDisplayStatus,
      cells: code.map((cell) => ({
        id: cell.id,
        count: typeof cell.executionCount === "number" ? cell.executionCount : null,
        outputs: cell.outputs!.toJSON(),
      })),
      errors: outputs.filter((o) => o.output_type === "error")
        .map((o) => `${o.ename}: ${o.evalue}`),
      printed: outputs.filter((o) => o.output_type === "stream").map((o) => text(o.text)).join(""),
      codeCells: code.length,
      notRun: code.filter((cell) => typeof cell.executionCount !== "number").length,
      figureOutputs: outputs.filter((o) =>
        o.data && ("image/svg+xml" in o.data || "image/png" in o.data)
      ).length,
      drawn,
      untrusted: Array.from(document.querySelectorAll(".jp-OutputArea-output"))
        .filter((element) => /untrusted/i.test(element.textContent ?? "")).length,
    };
  });
}

/**
 * Opens `name` (a path under `notebooks/`) in JupyterLab, in a fresh workspace, and waits until
 * its Deno kernel is connected and idle; past {@link PAGE_LOAD_MS} fails with the server's log.
 */
async function openNotebook(page: Page, server: JupyterServer, name: string): Promise<void> {
  try {
    await page.goto(`${server.url}/lab/tree/${name}?reset&token=${server.token}`, {
      timeout: PAGE_LOAD_MS,
    });
    await page.waitForFunction(
      (path) => {
        const panel = (globalThis as unknown as LabPage).jupyterapp?.shell.currentWidget;
        const kernel = panel?.sessionContext?.session?.kernel;
        return panel?.context?.isReady && panel.context.path === path &&
          kernel?.connectionStatus === "connected" && kernel.name === "deno" &&
          panel.sessionContext!.kernelDisplayStatus === "idle";
      },
      name,
      { timeout: PAGE_LOAD_MS, polling: 250 },
    );
  } catch (error) {
    throw new Error(
      `${name} did not open in JupyterLab with an idle Deno kernel within ${PAGE_LOAD_MS} ms; ` +
        `server log:\n${server.log()}`,
      { cause: error },
    );
  }
}

/**
 * Watches the page for the live training plot: every time an `<img>` of a figure described as
 * `training curves to step N` appears or changes, N is recorded in `labTrainingSteps`, in order.
 */
function watchTrainingPlot(page: Page): Promise<void> {
  return page.evaluate(() => {
    const scope = globalThis as unknown as LabPage;
    const steps: number[] = [];
    scope.labTrainingSteps = steps;
    const seen = new Set<string>();
    const record = () => {
      for (const img of Array.from(scope.document.querySelectorAll(".jp-OutputArea-output img"))) {
        const src = img.getAttribute("src") ?? "";
        if (seen.has(src)) continue;
        seen.add(src);
        const match = /training curves to step (\d+)/.exec(decodeURIComponent(src));
        if (match) steps.push(Number(match[1]));
      }
    };
    new scope.MutationObserver(record).observe(scope.document, {
      subtree: true,
      childList: true,
      attributes: true,
    });
  });
}

/** Runs every cell from the menu, as a student does: Run > Run All Cells. */
async function runAllFromMenu(page: Page): Promise<void> {
  await page.locator(".lm-MenuBar-item", { hasText: /^Run$/ }).click();
  await page.locator(".lm-Menu-item")
    .filter({ has: page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }) })
    .click();
}

/**
 * Waits until the run has ended: the kernel idle, no cell queued or running (`[*]`; Run All
 * marks every cell so at once), and every code cell with its execution count. The count matters
 * after an error: JupyterLab then clears the `[*]` of the cells still queued, while the Deno
 * kernel goes on to run them (and their counts and outputs arrive later), so the kernel can be
 * idle between two of them with no `[*]` left. Past {@link RUN_ALL_MS} fails with what the page
 * holds.
 */
async function waitForRunAll(page: Page, name: string): Promise<Report> {
  const done = () => {
    const { jupyterapp, document } = globalThis as unknown as LabPage;
    const panel = jupyterapp!.shell.currentWidget!;
    const cells = panel.content!.model!.cells;
    const code = Array.from({ length: cells.length }, (_, i) => cells.get(i))
      .filter((cell) => cell.type === "code");
    const pending = Array.from(document.querySelectorAll(".jp-InputPrompt"))
      .some((prompt) => (prompt.textContent ?? "").includes("*"));
    return panel.sessionContext!.kernelDisplayStatus === "idle" && !pending &&
      code.every((cell) => typeof cell.executionCount === "number");
  };
  try {
    await page.waitForFunction(done, undefined, { timeout: RUN_ALL_MS, polling: 250 });
  } catch (error) {
    const report = await readReport(page);
    throw new Error(
      `${name}: Run All did not finish within ${RUN_ALL_MS} ms (kernel ${report.status}, ` +
        `${report.notRun} of ${report.codeCells} code cells without a count); errors so far: ` +
        `${report.errors.join("; ") || "none"}`,
      { cause: error },
    );
  }
  return await readReport(page);
}

/** The steps the live training plot was seen drawn at, and the descriptions of those left. */
async function livePlot(
  page: Page,
  report: Report,
): Promise<{ steps: number[]; labels: string[] }> {
  const steps: number[] = await page.evaluate(() =>
    (globalThis as unknown as LabPage).labTrainingSteps ?? []
  );
  const labels = report.drawn.map((figure) => figure.label)
    .filter((label) => label.startsWith("training curves"));
  return { steps, labels };
}

/**
 * Runs notebook `name` from JupyterLab's menu, checks what the page then shows, and returns a
 * line that says how long Run All took (and where the live plot was seen).
 */
async function checkNotebook(page: Page, server: JupyterServer, name: string): Promise<string> {
  await openNotebook(page, server, `solutions/${name}.ipynb`);
  await watchTrainingPlot(page);
  const started = performance.now();
  await runAllFromMenu(page);
  const report = await waitForRunAll(page, name);
  const seconds = (performance.now() - started) / 1000;
  const diagnostics = `printed:\n${report.printed.slice(-3000)}\nserver log:\n${server.log()}`;
  assert.deepEqual(report.errors, [], `${name}: cells failed; ${diagnostics}`);
  assert.equal(report.notRun, 0, `${name}: code cells did not run; ${diagnostics}`);
  assert.ok(report.figureOutputs > 0, `${name}: no figure output; ${diagnostics}`);
  assert.equal(
    report.drawn.length,
    report.figureOutputs,
    `${name}: figures sent ${report.figureOutputs}, drawn [${
      report.drawn.map((f) => f.label).join("; ")
    }]`,
  );
  const unloaded = report.drawn.filter((figure) => !figure.loaded).map((figure) => figure.label);
  assert.deepEqual(unloaded, [], `${name}: figures that did not load as images`);
  assert.equal(report.untrusted, 0, `${name}: outputs shown as untrusted`);
  for (const question of await checkedQuestions(join(SOLUTIONS, `${name}.ipynb`))) {
    assert.match(report.printed, new RegExp(`^PASS ${question} \\d+/\\d+: ok$`, "m"), question);
  }
  let live = "";
  if (name === "02_training") {
    const { steps, labels } = await livePlot(page, report);
    assertLivePlot(steps, labels, report.printed);
    live = `; live plot drawn at steps ${steps.join(", ")}`;
  }
  await keepScreenshot(page, name);
  return `${name}: Run All to idle in ${
    seconds.toFixed(1)
  } s, ${report.drawn.length} figures${live}`;
}

/**
 * Scrolls `target` into view (default the notebook's first CAM figure in 05, else its last
 * figure) and keeps the page.
 */
async function keepScreenshot(page: Page, name: string, target?: Locator): Promise<void> {
  const figures = page.locator(".jp-OutputArea-output img");
  const cam = page.locator(".jp-OutputArea-output img[src*='CAM%20of%20class%201']");
  const figure = target ?? (await cam.count() > 0 ? cam.first() : figures.last());
  await figure.scrollIntoViewIfNeeded();
  await page.mouse.move(0, 0);
  const path = join(ARTIFACTS, `jupyterlab_${name}.png`);
  await page.screenshot({ path });
  assert.ok((await Deno.stat(path)).size > 0, `empty screenshot ${path}`);
}

/**
 * The untouched student notebook 01 from Run All: the Deno kernel runs every queued cell after
 * an error (README, The student's loop), and JupyterLab must show them all run (the wait needs
 * every execution count): the TODO's one line, its check cell's FAIL, and the later cell's error
 * pointing back at the TODO.
 */
async function checkStudentNotebook(page: Page, server: JupyterServer): Promise<string> {
  await openNotebook(page, server, STUDENT_NOTEBOOK);
  const started = performance.now();
  await runAllFromMenu(page);
  const report = await waitForRunAll(page, STUDENT_NOTEBOOK);
  const seconds = (performance.now() - started) / 1000;
  const cell = (id: string) => report.cells.find((c) => c.id === id);
  const errorOf = (id: string) => cell(id)?.outputs.find((o) => o.output_type === "error");
  const diagnostics = `errors: ${report.errors.join("; ")}\nprinted:\n${report.printed}`;
  const gap = errorOf("load");
  assert.equal(gap?.ename, "NotAnsweredError", diagnostics);
  assert.match(gap?.evalue ?? "", /the TODO 'load' \(loadDataset\) is not answered yet/);
  assert.equal(gap?.traceback?.length, 1, "one line, no stack frames");
  assert.match(report.printed, /^FAIL load 0\/1: not answered/m);
  const later = errorOf("show");
  assert.equal(later?.ename, "ReferenceError", diagnostics);
  assert.match(
    later?.traceback?.join("") ?? "",
    /follows from the unanswered TODO 'load' \(loadDataset\) above/,
  );
  const firstError = page.locator(
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
  ).first();
  await keepScreenshot(page, "student_01_dataset", firstError);
  return `${STUDENT_NOTEBOOK}: Run All to idle in ${seconds.toFixed(1)} s, ` +
    `${report.errors.length} errors, every cell run`;
}

/** Runs `check` on a fresh page, keeping the whole page when it fails; then stops the kernel. */
async function onPage(
  context: BrowserContext,
  server: JupyterServer,
  name: string,
  check: (page: Page) => Promise<string>,
): Promise<void> {
  // The whole page, kept when the check fails (and only then: an older one goes).
  const path = join(ARTIFACTS, `jupyterlab_${name}_failure.png`);
  await Deno.remove(path).catch(() => {});
  const page = await context.newPage();
  try {
    console.log(await check(page));
  } catch (error) {
    await page.screenshot({ path, fullPage: true }).catch(() => {});
    throw error;
  } finally {
    await page.close();
    await shutDownKernels(server);
  }
}

Deno.test({
  name: `JupyterLab in headless Chromium: Run All of the solutions (${
    BROWSER_NOTEBOOKS.join(", ")
  }) ends with no errors, figures drawn and checks passed; of the untouched 01, runs every cell`,
  ignore: missing !== undefined || !HAS_SOLUTIONS,
  async fn(t) {
    console.log(`JupyterLab ${jupyterLab!.version}: ${jupyterLab!.command}`);
    const guard = await guardNotebooks(NOTEBOOKS_DIR, [
      ...BROWSER_NOTEBOOKS.map((name) => `solutions/${name}.ipynb`),
      STUDENT_NOTEBOOK,
    ]);
    const hadNotebookCheckpoint = existsSync(NOTEBOOK_CHECKPOINT);
    await ensureCheckpoint();
    const kernels = await denoKernelDir();
    const jupyterHome = await Deno.makeTempDir({ prefix: "lab-jupyterlab-home-" });
    const profile = await Deno.makeTempDir({ prefix: "lab-chromium-" });
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    let server: JupyterServer | undefined;
    let context: BrowserContext | undefined;
    try {
      await writeLabSettings(jupyterHome);
      server = startJupyter({
        command: jupyterLab!.command,
        notebookDir: NOTEBOOKS_DIR,
        home: jupyterHome,
        kernels,
        args: (_port, token) => [
          `--IdentityProvider.token=${token}`,
          `--ServerApp.root_dir=${NOTEBOOKS_DIR}`,
          "--LabApp.expose_app_in_browser=True",
          "--LabApp.news_url=",
        ],
      });
      await waitForJupyter(server, SERVER_START_MS);
      context = await launchChromium(profile, PAGE_LOAD_MS);
      for (const name of BROWSER_NOTEBOOKS) {
        await t.step(
          name,
          () => onPage(context!, server!, name, (page) => checkNotebook(page, server!, name)),
        );
      }
      await t.step(
        `student ${STUDENT_NOTEBOOK}`,
        () =>
          onPage(
            context!,
            server!,
            "student_01_dataset",
            (page) => checkStudentNotebook(page, server!),
          ),
      );
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

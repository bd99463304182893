import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decode } from "fast-png";
import {
  type Figure,
  type FigureElement,
  JUPYTER_DISPLAY,
  mimeBundle,
  plotCamOverlay,
  plotRoc,
  plotTrainingCurves,
  plotXray,
  plotXrayGrid,
  savePlot,
} from "../../lib/figures/mod.ts";
import { colorTable, HEAT_OPACITY } from "../../lib/figures/overlay.ts";
import { thresholdForSensitivity } from "../../lib/evaluation/roc.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { PYTHON, pythonHas } from "../support/python.ts";
import { computeRoc } from "../../lib/grading/references.ts";

const HAS_PYTHON_XML = pythonHas("xml.dom.minidom");

/** The `<image>` elements of a figure whose source is a PNG data URL, decoded. */
function pngImages(figure: FigureElement) {
  return Array.from(figure.querySelectorAll("image"), (element) => {
    const href = element.getAttribute("href") ?? "";
    assert.match(href, /^data:image\/png;base64,/);
    return { element, png: decode(Buffer.from(href.slice(href.indexOf(",") + 1), "base64")) };
  });
}

/** The numbers of an SVG path's `d` attribute, as [x, y] pairs. */
function pathPoints(d: string): [number, number][] {
  const numbers = (d.match(/-?\d+(\.\d+)?(e-?\d+)?/g) ?? []).map(Number);
  return Array.from({ length: numbers.length / 2 }, (_, i) => [numbers[2 * i], numbers[2 * i + 1]]);
}

/** Checks the display bundle and returns the SVG text. */
function assertDisplayable(figure: Figure): string {
  assert.equal(figure.tagName.toLowerCase(), "svg");
  const bundle = figure[JUPYTER_DISPLAY]();
  assert.equal(
    figure[Symbol.for("Jupyter.display") as typeof JUPYTER_DISPLAY],
    figure[JUPYTER_DISPLAY],
  );
  assert.deepEqual(Object.keys(bundle).sort(), ["image/svg+xml", "text/plain"]);
  assert.deepEqual(bundle, mimeBundle(figure));
  const svg = bundle["image/svg+xml"];
  assert.ok(svg.startsWith("<svg"), "Jupyter renders image/svg+xml from an <svg> root");
  assert.match(svg, /xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  return svg;
}

/** Saves a figure to a temporary file, checks it is well-formed XML when Python can tell. */
async function assertSaves(figure: Figure): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/figures/figure.svg`;
    await savePlot(figure, path);
    const text = await Deno.readTextFile(path);
    assert.ok(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg'));
    if (HAS_PYTHON_XML) {
      const check = new Deno.Command(PYTHON, {
        args: ["-c", "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])", path],
        stderr: "piped",
      }).outputSync();
      assert.ok(check.success, `not well-formed XML: ${new TextDecoder().decode(check.stderr)}`);
    }
    return text;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A 64x48 test image: a horizontal ramp of bytes. */
const WIDE = {
  data: Uint8Array.from({ length: 64 * 48 }, (_, i) => (i % 64) * 4),
  width: 64,
  height: 48,
};

Deno.test("plotXray() places the X-ray as one PNG filling a frame with axes, titled by label", async () => {
  const figure = plotXray(WIDE, { label: 1, size: 128 });
  const [image, ...others] = pngImages(figure);
  assert.equal(others.length, 0);
  assert.deepEqual([image.png.width, image.png.height, image.png.channels], [64, 48, 1]);
  assert.deepEqual(Array.from(image.png.data), Array.from(WIDE.data));
  assert.deepEqual([image.element.getAttribute("width"), image.element.getAttribute("height")], [
    "128",
    "96",
  ]);
  assert.match(figure.textContent ?? "", /pneumothorax/);
  assert.match(figure.textContent ?? "", /x \(pixels\)/, "axes are drawn");
  assert.ok(figure.querySelectorAll("rect").length < 5, "raster, not SVG rectangles");
  assertDisplayable(figure);
  assert.match(mimeBundle(figure)["text/plain"], /X-ray 64x48: pneumothorax/);
  await assertSaves(figure);
});

Deno.test("plotXray() reads a square float array, stretched to its range", () => {
  const image =
    pngImages(plotXray(Float32Array.of(-1, 0, 0, 1), { label: "normal", axes: false }))[0];
  assert.deepEqual(Array.from(image.png.data), [0, 128, 128, 255]);
  assert.throws(() => plotXray(new Uint8Array(4), { label: 2 }), /label is 2; it must be 0, 1/);
  assert.throws(() => plotXray(new Uint8Array(5)), UsageError);
});

Deno.test("plotXrayGrid() shows every image with its label, prediction and probability", async () => {
  const images = [0, 1, 2].map((k) => new Uint8Array(16 * 16).fill(k * 100));
  const figure = plotXrayGrid(images, {
    labels: [0, 1, 1],
    predictions: [0, 0, 1],
    probabilities: [0.12, 0.34, 0.91],
    columns: 2,
  });
  const decoded = pngImages(figure);
  assert.equal(decoded.length, 3);
  decoded.forEach(({ png }, k) => assert.equal(png.data[0], k * 100));
  const text = figure.textContent ?? "";
  for (
    const part of [
      "#0 normal",
      "pred normal p=0.12",
      "#1 pneumothorax",
      "p=0.34",
      "pred pneumothorax p=0.91",
    ]
  ) {
    assert.ok(text.includes(part), part);
  }
  const red = figure.outerHTML.split('fill="#d62728"').length - 1;
  assert.equal(red, 1, "only the wrong prediction's title is red");
  assert.equal(Number(figure.getAttribute("width")) < 2 * 160 + 40, true, "two columns");
  assertDisplayable(figure);
  await assertSaves(figure);
});

Deno.test("plotXrayGrid() rejects per-image arrays of another length and no images", () => {
  assert.throws(
    () => plotXrayGrid([new Uint8Array(4)], { labels: [0, 1] }),
    /labels has 2 entries for 1 images/,
  );
  assert.throws(() => plotXrayGrid([]), /no images/);
  assert.throws(
    () => plotXrayGrid([new Uint8Array(4)], { columns: 0 }),
    /columns must be an integer >= 1, got 0/,
  );
});

Deno.test("plotRoc() draws the curve, the chance diagonal and the AUC with its interval", async () => {
  const yTrue = [0, 0, 1, 1, 0, 1, 0, 1];
  const yScore = [0.1, 0.4, 0.35, 0.8, 0.2, 0.7, 0.6, 0.9];
  const roc = computeRoc(yTrue, yScore);
  const figure = plotRoc(roc, {
    interval: { low: 0.61, high: 0.97 },
    operatingPoints: [thresholdForSensitivity(yTrue, yScore, 0.75)],
  });
  const text = figure.textContent ?? "";
  assert.ok(text.includes(`model: AUC ${roc.auroc.toFixed(3)} (95% CI 0.610-0.970)`), text);
  assert.ok(text.includes("chance: AUC 0.5"));
  assert.match(text, /True-positive rate/);
  assert.match(text, /False-positive rate/);
  const lines = Array.from(
    figure.querySelectorAll('g[aria-label="line"] path'),
    (p) => pathPoints(p.getAttribute("d") ?? ""),
  );
  const curve = lines.find((points) => points.length === roc.fpr.length);
  assert.ok(curve, `a path with one vertex per ROC point (${roc.fpr.length})`);
  const [x0, y0] = curve[0], [x1, y1] = curve[curve.length - 1];
  const diagonal = lines.find((points) =>
    points.length === 2 && points[0][0] === x0 && points[0][1] === y0 && points[1][0] === x1 &&
    points[1][1] === y1
  );
  assert.ok(diagonal, "the chance diagonal joins the curve's ends (0,0) and (1,1)");
  assert.equal(figure.querySelectorAll("circle").length, 1, "the operating point");
  assertDisplayable(figure);
  assert.match(mimeBundle(figure)["text/plain"], /ROC curve, model: AUC/);
  await assertSaves(figure);
});

Deno.test("plotRoc() rejects mismatched curves", () => {
  assert.throws(() => plotRoc({ fpr: [0, 1], tpr: [0], auroc: 0.5 }), /fpr has 2 values and tpr 1/);
});

Deno.test("plotTrainingCurves() draws train and test cost and accuracy against the step", async () => {
  const series = (scale: number) =>
    Array.from({ length: 20 }, (_, i) => ({ step: i * 10, value: scale / (i + 1) }));
  const figure = plotTrainingCurves({
    trainCost: series(1),
    testCost: series(1.2),
    trainAccuracy: series(0.9),
    testAccuracy: series(0.8),
  });
  const paths = Array.from(figure.querySelectorAll('g[aria-label="line"] path'));
  assert.equal(paths.length, 4);
  for (const path of paths) assert.equal(pathPoints(path.getAttribute("d") ?? "").length, 20);
  const text = figure.textContent ?? "";
  for (const word of ["cost", "accuracy", "train", "test", "step"]) {
    assert.ok(text.includes(word), word);
  }
  assert.match(mimeBundle(figure)["text/plain"], /to step 190/);
  assertDisplayable(figure);
  await assertSaves(figure);
  const empty = plotTrainingCurves({});
  assert.equal(empty.querySelectorAll('g[aria-label="line"] path').length, 0);
  assertDisplayable(empty);
  assert.throws(
    () => plotTrainingCurves({ trainCost: [{ step: NaN, value: 1 }] }),
    /trainCost\[0\]/,
  );
});

Deno.test("plotCamOverlay() layers X-ray, colour-mapped heat, mask outline and a colour bar", async () => {
  const side = 32;
  const image = new Uint8Array(side * side).fill(90);
  const heat = Float32Array.from({ length: side * side }, (_, i) => (i % side) / 4);
  const mask = Uint8Array.from(
    { length: side * side },
    (_, i) => i % side < 8 && i < side * 8 ? 1 : 0,
  );
  const figure = plotCamOverlay(image, heat, {
    mask,
    title: "case 3",
    size: 128,
    colorMap: "turbo",
  });
  const [xray, layer, bar, ...rest] = pngImages(figure);
  assert.equal(rest.length, 0);
  assert.deepEqual([xray.png.width, xray.png.channels], [side, 1]);
  assert.deepEqual([layer.png.width, layer.png.height, layer.png.channels], [side, side, 4]);
  const table = colorTable("turbo");
  const last = (side - 1) * 4;
  assert.deepEqual(Array.from(layer.png.data.subarray(last, last + 4)), [
    ...table.subarray(765),
    Math.round(HEAT_OPACITY * 255),
  ]);
  assert.deepEqual([bar.png.width, bar.png.height], [256, 1]);
  assert.match(figure.textContent ?? "", /class activation/);
  assert.match(figure.textContent ?? "", /case 3/);
  // The mask is the top-left 8x8 pixels: its outline lies in the top-left quarter of the frame.
  const frameX = Number(xray.element.getAttribute("x")),
    frameY = Number(xray.element.getAttribute("y"));
  const contour = figure.querySelector('g[aria-label="contour"] path');
  assert.ok(contour, "a contour path for the mask");
  for (const [x, y] of pathPoints(contour.getAttribute("d") ?? "")) {
    assert.ok(
      x >= frameX && x <= frameX + 128 / 4 + 1 && y >= frameY && y <= frameY + 128 / 4 + 1,
      `${x},${y}`,
    );
  }
  assertDisplayable(figure);
  await assertSaves(figure);
  assert.equal(pngImages(plotCamOverlay(image, heat)).length, 3);
  assert.equal(plotCamOverlay(image, heat).querySelector('g[aria-label="contour"]'), null);
});

/** The numbers of a `translate(x,y)` attribute. */
function translation(element: FigureElement): [number, number] {
  const match = /translate\(([-\d.]+),\s*([-\d.]+)\)/.exec(element.getAttribute("transform") ?? "");
  return match ? [Number(match[1]), Number(match[2])] : [0, 0];
}

Deno.test("plotCamOverlay() shows a long title whole: from the figure's left edge, wrapped to its width, the map's class first", () => {
  const side = 32;
  const title =
    "test image 0: label pneumothorax, prediction pneumothorax, P(pneumothorax) = 0.977";
  const figure = plotCamOverlay(new Uint8Array(side * side), new Float32Array(side * side), {
    title,
    mapClass: 1,
  });
  const width = Number(figure.getAttribute("width"));
  const group = Array.from(figure.querySelectorAll('g[aria-label="text"]')).find((g) =>
    g.textContent?.includes("CAM of class")
  );
  assert.ok(group, "a title");
  assert.equal(group.getAttribute("text-anchor"), "start");
  const text = group.querySelector("text")!;
  const left = translation(group)[0] + translation(text)[0];
  assert.ok(left >= 0 && left <= 4, `the title starts at the left edge, x = ${left}`);
  const lines = Array.from(text.querySelectorAll("tspan"), (line) => line.textContent ?? "");
  assert.deepEqual(lines[0], "CAM of class 1 (pneumothorax)");
  assert.ok(lines.length >= 3, `the long line is wrapped: ${JSON.stringify(lines)}`);
  assert.equal(lines.slice(1).join(""), title, "nothing of the title is lost");
  for (const line of lines) {
    assert.ok(line.trimEnd().length * 6.4 <= width - 4, `'${line}' fits ${width} pixels`);
  }
  assert.match(
    figure.getAttribute("aria-label") ?? "",
    /^CAM of class 1 \(pneumothorax\): test image 0/,
  );
  const normal = plotCamOverlay(new Uint8Array(side * side), new Float32Array(side * side), {
    mapClass: "normal",
  });
  assert.match(normal.textContent ?? "", /CAM of class 0 \(normal\)/);
  assert.match(normal.textContent ?? "", /class activation: < 0 against, > 0 for normal/);
  assert.throws(
    () => plotCamOverlay(new Uint8Array(4), new Float32Array(4), { mapClass: 2 }),
    /mapClass is 2/,
  );
});

Deno.test("plotCamOverlay() draws a map red where the opposite class's map is blue, on one scale centred at 0", () => {
  const side = 16;
  const cam = Float32Array.from({ length: side * side }, (_, i) => (i % side) - 4);
  const opposite = cam.map((v) => -v);
  const layers = [cam, opposite].map((heat, k) => {
    const figure = plotCamOverlay(new Uint8Array(side * side).fill(128), heat, { mapClass: k });
    const ticks = Array.from(figure.querySelectorAll("text"), (t) => t.textContent);
    assert.ok(ticks.includes("0"), "0 is on the colour bar");
    return pngImages(figure)[1].png.data;
  });
  const at = (x: number) => (2 * side + x) * 4;
  const [r, , b, a] = layers[0].subarray(at(side - 1), at(side - 1) + 4);
  assert.ok(r > 3 * b && a > 0, "class 1's largest value is red");
  const [r0, , b0] = layers[1].subarray(at(side - 1), at(side - 1) + 4);
  assert.ok(b0 > 3 * r0, "class 0's map there is blue");
  assert.equal(layers[0][at(4) + 3], 0, "where the map is 0 nothing is laid over the X-ray");
});

Deno.test("plotCamOverlay() rejects a heat map of another size", () => {
  assert.throws(() => plotCamOverlay(new Uint8Array(64), new Float32Array(16)), /upsample the CAM/);
});

Deno.test("savePlot() wants an .svg path", async () => {
  await assert.rejects(
    savePlot(plotXray(new Uint8Array(16)), "figure.png"),
    /does not end in .svg/,
  );
});

Deno.test("plotXrayGrid() outlines a lesion where a mask is given, and names a masks list of the wrong length", () => {
  const size = 16;
  const image = new Uint8Array(size * size).fill(100);
  const mask = new Uint8Array(size * size);
  for (let y = 4; y < 8; y++) for (let x = 4; x < 8; x++) mask[y * size + x] = 1;
  const outlined = plotXrayGrid([image, image], { masks: [mask, undefined] });
  const plain = plotXrayGrid([image, image]);
  const sources = (figure: ReturnType<typeof plotXrayGrid>) =>
    [...figure.querySelectorAll("image")].map((node) => node.getAttribute("href"));
  const [first, second] = sources(outlined);
  assert.notEqual(first, sources(plain)[0], "the outlined image differs");
  assert.equal(second, sources(plain)[1], "no mask, no outline");
  assert.throws(
    () => plotXrayGrid([image], { masks: [mask, mask] }),
    /masks has 2 entries for 1 images/,
  );
});

Deno.test("plotXrayGrid() rings a peak where one is given", () => {
  const image = new Uint8Array(64 * 64).fill(100);
  const ringed = plotXrayGrid([image], { peaks: [{ x: 32, y: 32 }] });
  const plain = plotXrayGrid([image]);
  const source = (figure: ReturnType<typeof plotXrayGrid>) =>
    figure.querySelector("image")!.getAttribute("href");
  assert.notEqual(source(ringed), source(plain));
  assert.throws(() => plotXrayGrid([image], { peaks: [] }), /peaks has 0 entries for 1 images/);
});

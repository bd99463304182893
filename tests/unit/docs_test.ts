/**
 * The README is the front door: at most 300 lines, every page of `docs/` linked from it, and
 * every relative link and image in it and in `docs/` pointing at a file that exists (and at a
 * heading that exists, where it names one). No page holds a block quote: the lab's pages have
 * none, and a wrapped line that begins with `>` (as "(Run > Run All Cells" once did) silently
 * turns the rest of a paragraph into one.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { LAB_ROOT } from "../../lib/core/paths.ts";

/** The README's budget of lines. */
const README_MAX_LINES = 300;

/** The markdown pages checked: the README and every page of `docs/`. */
function pages(): string[] {
  const docs = [...Deno.readDirSync(join(LAB_ROOT, "docs"))]
    .filter((entry) => entry.isFile && entry.name.endsWith(".md"))
    .map((entry) => join(LAB_ROOT, "docs", entry.name))
    .sort();
  return [join(LAB_ROOT, "README.md"), ...docs];
}

/** `text` without fenced code blocks and inline code, where brackets are not links. */
function prose(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "");
}

/** The targets of the links and images in `text`, as written. */
export function linkTargets(text: string): string[] {
  return [...prose(text).matchAll(/\]\(([^()\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => match[1]);
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

/** The anchors of the headings of a markdown text. */
function anchors(text: string): Set<string> {
  return new Set(
    [...prose(text).matchAll(/^#{1,6} (.+)$/gm)].map((match) =>
      headingAnchor(match[1].replace(/`/g, ""))
    ),
  );
}

/** Every relative link of `page` that names no existing file or heading, as `target: why`. */
function brokenLinks(page: string): string[] {
  const broken: string[] = [];
  for (const target of linkTargets(Deno.readTextFileSync(page))) {
    if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
    const [path, anchor] = target.split("#");
    const file = path === "" ? page : join(dirname(page), decodeURIComponent(path));
    if (!existsSync(file)) {
      broken.push(`${target}: no file ${relative(LAB_ROOT, file)}`);
    } else if (anchor !== undefined && file.endsWith(".md")) {
      if (!anchors(Deno.readTextFileSync(file)).has(anchor)) {
        broken.push(`${target}: ${relative(LAB_ROOT, file)} has no heading #${anchor}`);
      }
    }
  }
  return broken;
}

Deno.test("headingAnchor() and linkTargets() read markdown as GitHub does", () => {
  assert.equal(headingAnchor("The student's loop"), "the-students-loop");
  assert.equal(headingAnchor("Speed: deno task bench"), "speed-deno-task-bench");
  assert.equal(
    headingAnchor("What it prints: one line per thing it does"),
    "what-it-prints-one-line-per-thing-it-does",
  );
  const text = "See [the\ndata](docs/data.md#phantoms), ![a figure](roc.svg) and " +
    "[NIH](https://nihcc.app.box.com). `[0.5, 0.5](not a link)`\n```\n[x](inside-code.md)\n```\n";
  assert.deepEqual(linkTargets(text), [
    "docs/data.md#phantoms",
    "roc.svg",
    "https://nihcc.app.box.com",
  ]);
});

Deno.test("README.md is at most 300 lines and links every page of docs/", async () => {
  const readme = await Deno.readTextFile(join(LAB_ROOT, "README.md"));
  const lines = readme.split("\n").length - (readme.endsWith("\n") ? 1 : 0);
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; at most ${README_MAX_LINES}`);
  const linked = new Set(linkTargets(readme).map((target) => target.split("#")[0]));
  const unlinked = pages().slice(1).map((page) => relative(LAB_ROOT, page))
    .filter((page) => !linked.has(page));
  assert.deepEqual(unlinked, [], "pages of docs/ the README does not link");
});

Deno.test("every relative link and image of README.md and docs/*.md names a file and heading that exist", () => {
  const broken = pages().flatMap((page) =>
    brokenLinks(page).map((line) => `${relative(LAB_ROOT, page)}: ${line}`)
  );
  assert.deepEqual(broken, []);
});

Deno.test("no line of README.md or docs/*.md starts a block quote", () => {
  const quoted = pages().flatMap((page) =>
    prose(Deno.readTextFileSync(page)).split("\n")
      .filter((line) => /^\s*>/.test(line))
      .map((line) => `${relative(LAB_ROOT, page)}: ${line}`)
  );
  assert.deepEqual(quoted, []);
});

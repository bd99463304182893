/**
 * The lab's notebooks as data: reading and writing `.ipynb` files, the answer regions of the
 * solution notebooks, and the student versions made from them.
 *
 * A solution cell marks each answer like this; the student version keeps the TODO line and
 * replaces the region with its stub (by default `return todo(QUESTION, FUNCTION);`, naming the
 * cell's question and the first function it declares, so the error says what to write):
 *
 * ```ts ignore
 * function areaOf(width: number, height: number): number {
 *   // TODO: the area of the rectangle.
 *   // ANSWER BEGIN
 *   return width * height;
 *   // ANSWER END
 * }
 * ```
 *
 * A region may name its own stub: `// ANSWER BEGIN: const K: number = todo("class", "K");`.
 *
 * @module
 */
import { LabError } from "../core/errors.ts";

/** One cell of a notebook (nbformat 4). */
export interface NotebookCell {
  /** Stable id: the student and solution versions of a cell share it. */
  id: string;
  /** `code` or `markdown`. */
  cell_type: "code" | "markdown" | "raw";
  /** Cell metadata; graded cells carry `lab.question`. */
  metadata: { lab?: { question?: string }; [key: string]: unknown };
  /** The cell's text, as nbformat stores it (lines with their newlines) or one string. */
  source: string | string[];
  /** Outputs of a code cell. */
  outputs?: unknown[];
  /** Execution count of a code cell. */
  execution_count?: number | null;
}

/** A notebook (nbformat 4). */
export interface Notebook {
  /** The cells in order. */
  cells: NotebookCell[];
  /** Notebook metadata (kernelspec, language). */
  metadata: Record<string, unknown>;
  /** nbformat major version (4). */
  nbformat: number;
  /** nbformat minor version. */
  nbformat_minor: number;
}

const BEGIN = /^(\s*)\/\/ ANSWER BEGIN(?::\s*(.*))?$/;
const END = /^\s*\/\/ ANSWER END\s*$/;

/** The text of a cell as one string. */
export function cellText(cell: NotebookCell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

/** Splits text into nbformat's source lines (each but the last keeps its newline). */
export function toSourceLines(text: string): string[] {
  const lines = text.split("\n");
  return lines.map((line, i) => (i < lines.length - 1 ? `${line}\n` : line)).filter((l) =>
    l !== ""
  );
}

/** Reads and checks a notebook file; throws a {@link LabError} naming the file. */
export async function readNotebook(path: string): Promise<Notebook> {
  let notebook: Notebook;
  try {
    notebook = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new LabError(`${path}: file not found`);
    throw new LabError(`${path}: not a notebook (${(error as Error).message})`);
  }
  if (!Array.isArray(notebook?.cells) || notebook.nbformat !== 4) {
    throw new LabError(`${path}: not an nbformat 4 notebook`);
  }
  return notebook;
}

/** Writes a notebook as Jupyter does (one-space indent, trailing newline). */
export async function writeNotebook(path: string, notebook: Notebook): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(notebook, null, 1) + "\n");
}

/**
 * Replaces each answer region of `text` by its stub (`stub` where the region names none).
 * Throws on a region left open or an END without BEGIN, naming `where`.
 */
export function stripAnswers(text: string, where: string, stub = "return todo();"): string {
  const out: string[] = [];
  let open = false;
  for (const line of text.split("\n")) {
    const begin = line.match(BEGIN);
    if (begin) {
      if (open) throw new LabError(`${where}: ANSWER BEGIN inside another answer region`);
      open = true;
      out.push(`${begin[1]}${begin[2] ?? stub}`);
    } else if (END.test(line)) {
      if (!open) throw new LabError(`${where}: ANSWER END without ANSWER BEGIN`);
      open = false;
    } else if (!open) {
      out.push(line);
    }
  }
  if (open) throw new LabError(`${where}: ANSWER BEGIN without ANSWER END`);
  return out.join("\n");
}

/** `return todo("cost", "computeCost");` for a graded cell, `return todo();` elsewhere. */
function defaultStub(cell: NotebookCell, source: string): string {
  const question = cell.metadata.lab?.question;
  if (!question) return "return todo();";
  const declared = source.match(/function\s+(\w+)/)?.[1];
  const args = [question, declared].filter((x) => x !== undefined).map((x) => JSON.stringify(x));
  return `return todo(${args.join(", ")});`;
}

/**
 * The student version of a solution notebook: the same cells with the same ids, answer regions
 * replaced by their stubs, and no outputs.
 */
export function studentVersion(solution: Notebook, name: string): Notebook {
  return {
    ...solution,
    cells: solution.cells.map((cell) => {
      const source = cellText(cell);
      const text = stripAnswers(source, `${name}, cell ${cell.id}`, defaultStub(cell, source));
      const stripped: NotebookCell = { ...cell, source: toSourceLines(text) };
      if (cell.cell_type === "code") {
        stripped.outputs = [];
        stripped.execution_count = null;
      }
      return stripped;
    }),
  };
}

/** The graded cells of a notebook: question id to the cell's code. */
export function questionCells(notebook: Notebook): Map<string, NotebookCell> {
  const cells = new Map<string, NotebookCell>();
  for (const cell of notebook.cells) {
    const question = cell.metadata.lab?.question;
    if (question) cells.set(question, cell);
  }
  return cells;
}

/**
 * The `import` statements of the code cells before `cell` (a graded cell is checked on its own,
 * with the imports the notebook made before it).
 */
export function importsBefore(notebook: Notebook, cell: NotebookCell): string[] {
  const imports: string[] = [];
  for (const each of notebook.cells) {
    if (each === cell) break;
    if (each.cell_type !== "code") continue;
    const text = cellText(each);
    for (const match of text.matchAll(/^import\s[\s\S]*?from\s+["'][^"']+["'];?/gm)) {
      imports.push(match[0]);
    }
  }
  return imports;
}

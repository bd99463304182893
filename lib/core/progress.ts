/**
 * A terminal progress bar shared by the long tasks (download, import, phantom generation,
 * training): done/total, rate and ETA, redrawn in place on a terminal and as occasional plain
 * lines when the output is a file or a pipe (CI logs, notebooks).
 *
 * @module
 */

/** Options of {@link createProgressBar}. */
export interface ProgressOptions {
  /** Label shown before the bar. */
  label: string;
  /** Formats an amount for display (default: the integer itself). */
  format?: (amount: number) => string;
  /** Unit of the rate, shown as `<rate> <unit>/s`; `""` shows `<rate>/s` (default `"items"`). */
  unit?: string;
  /** Where to write (default: standard error). */
  write?: (text: string) => void;
  /** Whether to redraw in place (default: whether standard error is a terminal). */
  interactive?: boolean;
  /** Shortest time between two redraws in milliseconds (default 100; 5000 when not interactive). */
  intervalMs?: number;
  /**
   * `performance.now()` when the work began, for a bar made after it began (the rate counts
   * from then). Default: when the bar is made.
   */
  startedAt?: number;
}

/** A progress bar: call `update` as work is done, `done` at the end. */
export interface ProgressBar {
  /** Records that `amount` of `total` is done (total may change, e.g. once a size is known). */
  update(amount: number, total?: number, note?: string): void;
  /** Draws the final state and ends the line. */
  done(note?: string): void;
}

const BAR_WIDTH = 24;
const encoder = new TextEncoder();

/** Formats a byte count as `12.3 MB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** Formats seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

function isStderrTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

/**
 * Creates a progress bar.
 *
 * @example
 * ```ts
 * import { createProgressBar } from "./progress.ts";
 * const lines: string[] = [];
 * const bar = createProgressBar(10, { label: "demo", write: (t) => lines.push(t), interactive: false });
 * bar.update(5);
 * bar.done();
 * if (!lines.at(-1)?.includes("10/10")) throw new Error("final state drawn");
 * ```
 */
export function createProgressBar(total: number, options: ProgressOptions): ProgressBar {
  const interactive = options.interactive ?? isStderrTerminal();
  const write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  const format = options.format ?? ((amount: number) => String(Math.round(amount)));
  const unit = options.unit ?? "items";
  const intervalMs = options.intervalMs ?? (interactive ? 100 : 5000);
  const start = options.startedAt ?? performance.now();
  let lastDraw = -Infinity;
  let current = 0;
  let size = total;

  function line(note?: string): string {
    const elapsed = (performance.now() - start) / 1000;
    const rate = elapsed > 0 ? current / elapsed : 0;
    const fraction = size > 0 ? Math.min(1, current / size) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const eta = rate > 0 ? (size - current) / rate : Infinity;
    const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled);
    const amounts = size > 0 ? `${format(current)}/${format(size)}` : format(current);
    const rateValue = options.format || rate >= 10 ? format(rate) : rate.toFixed(2);
    const rateText = unit ? `${rateValue} ${unit}/s` : `${rateValue}/s`;
    return `${options.label} [${bar}] ${amounts} ${rateText} ETA ${formatDuration(eta)}` +
      (note ? ` ${note}` : "");
  }

  function draw(note?: string, final = false): void {
    const text = line(note);
    write(interactive ? `\r\x1b[2K${text}${final ? "\n" : ""}` : `${text}\n`);
    lastDraw = performance.now();
  }

  return {
    update(amount, newTotal, note) {
      current = amount;
      if (newTotal !== undefined) size = newTotal;
      if (performance.now() - lastDraw >= intervalMs) draw(note);
    },
    done(note) {
      if (size > 0) current = Math.max(current, size);
      draw(note, true);
    },
  };
}

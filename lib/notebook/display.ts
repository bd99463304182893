/**
 * Showing results in the Deno Jupyter kernel: a display that updates in place (the live
 * training plot), and nothing at all outside a notebook.
 *
 * @module
 */

/** A display slot in the notebook's output that can be redrawn. */
export interface LiveDisplay {
  /** Shows `value` in the slot, replacing what was there. */
  show(value: unknown): Promise<void>;
}

let counter = 0;

/**
 * Creates a display slot. In the Deno kernel the first `show` creates the output and later ones
 * update it in place; elsewhere `show` does nothing.
 */
export function createLiveDisplay(): LiveDisplay {
  const id = `lab-live-${Date.now()}-${counter++}`;
  let shown = false;
  return {
    async show(value) {
      if (!("jupyter" in Deno)) return;
      await Deno.jupyter.display(value, { display_id: id, update: shown });
      shown = true;
    },
  };
}

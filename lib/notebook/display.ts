/**
 * Showing results in the Deno Jupyter kernel: a display that updates in place (the live
 * training plot), and nothing at all outside a notebook.
 *
 * The first `show` sends a display with an id and each later one an update of that id
 * (`update_display_data`), which JupyterLab 4 and Jupyter Notebook 6 both redraw in place; a
 * second plain display would stack a new figure under the old one at every evaluation. The
 * browser tests (tests/system/browser_test.ts, jupyterlab_test.ts) watch notebook 02's plot
 * being redrawn this way in both.
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

import assert from "node:assert/strict";
import { join } from "node:path";
import { checkHdf5File, openHdf5, requireDataset } from "../../lib/data/lab_files.ts";
import { DataFileError } from "../../lib/core/errors.ts";
import { writeFixtureLabFile } from "../fixtures/lab_files.ts";
import { pythonHas, runPython } from "../support/python.ts";

async function rejects(path: string, pattern: RegExp) {
  await assert.rejects(checkHdf5File(path), (error: unknown) => {
    assert.ok(error instanceof DataFileError, `DataFileError, got ${error}`);
    assert.match(error.message, pattern);
    assert.ok(error.message.startsWith(path), "message starts with the file name");
    return true;
  });
}

Deno.test("checkHdf5File() accepts a complete file and rejects foreign ones", async () => {
  const dir = await Deno.makeTempDir();
  const good = join(dir, "good.h5");
  await writeFixtureLabFile(good, 3, 16);
  await checkHdf5File(good);

  const html = join(dir, "page.h5");
  await Deno.writeTextFile(html, "<!DOCTYPE html><html><head><title>Error</title></head></html>");
  await rejects(html, /HTML page/);

  const empty = join(dir, "empty.h5");
  await Deno.writeFile(empty, new Uint8Array());
  await rejects(empty, /empty/);

  await rejects(join(dir, "missing.h5"), /not found/);

  const bytes = await Deno.readFile(good);
  const truncated = join(dir, "truncated.h5");
  await Deno.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await rejects(truncated, /truncated: \d+ bytes, but its HDF5 header says \d+/);

  const noise = join(dir, "noise.h5");
  await Deno.writeFile(noise, new Uint8Array(4096).map((_, i) => (i * 31) % 251));
  await rejects(noise, /no HDF5 signature/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "checkHdf5File() accepts files written by h5py",
  ignore: !pythonHas("h5py", "numpy"),
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = join(dir, "py.h5");
    await runPython(
      `import h5py, numpy as np, sys
with h5py.File(sys.argv[1], "w") as f:
    f["image"] = np.zeros((2, 8, 8, 1), np.uint8)
    f["label"] = np.eye(2, dtype=np.float32)`,
      [path],
    );
    await checkHdf5File(path);
    const file = await openHdf5(path);
    assert.deepEqual(requireDataset(file, path, "image").shape, [2, 8, 8, 1]);
    file.close();
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 100));
    await rejects(path, /truncated/);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("requireDataset() names the missing dataset and lists those present", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "f.h5");
  await writeFixtureLabFile(path, 2, 8);
  const file = await openHdf5(path);
  assert.throws(
    () => requireDataset(file, path, "mask"),
    /dataset 'mask': missing \(datasets present: image, label\)/,
  );
  file.close();
  await Deno.remove(dir, { recursive: true });
});

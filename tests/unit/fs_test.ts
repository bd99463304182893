import assert from "node:assert/strict";
import { join } from "node:path";
import { pathExists, replaceFile, writeSynced } from "../../lib/core/fs.ts";

Deno.test("replaceFile puts the new file in place of the old one and leaves no temporary", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "data.h5");
    await Deno.writeTextFile(path, "old");
    await writeSynced(`${path}.tmp`, new TextEncoder().encode("new"));
    await replaceFile(`${path}.tmp`, path);
    assert.equal(await Deno.readTextFile(path), "new");
    assert.deepEqual([...Deno.readDirSync(dir)].map((entry) => entry.name), ["data.h5"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replaceFile creates the destination when there was none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "new.bin");
    assert.equal(await pathExists(path), false);
    await Deno.writeFile(`${path}.part`, new Uint8Array([1, 2, 3]));
    await replaceFile(`${path}.part`, path);
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
    assert.equal(await pathExists(`${path}.part`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeSynced never overwrites an existing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "weights.bin");
    await writeSynced(path, new Uint8Array([7]));
    await assert.rejects(writeSynced(path, new Uint8Array([8])), Deno.errors.AlreadyExists);
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([7]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

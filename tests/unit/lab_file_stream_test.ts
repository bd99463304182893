import assert from "node:assert/strict";
import { join } from "node:path";
import { readLabFile } from "../../lib/data/dataset.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { createLabFileStream } from "../../lib/data/lab_file_stream.ts";

const SIZE = 16;

Deno.test("createLabFileStream() writes slices in any order into the lab's schema", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "split.h5");
    const labels = Uint8Array.from([0, 1, 1, 0, 1]);
    const images = Uint8Array.from({ length: 5 * SIZE * SIZE }, (_, i) => (i * 7) % 251);
    const masks = Uint8Array.from({ length: 5 * SIZE * SIZE }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const stream = await createLabFileStream(path, labels, { imageSize: SIZE, masks: true });
    const slice = (a: Uint8Array, from: number, to: number) =>
      a.subarray(from * SIZE * SIZE, to * SIZE * SIZE);
    stream.write(3, slice(images, 3, 5), slice(masks, 3, 5));
    stream.write(0, slice(images, 0, 3), slice(masks, 0, 3));
    assert.throws(() => stream.write(4, slice(images, 0, 2), slice(masks, 0, 2)), UsageError);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    await stream.close();
    const read = await readLabFile(path, { imageSize: SIZE });
    assert.deepEqual(read.labels, labels);
    assert.deepEqual(read.images, images);
    assert.deepEqual(read.masks, masks);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createLabFileStream() abort() leaves no file behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "split.h5");
    const stream = await createLabFileStream(path, Uint8Array.from([1, 0]), { imageSize: SIZE });
    stream.write(0, new Uint8Array(SIZE * SIZE));
    await stream.abort();
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

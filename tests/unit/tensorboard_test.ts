import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createSummaryWriter,
  encodeTfRecord,
  EVENT_FILE_VERSION,
  maskedCrc32c,
  openRunSummaries,
  readEventFile,
} from "../../lib/training/tensorboard.ts";
import { LabError } from "../../lib/core/errors.ts";
import { pythonHas, runPython } from "../support/python.ts";

/** TFRecord's masking, computed with BigInt as an independent statement of the formula. */
function mask(crc: number): number {
  const c = BigInt(crc);
  const rotated = ((c >> 15n) | (c << 17n)) & 0xffffffffn;
  return Number((rotated + 0xa282ead8n) & 0xffffffffn);
}

Deno.test("maskedCrc32c() matches the CRC32C test vectors of RFC 3720 (B.4) and the check value", () => {
  const vectors: Array<[Uint8Array, number]> = [
    [new Uint8Array(32), 0x8a9136aa],
    [new Uint8Array(32).fill(0xff), 0x62a8ab43],
    [Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    [Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
    [new TextEncoder().encode("123456789"), 0xe3069283],
  ];
  for (const [bytes, crc] of vectors) assert.equal(maskedCrc32c(bytes), mask(crc));
});

Deno.test("encodeTfRecord() frames data with its length and both masked CRCs", () => {
  const data = new TextEncoder().encode("hello");
  const record = encodeTfRecord(data);
  const view = new DataView(record.buffer);
  assert.equal(record.length, 8 + 4 + 5 + 4);
  assert.equal(view.getBigUint64(0, true), 5n);
  assert.equal(view.getUint32(8, true), maskedCrc32c(record.subarray(0, 8)));
  assert.deepEqual(record.subarray(12, 17), data);
  assert.equal(view.getUint32(17, true), maskedCrc32c(data));
});

Deno.test("createSummaryWriter() writes events that readEventFile() reads back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let now = 1000.25;
    const writer = createSummaryWriter(dir, { clock: () => now++ });
    writer.scalars(10, { cost: 0.6931, accuracy: 0.5 });
    writer.scalars(20, { cost: 0.25, accuracy: 0.875 });
    writer.close();
    assert.match(writer.path, /events\.out\.tfevents\.1000\./);
    const events = await readEventFile(writer.path);
    assert.equal(events.length, 3);
    assert.deepEqual(events[0], {
      wallTime: 1000.25,
      step: 0,
      fileVersion: EVENT_FILE_VERSION,
      scalars: [],
    });
    assert.equal(events[1].step, 10);
    assert.equal(events[1].wallTime, 1001.25);
    assert.equal(events[1].scalars[0].tag, "cost");
    assert.equal(events[1].scalars[0].value, Math.fround(0.6931));
    assert.deepEqual(events[2].scalars, [
      { tag: "cost", value: 0.25 },
      { tag: "accuracy", value: 0.875 },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readEventFile() names the file and offset of a corrupt record", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const writer = createSummaryWriter(dir);
    writer.scalars(1, { cost: 1 });
    writer.close();
    const bytes = await Deno.readFile(writer.path);
    const firstRecord = new DataView(bytes.buffer).getUint32(0, true) + 16;
    bytes[firstRecord + 20] ^= 0xff;
    await Deno.writeFile(writer.path, bytes);
    await assert.rejects(
      () => readEventFile(writer.path),
      (error: Error) =>
        error instanceof LabError && error.message.includes(writer.path) &&
        error.message.includes(`record at byte ${firstRecord}`),
    );
    await Deno.writeFile(writer.path, bytes.subarray(0, firstRecord + 6));
    await assert.rejects(() => readEventFile(writer.path), /truncated header/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openRunSummaries() writes train and test sub-folders", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = openRunSummaries(join(dir, "run1"));
    run.train.scalars(1, { cost: 2 });
    run.test.scalars(1, { accuracy: 1 });
    run.close();
    const train = await readEventFile(run.train.path);
    const test = await readEventFile(run.test.path);
    assert.ok(run.train.path.startsWith(join(dir, "run1", "train")));
    assert.ok(run.test.path.startsWith(join(dir, "run1", "test")));
    assert.deepEqual(train[1].scalars, [{ tag: "cost", value: 2 }]);
    assert.deepEqual(test[1].scalars, [{ tag: "accuracy", value: 1 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Parses the file with Google's protobuf runtime and the `crc32c` module, against a schema
 * stated in Python with TensorFlow's field numbers (event.proto, summary.proto).
 */
const PYTHON_EVENT_READER = `
import json, struct, sys, crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
F = descriptor_pb2.FieldDescriptorProto
fd = descriptor_pb2.FileDescriptorProto(name="event_check.proto", package="tensorflow")
def message(name, fields):
    m = fd.message_type.add(name=name)
    for fname, number, ftype, label, type_name in fields:
        f = m.field.add(name=fname, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
message("SummaryValue", [("tag", 1, F.TYPE_STRING, opt, None),
                         ("simple_value", 2, F.TYPE_FLOAT, opt, None)])
message("Summary", [("value", 1, F.TYPE_MESSAGE, rep, ".tensorflow.SummaryValue")])
message("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None), ("step", 2, F.TYPE_INT64, opt, None),
                  ("file_version", 3, F.TYPE_STRING, opt, None),
                  ("summary", 5, F.TYPE_MESSAGE, opt, ".tensorflow.Summary")])
pool = descriptor_pool.DescriptorPool()
pool.Add(fd)
descriptor = pool.FindMessageTypeByName("tensorflow.Event")
if hasattr(message_factory, "GetMessageClass"):
    Event = message_factory.GetMessageClass(descriptor)
else:
    Event = message_factory.MessageFactory(pool).GetPrototype(descriptor)
def masked(data):
    c = crc32c.crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xffffffff) + 0xa282ead8) & 0xffffffff
raw = open(sys.argv[1], "rb").read()
out, pos = [], 0
while pos < len(raw):
    header = raw[pos:pos + 8]
    (length,) = struct.unpack("<Q", header)
    (length_crc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
    assert length_crc == masked(header), "length crc"
    data = raw[pos + 12:pos + 12 + length]
    (data_crc,) = struct.unpack("<I", raw[pos + 12 + length:pos + 16 + length])
    assert data_crc == masked(data), "data crc"
    event = Event()
    event.ParseFromString(data)
    out.append({"wall_time": event.wall_time, "step": event.step,
                "file_version": event.file_version,
                "values": [[v.tag, v.simple_value] for v in event.summary.value]})
    pos += 16 + length
print(json.dumps(out))
`;

Deno.test({
  name: "createSummaryWriter() output parses with Google's protobuf runtime and Python's crc32c",
  ignore: !pythonHas("google.protobuf", "crc32c"),
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const writer = createSummaryWriter(dir, { clock: () => 1700000000.5 });
      writer.scalars(300, { cost: 0.125, accuracy: 0.75 });
      writer.scalars(2 ** 40, { cost: 3 });
      writer.close();
      const parsed = JSON.parse(await runPython(PYTHON_EVENT_READER, [writer.path]));
      assert.deepEqual(parsed, [
        { wall_time: 1700000000.5, step: 0, file_version: EVENT_FILE_VERSION, values: [] },
        {
          wall_time: 1700000000.5,
          step: 300,
          file_version: "",
          values: [["cost", 0.125], ["accuracy", 0.75]],
        },
        { wall_time: 1700000000.5, step: 2 ** 40, file_version: "", values: [["cost", 3]] },
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

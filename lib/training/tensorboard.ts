/**
 * TensorBoard summaries: the lab's `cost` and `accuracy` scalars written as TensorFlow event
 * files under `logs/<run>/{train,test}`, so users who keep the TensorBoard habit can run
 * `tensorboard --logdir logs` on a training run of this port.
 *
 * An event file is a sequence of TFRecords (`uint64 length`, `uint32 masked CRC32C of the
 * length`, the data, `uint32 masked CRC32C of the data`, all little-endian), each holding one
 * serialized `tensorflow.Event` protobuf. Written by hand, with a protobuf encoder for the five
 * fields it needs, because no maintained npm package writes TensorFlow event files without
 * TensorFlow itself (tfjs-node's summary writer needs the native libtensorflow, which does not
 * install offline). The CRC32C itself comes from the `crc-32` package.
 *
 * Field numbers, from TensorFlow's `event.proto` and `summary.proto`:
 * `Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5 }`,
 * `Summary { repeated Value value = 1 }`, `Value { string tag = 1; float simple_value = 2 }`.
 *
 * @module
 */
import CRC32C from "crc-32/crc32c";
import { join } from "node:path";
import { LabError } from "../core/errors.ts";

/** The `file_version` of the first event of every file, as TensorFlow writes it. */
export const EVENT_FILE_VERSION = "brain.Event:2";
/** Sub-folders of a run folder: one per summary writer, as in the lab. */
export const SUMMARY_SPLITS = ["train", "test"] as const;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;
const CRC_MASK_DELTA = 0xa282ead8;
const RECORD_HEADER_BYTES = 12;
const RECORD_FOOTER_BYTES = 4;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One scalar of an event. */
export interface SummaryScalar {
  /** Name of the scalar (`cost`, `accuracy`). */
  tag: string;
  /** Its value. */
  value: number;
}

/** One event read back from an event file. */
export interface SummaryEvent {
  /** Seconds since the Unix epoch when the event was written. */
  wallTime: number;
  /** Training step (0 for the file-version event). */
  step: number;
  /** Set on the first event of a file only. */
  fileVersion?: string;
  /** The scalars of a summary event (empty for the file-version event). */
  scalars: SummaryScalar[];
}

/** Writes scalar summaries to one event file. */
export interface SummaryWriter {
  /** Path of the event file. */
  readonly path: string;
  /** Appends one event with the given scalars at `step` (written to disk at once). */
  scalars(step: number, values: Record<string, number>): void;
  /** Closes the file. */
  close(): void;
}

/** Options of {@link createSummaryWriter}. */
export interface SummaryWriterOptions {
  /** Clock giving the wall time of each event in seconds (default: `Date.now() / 1000`). */
  clock?: () => number;
}

/**
 * The CRC32C of `bytes`, masked as TFRecord does: `((crc >>> 15) | (crc << 17)) + 0xa282ead8`,
 * as an unsigned 32-bit number.
 *
 * @example
 * ```ts
 * import { maskedCrc32c } from "./tensorboard.ts";
 * const crc = maskedCrc32c(new TextEncoder().encode("123456789"));
 * console.log(crc.toString(16));
 * ```
 */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = CRC32C.buf(bytes) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + CRC_MASK_DELTA) >>> 0;
}

/** Frames `data` as one TFRecord. */
export function encodeTfRecord(data: Uint8Array): Uint8Array {
  const record = new Uint8Array(RECORD_HEADER_BYTES + data.length + RECORD_FOOTER_BYTES);
  const view = new DataView(record.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(record.subarray(0, 8)), true);
  record.set(data, RECORD_HEADER_BYTES);
  view.setUint32(RECORD_HEADER_BYTES + data.length, maskedCrc32c(data), true);
  return record;
}

/** A minimal protobuf encoder for the field types an event needs. */
class ProtoWriter {
  #bytes: number[] = [];

  #varint(value: number): void {
    let rest = value;
    while (rest >= 0x80) {
      this.#bytes.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.#bytes.push(rest);
  }

  #key(field: number, wireType: number): void {
    this.#varint(field * 8 + wireType);
  }

  varint(field: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`protobuf field ${field}: ${value} is not a non-negative integer`);
    }
    this.#key(field, WIRE_VARINT);
    this.#varint(value);
    return this;
  }

  double(field: number, value: number): this {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    this.#key(field, WIRE_FIXED64);
    this.#bytes.push(...bytes);
    return this;
  }

  float(field: number, value: number): this {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.#key(field, WIRE_FIXED32);
    this.#bytes.push(...bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#key(field, WIRE_LENGTH_DELIMITED);
    this.#varint(value.length);
    this.#bytes.push(...value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, encoder.encode(value));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

/** Serializes a `tensorflow.Event` holding the file version. */
function encodeFileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).string(3, EVENT_FILE_VERSION).finish();
}

/** Serializes a `tensorflow.Event` holding a `Summary` of simple scalar values. */
export function encodeScalarEvent(
  wallTime: number,
  step: number,
  values: Record<string, number>,
): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of Object.entries(values)) {
    summary.bytes(1, new ProtoWriter().string(1, tag).float(2, value).finish());
  }
  return new ProtoWriter().double(1, wallTime).varint(2, step).bytes(5, summary.finish())
    .finish();
}

/**
 * Opens a new event file in `dir` (created if missing) named as TensorFlow names them
 * (`events.out.tfevents.<seconds>.<host>.<pid>.<id>`, so a resumed run adds a file beside the
 * old ones), and writes the file-version event.
 *
 * @example
 * ```ts
 * import { createSummaryWriter, readEventFile } from "./tensorboard.ts";
 * const dir = await Deno.makeTempDir();
 * const writer = createSummaryWriter(dir);
 * writer.scalars(10, { cost: 0.69, accuracy: 0.5 });
 * writer.close();
 * const events = await readEventFile(writer.path);
 * console.log(events[1].scalars); // [{ tag: "cost", value: 0.69... }, { tag: "accuracy", value: 0.5 }]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function createSummaryWriter(
  dir: string,
  options: SummaryWriterOptions = {},
): SummaryWriter {
  const clock = options.clock ?? (() => Date.now() / 1000);
  Deno.mkdirSync(dir, { recursive: true });
  const start = clock();
  const name = `events.out.tfevents.${Math.floor(start)}.${Deno.hostname()}.${Deno.pid}.` +
    crypto.randomUUID().slice(0, 8);
  const path = join(dir, name);
  const file = Deno.openSync(path, { write: true, createNew: true });
  const append = (data: Uint8Array) => {
    const record = encodeTfRecord(data);
    let written = 0;
    while (written < record.length) written += file.writeSync(record.subarray(written));
  };
  append(encodeFileVersionEvent(start));
  return {
    path,
    scalars(step, values) {
      append(encodeScalarEvent(clock(), step, values));
    },
    close() {
      file.close();
    },
  };
}

/** The writers of one run: `train` and `test`, as in the lab. */
export interface RunSummaries {
  /** Writer of `<run>/train`. */
  train: SummaryWriter;
  /** Writer of `<run>/test`. */
  test: SummaryWriter;
  /** Closes both. */
  close(): void;
}

/** Opens `<runDir>/train` and `<runDir>/test` event files. */
export function openRunSummaries(
  runDir: string,
  options: SummaryWriterOptions = {},
): RunSummaries {
  const train = createSummaryWriter(join(runDir, "train"), options);
  const test = createSummaryWriter(join(runDir, "test"), options);
  return {
    train,
    test,
    close() {
      train.close();
      test.close();
    },
  };
}

/** A protobuf field as read: its number and either a number or the bytes it holds. */
interface ProtoField {
  field: number;
  wireType: number;
  number: number;
  bytes: Uint8Array;
}

/** Splits a protobuf message into its fields; throws a RangeError on malformed input. */
function decodeFields(message: Uint8Array): ProtoField[] {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const fields: ProtoField[] = [];
  let offset = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (offset >= message.length) throw new RangeError("varint runs past the end");
      const byte = message[offset++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
  };
  const take = (length: number) => {
    if (offset + length > message.length) throw new RangeError("field runs past the end");
    const bytes = message.subarray(offset, offset + length);
    offset += length;
    return bytes;
  };
  while (offset < message.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    const empty = new Uint8Array(0);
    if (wireType === WIRE_VARINT) {
      fields.push({ field, wireType, number: varint(), bytes: empty });
    } else if (wireType === WIRE_FIXED64) {
      const at = offset;
      take(8);
      fields.push({ field, wireType, number: view.getFloat64(at, true), bytes: empty });
    } else if (wireType === WIRE_FIXED32) {
      const at = offset;
      take(4);
      fields.push({ field, wireType, number: view.getFloat32(at, true), bytes: empty });
    } else if (wireType === WIRE_LENGTH_DELIMITED) {
      fields.push({ field, wireType, number: 0, bytes: take(varint()) });
    } else {
      throw new RangeError(`unsupported wire type ${wireType}`);
    }
  }
  return fields;
}

/** Parses one serialized `tensorflow.Event` (the fields this module writes). */
export function decodeEvent(message: Uint8Array): SummaryEvent {
  const event: SummaryEvent = { wallTime: 0, step: 0, scalars: [] };
  for (const { field, number, bytes } of decodeFields(message)) {
    if (field === 1) event.wallTime = number;
    else if (field === 2) event.step = number;
    else if (field === 3) event.fileVersion = decoder.decode(bytes);
    else if (field === 5) {
      for (const value of decodeFields(bytes).filter((f) => f.field === 1)) {
        const scalar: SummaryScalar = { tag: "", value: NaN };
        for (const part of decodeFields(value.bytes)) {
          if (part.field === 1) scalar.tag = decoder.decode(part.bytes);
          else if (part.field === 2) scalar.value = part.number;
        }
        event.scalars.push(scalar);
      }
    }
  }
  return event;
}

/**
 * Reads an event file back, checking every record's two CRCs. Throws a {@link LabError}
 * naming the file and the byte offset of a truncated or corrupt record.
 */
export async function readEventFile(path: string): Promise<SummaryEvent[]> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events: SummaryEvent[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const fail = (problem: string): never => {
      throw new LabError(`${path}: record at byte ${offset}: ${problem}`);
    };
    if (offset + RECORD_HEADER_BYTES > bytes.length) fail("truncated header");
    const length = Number(view.getBigUint64(offset, true));
    if (view.getUint32(offset + 8, true) !== maskedCrc32c(bytes.subarray(offset, offset + 8))) {
      fail("length CRC does not match");
    }
    const start = offset + RECORD_HEADER_BYTES;
    const end = start + length;
    if (end + RECORD_FOOTER_BYTES > bytes.length) fail("truncated data");
    const data = bytes.subarray(start, end);
    if (view.getUint32(end, true) !== maskedCrc32c(data)) fail("data CRC does not match");
    try {
      events.push(decodeEvent(data));
    } catch (error) {
      fail(`not an Event protobuf (${(error as Error).message})`);
    }
    offset = end + RECORD_FOOTER_BYTES;
  }
  return events;
}

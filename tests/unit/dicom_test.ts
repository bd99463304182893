import assert from "node:assert/strict";
import { DataFileError } from "../../lib/core/errors.ts";
import { decodeDicom, readDicomHeader, TRANSFER_SYNTAXES } from "../../lib/data/dicom.ts";
import {
  fixtureDicomPath,
  type FixtureImage,
  readReference,
  SIIM_SAMPLE_DICOM,
  siimSkipReason,
  unpackRleCsv,
  writeFixtureDicoms,
} from "../fixtures/siim.ts";

if (siimSkipReason) console.log(`DICOM reader tests skipped: ${siimSkipReason}`);

const SAMPLE_UID = "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819";

/** The decoded gray values scaled to 0..255, as `areaResize` scales them. */
function levels(gray: ReturnType<typeof decodeDicom>["gray"]): Float64Array {
  return Float64Array.from(gray.data, (value) => (value * 255) / gray.maxValue);
}

Deno.test({
  name: "decodeDicom() reads the real SIIM file's header and, within one level, pydicom's pixels",
  ignore: siimSkipReason !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dicom_test_" });
    try {
      const { path: csv } = await unpackRleCsv(dir);
      const image: FixtureImage = {
        uid: SAMPLE_UID,
        patient: "",
        syntax: "jpeg",
        photometric: "MONOCHROME2",
        copy: true,
      };
      await writeFixtureDicoms(dir, [image], csv);
      const bytes = await Deno.readFile(SIIM_SAMPLE_DICOM);
      const header = readDicomHeader(bytes, SIIM_SAMPLE_DICOM);
      assert.deepEqual(header, {
        sopInstanceUid: SAMPLE_UID,
        patientId: "16d7f894-55d7-4d95-8957-d18987f0e981",
        transferSyntax: TRANSFER_SYNTAXES.jpegBaseline,
        width: 1024,
        height: 1024,
        photometric: "MONOCHROME2",
      });
      const decoded = decodeDicom(bytes, SIIM_SAMPLE_DICOM);
      assert.equal(decoded.gray.maxValue, 255);
      const reference = (await readReference(dir, SAMPLE_UID)).full;
      const ours = levels(decoded.gray);
      assert.equal(ours.length, reference.length);
      let worst = 0;
      let differing = 0;
      for (let i = 0; i < ours.length; i++) {
        const difference = Math.abs(ours[i] - reference[i]);
        worst = Math.max(worst, difference);
        if (difference > 0) differing++;
      }
      console.log(
        `  jpeg-js vs pydicom (Pillow/libjpeg): ${differing} of ${ours.length} pixels differ, ` +
          `by at most ${worst}`,
      );
      assert.ok(worst <= 1, `largest difference ${worst}`);
      assert.ok(differing < 0.2 * ours.length, `${differing} pixels differ`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "decodeDicom() gives pydicom's values for uncompressed 8-, 12- and 16-bit, MONOCHROME1/2",
  ignore: siimSkipReason !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dicom_test_" });
    try {
      const { path: csv } = await unpackRleCsv(dir);
      const images: FixtureImage[] = [
        { uid: "1.2.3.1", patient: "a", syntax: "explicit", photometric: "MONOCHROME2" },
        { uid: "1.2.3.2", patient: "b", syntax: "implicit", photometric: "MONOCHROME1" },
        {
          uid: "1.2.3.3",
          patient: "c",
          syntax: "explicit",
          photometric: "MONOCHROME1",
          bits: 12,
          slope: 0.5,
          intercept: 20,
        },
        {
          uid: "1.2.3.4",
          patient: "d",
          syntax: "implicit",
          photometric: "MONOCHROME2",
          bits: 16,
          signed: true,
        },
        { uid: "1.2.3.5", patient: "e", syntax: "implicit", photometric: "MONOCHROME2", bits: 16 },
      ];
      await writeFixtureDicoms(dir, images, csv);
      for (const image of images) {
        const path = fixtureDicomPath(dir, image);
        const decoded = decodeDicom(await Deno.readFile(path), path);
        assert.equal(decoded.patientId, image.patient);
        assert.equal(
          decoded.transferSyntax,
          image.syntax === "explicit"
            ? TRANSFER_SYNTAXES.explicitLittleEndian
            : TRANSFER_SYNTAXES.implicitLittleEndian,
        );
        const reference = (await readReference(dir, image.uid)).full;
        const ours = levels(decoded.gray);
        let worst = 0;
        for (let i = 0; i < ours.length; i++) {
          worst = Math.max(worst, Math.abs(ours[i] - reference[i]));
        }
        assert.ok(worst < 1e-3, `${image.uid} (${image.bits ?? 8} bits): ${worst} off`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "decodeDicom() names the file and the problem: not DICOM, no pixels, colour, other syntax",
  ignore: siimSkipReason !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dicom_test_" });
    try {
      const { path: csv } = await unpackRleCsv(dir);
      const images: FixtureImage[] = [
        { uid: "1.2.4.1", patient: "a", syntax: "explicit", photometric: "MONOCHROME2" },
        { uid: "1.2.4.2", patient: "b", syntax: "explicit", photometric: "RGB" },
        {
          uid: "1.2.4.3",
          patient: "c",
          syntax: "explicit",
          photometric: "MONOCHROME2",
          nopixels: true,
        },
      ];
      await writeFixtureDicoms(dir, images, csv);
      const fails = (bytes: Uint8Array, file: string, problem: RegExp) =>
        assert.throws(
          () => decodeDicom(bytes, file),
          (error) =>
            error instanceof DataFileError && error.message.startsWith(`${file}: `) &&
            problem.test(error.message),
        );
      fails(new TextEncoder().encode("hello"), "short.dcm", /5 bytes, too short for a DICOM/);
      fails(new Uint8Array(400).fill(65), "page.dcm", /not a DICOM file \(no 'DICM' marker/);
      const [plain, colour, empty] = images.map((image) => fixtureDicomPath(dir, image));
      fails(await Deno.readFile(colour), colour, /photometric interpretation 'RGB' is not grey/);
      fails(await Deno.readFile(empty), empty, /has no pixel data \(7FE0,0010\)/);
      // The same file claiming RLE Lossless, which the reader does not take: the UID
      // "1.2.840.10008.1.2.1" becomes "1.2.840.10008.1.2.5", of the same length.
      const bytes = await Deno.readFile(plain);
      const text = new TextDecoder("latin1").decode(bytes);
      const at = text.indexOf(TRANSFER_SYNTAXES.explicitLittleEndian);
      bytes[at + TRANSFER_SYNTAXES.explicitLittleEndian.length - 1] = "5".charCodeAt(0);
      fails(bytes, plain, /transfer syntax 1\.2\.840\.10008\.1\.2\.5 is not supported/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

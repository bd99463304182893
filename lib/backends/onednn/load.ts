/**
 * Finding and loading oneDNN: the library `LAB_ONEDNN` names, else the first of the usual file
 * names the dynamic linker finds. The version is read first (`dnnl_version`, the same in every
 * version), then the library is bound with that version's table: oneDNN 2 (ffi_v2.ts) or 3
 * (ffi_v3.ts). Anything else is a {@link LabError} saying why, and the lab stays on wasm.
 *
 * A library outside the linker's path is named by path: PyPI's OpenMP build of oneDNN 3
 * (`pip install onednn-cpu-gomp`) puts it in the Python prefix, hence
 * `LAB_ONEDNN=$(python3 -c 'import sys; print(sys.prefix)')/lib/libdnnl.so.3`. PyPI's newer
 * `onednn` wheels are built on SYCL, whose CPU engine needs a SYCL device: they are refused by name.
 *
 * @module
 */

import { LabError } from "../../core/errors.ts";
import { OPENMP_LIBRARY, runtimeName } from "./api.ts";
import { OneDnn } from "./binding.ts";
import { driverV2, SYMBOLS_V2 } from "./ffi_v2.ts";
import { driverV3, SYMBOLS_V3 } from "./ffi_v3.ts";

/** Environment variable naming the oneDNN library to load (a path or a file name), or `off`. */
export const ONEDNN_ENV = "LAB_ONEDNN";

/**
 * Library names tried in order when {@link ONEDNN_ENV} is unset: oneDNN 3 (Debian 13's
 * `libdnnl3.6`, Homebrew) before oneDNN 2 (Debian 12's `libdnnl2`), then macOS's and Windows'.
 */
export const ONEDNN_LIBRARIES = [
  "libdnnl.so.3",
  "libdnnl.so.2",
  "libdnnl.3.dylib",
  "libdnnl.2.dylib",
  "dnnl.dll",
] as const;

/** The major versions whose C API the lab binds. */
export const ONEDNN_VERSIONS = [2, 3] as const;

const VERSION_SYMBOL = {
  dnnl_version: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * Loads oneDNN: the library {@link ONEDNN_ENV} names, else the first of
 * {@link ONEDNN_LIBRARIES} found. Throws a {@link LabError} saying why it cannot run.
 *
 * @example
 * ```ts
 * import { loadOneDnn } from "./load.ts";
 * try {
 *   const onednn = loadOneDnn();
 *   console.log(`oneDNN ${onednn.version} from ${onednn.library}`);
 * } catch (error) {
 *   console.log(`no oneDNN: ${(error as Error).message}`);
 * }
 * ```
 */
export function loadOneDnn(): OneDnn {
  const named = Deno.env.get(ONEDNN_ENV)?.trim() ?? "";
  if (named === "off") throw new LabError(`${ONEDNN_ENV}=off`);
  const candidates = named === "" ? ONEDNN_LIBRARIES : [named];
  const failures: string[] = [];
  for (const library of candidates) {
    let probe: Deno.DynamicLibrary<typeof VERSION_SYMBOL>;
    try {
      probe = Deno.dlopen(library, VERSION_SYMBOL);
    } catch (error) {
      if (isPermissionError(error)) throw new LabError("oneDNN needs --allow-ffi (or -A)");
      if (/symbol dnnl_version/.test(firstLine(error))) {
        throw new LabError(`${library} is not oneDNN (it has no dnnl_version)`);
      }
      failures.push(`${library}: ${firstLine(error)}`);
      continue;
    }
    try {
      const onednn = bind(library, probe);
      keepLoaded([library, OPENMP_LIBRARY]);
      return onednn;
    } finally {
      probe.close();
    }
  }
  throw new LabError(`oneDNN not found (${failures.join("; ")})`);
}

/** Binds an opened library with its version's table. */
function bind(library: string, probe: Deno.DynamicLibrary<typeof VERSION_SYMBOL>): OneDnn {
  const view = new Deno.UnsafePointerView(probe.symbols.dnnl_version()!);
  const major = view.getInt32(0);
  const version = `${major}.${view.getInt32(4)}.${view.getInt32(8)}`;
  // dnnl_version_t: three ints, a pointer to the commit hash, then cpu_runtime.
  const runtime = runtimeName(view.getUint32(24));
  const opened = { library, version, runtime };
  if (runtime === "SYCL") {
    throw new LabError(
      `${library} is oneDNN ${version} built on SYCL (as PyPI's onednn is): its CPU engine needs ` +
        "a SYCL CPU device; use an OpenMP build (Debian's libdnnl2 or libdnnl3.6, PyPI's " +
        "onednn-cpu-gomp)",
    );
  }
  try {
    if (major === 2) {
      return new OneDnn({ ...opened, driver: driverV2(Deno.dlopen(library, SYMBOLS_V2)) });
    }
    if (major === 3) {
      return new OneDnn({ ...opened, driver: driverV3(Deno.dlopen(library, SYMBOLS_V3)) });
    }
  } catch (error) {
    const missing = firstLine(error).match(/symbol (dnnl_\w+)/)?.[1];
    if (missing === undefined) throw error;
    throw new LabError(`${library} is oneDNN ${version} but has no ${missing}`);
  }
  throw new LabError(
    `${library} is oneDNN ${version}; the lab binds oneDNN ${ONEDNN_VERSIONS.join(" and ")}`,
  );
}

/** glibc's `RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE`: find a loaded library, never unload it. */
const PIN_FLAGS = 0x2 | 0x4 | 0x1000;

/**
 * Marks libraries already loaded (oneDNN and its OpenMP runtime) never to be unloaded, on Linux.
 * Why: as Deno exits it closes every library it opened, and the last close unloaded oneDNN and,
 * with it, libgomp, while OpenMP's worker threads were still waiting inside libgomp's code; they
 * then crashed the process as it ended (a segmentation fault, or glibc's "double free or
 * corruption"), after all its work was done. Deno's `dlopen` takes no flags, so libc's is called.
 */
function keepLoaded(libraries: string[]): void {
  if (Deno.build.os !== "linux") return;
  let libc: Deno.DynamicLibrary<{ dlopen: { parameters: ["buffer", "i32"]; result: "pointer" } }>;
  try {
    libc = Deno.dlopen("libc.so.6", {
      dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
    });
  } catch {
    return; // not glibc (musl names its libc otherwise, and has no unloading to prevent)
  }
  try {
    for (const library of libraries) {
      libc.symbols.dlopen(new TextEncoder().encode(`${library}\0`), PIN_FLAGS);
    }
  } finally {
    libc.close();
  }
}

function isPermissionError(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

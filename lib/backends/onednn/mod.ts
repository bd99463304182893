/**
 * oneDNN (libdnnl, the library PyTorch runs its CPU convolutions with) through Deno's FFI, for
 * the `onednn` rung of lib/backends/backend.ts. No npm package binds oneDNN for Deno, so its C
 * API is called directly: version 2 (`libdnnl.so.2`) or 3 (`libdnnl.so.3`), whichever loads.
 *
 * - api.ts: the shapes, and the driver interface each version provides;
 * - ffi_v2.ts, ffi_v3.ts: each version's symbol table and calls;
 * - binding.ts: {@link OneDnn}, the operations, written once over the driver;
 * - load.ts: {@link loadOneDnn}, which finds the library and picks the driver;
 * - kernels.ts: the tfjs kernels of the wasm backend that run on it.
 *
 * @module
 */

export type { ConvShape, PoolShape, Precision } from "./api.ts";
export { type MatMulOptions, OneDnn } from "./binding.ts";
export { loadOneDnn, ONEDNN_ENV, ONEDNN_LIBRARIES, ONEDNN_VERSIONS } from "./load.ts";
export { registerOneDnnKernels, unregisterOneDnnKernels } from "./kernels.ts";

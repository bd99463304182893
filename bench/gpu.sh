#!/usr/bin/env bash
# The lab on a real GPU, in one go: which card and adapter there are, the WebGPU tests
# (tests/system/webgpu_test.ts: the lab's model on webgpu against cpu), then `deno task bench`
# with the lab on the webgpu rung (LAB_BACKEND=webgpu; webgpu computes in fp32) against PyTorch on
# the CPU, as on CPU machines. Everything it finds goes to $OUT (default: a new temporary folder):
# machine.txt, adapter.json, webgpu_test.txt, bench.json, bench.log, bench.md.
#
# Usage: bench/gpu.sh [deno task bench flags, e.g. --widths 8,16 --rounds 3]
# It needs Deno 2.9.6 (DENO, default `npx -y deno@2.9.6`), the project's npm packages (`deno
# install`, or a node_modules/ carried along) and, for the reference, PyTorch in python3. It stops
# at the first step that fails, after writing what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d -t lab-gpu-XXXXXX)}"
mkdir -p "$OUT"
echo "results in $OUT"
read -r -a DENO <<<"${DENO:-npx -y deno@2.9.6}"

{
  date -u
  uname -srm
  grep -m1 '^model name' /proc/cpuinfo || true
  nproc
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  else
    echo "no nvidia-smi"
  fi
} | tee "$OUT/machine.txt"

# The adapter Deno's WebGPU offers, as the lab looks for it (Vulkan, Metal, Direct3D 12); the lab
# refuses a software one, and then so does this script.
"${DENO[@]}" eval --config deno.json '
import { isSoftwareAdapter, requestGpuAdapter } from "./lib/backends/backend.ts";
const adapter = await requestGpuAdapter();
const info = adapter?.info ?? {};
const found = { adapter: adapter ? { vendor: info.vendor, architecture: info.architecture,
  device: info.device, description: info.description } : null };
console.log(JSON.stringify(found));
if (!adapter || isSoftwareAdapter(info)) {
  console.error("no real GPU adapter: the webgpu rung cannot run here");
  Deno.exit(1);
}' | tee "$OUT/adapter.json"

LAB_BACKEND=webgpu "${DENO[@]}" test -A tests/system/webgpu_test.ts 2>&1 | tee "$OUT/webgpu_test.txt"

LAB_BACKEND=webgpu "${DENO[@]}" task bench --json --precisions fp32 "$@" \
  >"$OUT/bench.json" 2> >(tee "$OUT/bench.log" >&2)
"${DENO[@]}" eval --config deno.json "
import { formatReport } from './bench/bench.ts';
console.log(formatReport(JSON.parse(Deno.readTextFileSync('$OUT/bench.json'))));" | tee "$OUT/bench.md"

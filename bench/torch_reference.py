"""PyTorch CPU reference for `deno task bench`: the lab's model, cost and optimizer in PyTorch,
run the ways a careful PyTorch user would run it, so that the lab is compared with PyTorch at
its best and not with its defaults alone.

Usage (JSON objects on standard output, one a line):
    python3 bench/torch_reference.py info
    python3 bench/torch_reference.py serve '{"width": 8, "batch": 15, "imageSize": 256,
        "steps": 3, "variant": "channels_last"}'
    python3 bench/torch_reference.py matmul '{"m": 2048, "k": 2304, "n": 512}'

`serve` builds the lab's model (per-image standardization; four blocks of two same-padded ReLU
convolutions summed, then a 2x2 max-pool, with W, 2W, 4W, 8W filters and 5, 5, 3, 3 kernels;
global average pooling; dense(2)) under softmax cross-entropy and Nesterov momentum 0.9 at the
learning rate given (the lab's 0.05 by default), on seeded random uint8 images, with as many
threads as the machine has cores, one of these ways (VARIANTS):
- `nchw`: eager mode in PyTorch's default layout;
- `channels_last`: eager mode with the model and images in `torch.channels_last` (NHWC), which
  spares oneDNN the reorders to and from its blocked layout around each convolution;
- `channels_last_torchscript`: inference only, channels_last through a traced and frozen
  TorchScript graph (`torch.jit.freeze` folds the weights and fuses convolution and ReLU);
- `channels_last_compile`: channels_last through `torch.compile` (Inductor; PyTorch 2 only, and
  it needs a C++ compiler); its compilation happens in the warm-up, not in the measured runs;
- `bf16_autocast`: channels_last eager under `torch.autocast("cpu", dtype=torch.bfloat16)`, the
  mixed precision PyTorch offers on CPUs: bfloat16 convolutions and products, float32 weights.
It warms up (one training step, two inference batches), answers `{"ready": ...}` (or
`{"unavailable": "..."}` for a way that cannot run), then reads commands on standard input, one a
line: `train` and `infer` time `steps` steps (or batches), one by one, and answer the images
per second of the fastest and of all of them, and the cores busy; `done` answers the peak
resident memory and ends. The benchmark interleaves these with the lab's, round by round, so that
both sides see the same load. Without PyTorch every command answers `{"unavailable": ...}`.

`matmul` measures a float32 matrix product with all cores and with one thread (the machine's
native peak for the benchmark). `info` names the PyTorch version.
"""

import contextlib
import json
import math
import os
import resource
import sys
import time
import warnings

BLOCKS = [(1, 5), (2, 5), (4, 3), (8, 3)]
LEARNING_RATE = 0.05
MOMENTUM = 0.9
VARIANTS = [
    "nchw",
    "channels_last",
    "channels_last_torchscript",
    "channels_last_compile",
    "bf16_autocast",
]


def build_model(torch, width):
    nn = torch.nn
    F = torch.nn.functional

    class LabModel(nn.Module):
        def __init__(self):
            super().__init__()
            convs = []
            channels = 1
            for multiplier, kernel in BLOCKS:
                filters = multiplier * width
                convs.append(nn.Conv2d(channels, filters, kernel, padding=kernel // 2))
                convs.append(nn.Conv2d(filters, filters, kernel, padding=kernel // 2))
                channels = filters
            self.convs = nn.ModuleList(convs)
            self.logits = nn.Linear(channels, 2)

        def forward(self, x):
            n = x.shape[0]
            flat = x.reshape(n, -1)
            mean = flat.mean(1).view(n, 1, 1, 1)
            std = flat.std(1, unbiased=False).clamp_min(1 / math.sqrt(flat.shape[1]))
            hidden = (x - mean) / std.view(n, 1, 1, 1)
            for block in range(len(BLOCKS)):
                first = F.relu(self.convs[2 * block](hidden))
                second = F.relu(self.convs[2 * block + 1](first))
                hidden = F.max_pool2d(first + second, 2)
            return self.logits(hidden.mean((2, 3)))

    return LabModel()


def peak_memory_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def prepare(torch, spec):
    """The way `spec["variant"]` runs: (train step or None, inference batch, params, warm-up s)."""
    width, batch, size = spec["width"], spec["batch"], spec["imageSize"]
    variant = spec["variant"]
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    torch.manual_seed(0)
    model = build_model(torch, width)
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (batch, 1, size, size), generator=generator).float()
    labels = torch.arange(batch) % 2
    if variant != "nchw":
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=spec.get("learningRate", LEARNING_RATE),
        momentum=MOMENTUM,
        nesterov=True,
    )
    forward = model
    started = time.perf_counter()
    if variant == "channels_last_compile":
        if not hasattr(torch, "compile"):
            return {"unavailable": f"PyTorch {torch.__version__} has no torch.compile"}
        forward = torch.compile(model)

    def precision():
        if variant == "bf16_autocast":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step():
        optimizer.zero_grad()
        with precision():
            cost = torch.nn.functional.cross_entropy(forward(images), labels)
        cost.backward()
        optimizer.step()
        return cost.item()

    train = None
    if variant != "channels_last_torchscript":
        try:
            train_step()
        except Exception as error:  # Inductor without a compiler, or another failure to compile
            return {"unavailable": f"{variant}: {type(error).__name__}: {str(error)[:200]}"}
        train = train_step
    if variant == "channels_last_torchscript":
        with torch.no_grad():
            # The trace fixes the image size, as the benchmark does: its warning says so.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            forward = torch.jit.freeze(torch.jit.trace(model.eval(), images))

    def infer():
        with torch.inference_mode(), precision():
            return forward(images).float().sum().item()

    infer()
    infer()  # TorchScript's profiling executor optimizes on the second run
    return train, infer, params, time.perf_counter() - started


def timed(run, times, images):
    """Images per second of the fastest of `times` runs and of all of them, and CPU seconds (all
    threads) per wall second meanwhile (as bench/case.ts measures the lab)."""
    cpu = time.process_time()
    started = time.perf_counter()
    fastest = math.inf
    for _ in range(times):
        run_started = time.perf_counter()
        run()
        fastest = min(fastest, time.perf_counter() - run_started)
    seconds = time.perf_counter() - started
    return {
        "imagesPerSecond": images / fastest,
        "meanImagesPerSecond": times * images / seconds,
        "coresUsed": (time.process_time() - cpu) / seconds,
    }


def answer(result):
    print(json.dumps(result), flush=True)


def serve(torch, spec, engine):
    """Warms up one way, then times it on each command read from standard input."""
    prepared = prepare(torch, spec)
    if isinstance(prepared, dict):
        answer(prepared)
        return
    train, infer, params, warm_up_seconds = prepared
    answer({
        "ready": True,
        "engine": engine,
        "variant": spec["variant"],
        "params": params,
        "warmUpSeconds": warm_up_seconds,
    })
    steps, batch = spec["steps"], spec["batch"]
    for line in sys.stdin:
        command = line.strip()
        if command == "train":
            answer({"imagesPerSecond": None} if train is None else timed(train, steps, batch))
        elif command == "infer":
            answer(timed(infer, steps, batch))
        elif command == "done":
            answer({"peakMemoryBytes": peak_memory_bytes()})
            return
        else:
            raise SystemExit(f"unknown command {command!r}; use train, infer or done")


def matmul_gflops(torch, spec, threads, repeats=5):
    torch.set_num_threads(threads)
    m, k, n = spec["m"], spec["k"], spec["n"]
    a = torch.rand(m, k)
    b = torch.rand(k, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * m * k * n / best / 1e9


def main():
    command, spec = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    try:
        import torch
    except ImportError:
        print(json.dumps({"unavailable": f"PyTorch is not installed for {sys.executable}"}))
        return
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    engine = f"PyTorch {torch.__version__} CPU, {cores} threads"
    if command == "info":
        result = {"engine": engine, "python": sys.executable, "variants": VARIANTS}
    elif command == "serve":
        serve(torch, spec, engine)
        return
    elif command == "matmul":
        result = {
            "engine": f"PyTorch {torch.__version__} torch.mm",
            "threads": cores,
            "gflops": matmul_gflops(torch, spec, cores),
            "gflopsOneThread": matmul_gflops(torch, spec, 1),
        }
    else:
        raise SystemExit(f"unknown command {command!r}; use info, serve or matmul")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""PyTorch CPU reference for `deno task bench`: the lab's model, cost and optimizer in PyTorch,
run the ways a careful PyTorch user would run it, so that the lab is compared with PyTorch at
its best and not with its defaults alone.

Usage (one JSON object on standard output):
    python3 bench/torch_reference.py info
    python3 bench/torch_reference.py case '{"width": 8, "batch": 15, "imageSize": 256,
        "steps": 3, "repeats": 3, "variant": "channels_last"}'
    python3 bench/torch_reference.py matmul '{"m": 2048, "k": 2304, "n": 512}'

`case` measures training and inference throughput of the lab's model (per-image standardization;
four blocks of two same-padded ReLU convolutions summed, then a 2x2 max-pool, with W, 2W, 4W, 8W
filters and 5, 5, 3, 3 kernels; global average pooling; dense(2)) under softmax cross-entropy
and Nesterov momentum 0.9 at the learning rate given (the lab's 0.05 by default), on seeded
random uint8 images, with as many
threads as the machine has cores, one of these ways (VARIANTS):
- `nchw`: eager mode in PyTorch's default layout;
- `channels_last`: eager mode with the model and images in `torch.channels_last` (NHWC), which
  spares oneDNN the reorders to and from its blocked layout around each convolution;
- `channels_last_torchscript`: inference only, channels_last through a traced and frozen
  TorchScript graph (`torch.jit.freeze` folds the weights and fuses convolution and ReLU);
- `channels_last_compile`: channels_last through `torch.compile` (Inductor; PyTorch 2 only, and
  it needs a C++ compiler); its compilation happens in the warm-up, not in the measured runs.
Each timed measurement of `steps` steps (or batches) is repeated `repeats` times after a warm-up;
the answer is the median, with the slowest and fastest. A way that cannot run answers
`{"unavailable": "..."}`; without PyTorch every command does.

`matmul` measures a float32 matrix product with all cores and with one thread (the machine's
native peak for the benchmark). `info` names the PyTorch version.
"""

import json
import math
import os
import resource
import statistics
import sys
import time
import warnings

BLOCKS = [(1, 5), (2, 5), (4, 3), (8, 3)]
LEARNING_RATE = 0.05
MOMENTUM = 0.9
VARIANTS = ["nchw", "channels_last", "channels_last_torchscript", "channels_last_compile"]


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


def timed(run, times):
    """Wall seconds of `times` runs, and CPU seconds (all threads) per wall second meanwhile."""
    cpu = time.process_time()
    started = time.perf_counter()
    for _ in range(times):
        run()
    seconds = time.perf_counter() - started
    return seconds, (time.process_time() - cpu) / seconds


def throughput(run, images, steps, repeats):
    """Images per second of `repeats` measurements of `steps` runs: median, slowest, fastest."""
    rates, cores = [], []
    for _ in range(repeats):
        seconds, busy = timed(run, steps)
        rates.append(steps * images / seconds)
        cores.append(busy)
    return {
        "imagesPerSecond": statistics.median(rates),
        "spread": [min(rates), max(rates)],
        "coresUsed": statistics.median(cores),
    }


def measure_case(torch, spec):
    width, batch, size = spec["width"], spec["batch"], spec["imageSize"]
    steps, repeats, variant = spec["steps"], spec.get("repeats", 1), spec["variant"]
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

    def train_step():
        optimizer.zero_grad()
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
        train = throughput(train_step, batch, steps, repeats)
    model.eval()
    with torch.inference_mode() if variant != "channels_last_torchscript" else torch.no_grad():
        if variant == "channels_last_torchscript":
            # The trace fixes the image size, as the benchmark does: its warning says so.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            forward = torch.jit.freeze(torch.jit.trace(model, images))
        infer = lambda: forward(images).sum().item()
        infer()
        infer()  # TorchScript's profiling executor optimizes on the second run
        compile_seconds = time.perf_counter() - started
        inferred = throughput(infer, batch, steps, repeats)
    return {
        "variant": variant,
        "trainImagesPerSecond": None if train is None else train["imagesPerSecond"],
        "inferImagesPerSecond": inferred["imagesPerSecond"],
        "spread": {
            "train": None if train is None else train["spread"],
            "infer": inferred["spread"],
        },
        "trainCoresUsed": None if train is None else train["coresUsed"],
        "inferCoresUsed": inferred["coresUsed"],
        "warmUpSeconds": compile_seconds,
        "params": params,
        "peakMemoryBytes": peak_memory_bytes(),
    }


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
    elif command == "case":
        result = measure_case(torch, spec)
    elif command == "matmul":
        result = {
            "engine": f"PyTorch {torch.__version__} torch.mm",
            "threads": cores,
            "gflops": matmul_gflops(torch, spec, cores),
            "gflopsOneThread": matmul_gflops(torch, spec, 1),
        }
    else:
        raise SystemExit(f"unknown command {command!r}; use info, case or matmul")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

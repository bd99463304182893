"""PyTorch CPU reference for `deno task bench`: the lab's model, cost and optimizer in PyTorch.

Usage (one JSON object on standard output):
    python3 bench/torch_reference.py case '{"width": 8, "batch": 15, "imageSize": 256, "steps": 3}'
    python3 bench/torch_reference.py matmul '{"m": 2048, "k": 2304, "n": 512}'

`case` measures training and inference throughput of the lab's model (per-image standardization;
four blocks of two same-padded ReLU convolutions summed, then a 2x2 max-pool, with W, 2W, 4W, 8W
filters and 5, 5, 3, 3 kernels; global average pooling; dense(2)) under softmax cross-entropy
and Nesterov momentum 0.9 at learning rate 0.05, on seeded random uint8 images, with as many
threads as the machine has cores. `matmul` measures a float32 matrix product with all cores and
with one thread (the machine's native peak for the benchmark). When PyTorch is missing, the
answer is `{"unavailable": "..."}`.
"""

import json
import math
import os
import resource
import sys
import time

BLOCKS = [(1, 5), (2, 5), (4, 3), (8, 3)]
LEARNING_RATE = 0.05
MOMENTUM = 0.9


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


def measure_case(torch, spec):
    width, batch, size, steps = spec["width"], spec["batch"], spec["imageSize"], spec["steps"]
    torch.manual_seed(0)
    model = build_model(torch, width)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, nesterov=True
    )
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (batch, 1, size, size), generator=generator).float()
    labels = torch.arange(batch) % 2

    def train_step():
        optimizer.zero_grad()
        cost = torch.nn.functional.cross_entropy(model(images), labels)
        cost.backward()
        optimizer.step()
        return cost.item()

    def infer():
        with torch.inference_mode():
            return model(images).sum().item()

    train_step()
    train_seconds, train_cores = timed(train_step, steps)
    infer()
    infer_seconds, infer_cores = timed(infer, steps)
    return {
        "engine": f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads",
        "trainImagesPerSecond": steps * batch / train_seconds,
        "inferImagesPerSecond": steps * batch / infer_seconds,
        "trainCoresUsed": train_cores,
        "inferCoresUsed": infer_cores,
        "params": sum(p.numel() for p in model.parameters()),
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
    command, spec = sys.argv[1], json.loads(sys.argv[2])
    try:
        import torch
    except ImportError:
        print(json.dumps({"unavailable": "PyTorch is not installed (Debian: python3-torch)"}))
        return
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    if command == "case":
        result = measure_case(torch, spec)
    elif command == "matmul":
        result = {
            "engine": f"PyTorch {torch.__version__} torch.mm",
            "threads": cores,
            "gflops": matmul_gflops(torch, spec, cores),
            "gflopsOneThread": matmul_gflops(torch, spec, 1),
        }
    else:
        raise SystemExit(f"unknown command {command!r}; use case or matmul")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch baseline for `npm run bench` (bench/bench.js writes the data file and reads our JSON line).

Same models, data, batch size, loss and Adam loop as fastlr's side of the bench, at --threads N (default 1):
  MLP  784-256-10 (relu)
  CNN  conv16(3x3 valid)-relu-maxpool2-conv32(3x3 valid)-relu-maxpool2-flatten-dense10
Every step reads the loss back (loss.item()), as an LR finder must to smooth and record it.

Usage: torch_bench.py DATA.bin N_ROWS [--steps-mlp S] [--steps-cnn S] [--find-iters I] [--seed K] [--repeats R]
DATA.bin: N_ROWS*784 float32 pixels (0..1, row-major 28x28) followed by N_ROWS int32 labels, little endian.
Prints one JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

# --threads N (default 1): read before torch is imported, so OpenMP/OpenBLAS start with that many threads
THREADS = 1
if '--threads' in sys.argv[1:]:
    THREADS = max(1, int(sys.argv[sys.argv.index('--threads') + 1]))
for _v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_v] = str(THREADS)

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError as e:  # the bench checks for this before running us
    print(json.dumps({'error': f'import failed: {e}'}))
    sys.exit(3)

torch.set_num_threads(THREADS)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass


def make_model(kind: str) -> nn.Module:
    if kind == 'mlp':
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 5 * 5, 10))


def batches(x: torch.Tensor, y: torch.Tensor, bs: int, gen: torch.Generator):
    """Endless stream of shuffled batches (drop_last), reshuffled each epoch."""
    n = x.shape[0]
    while True:
        order = torch.randperm(n, generator=gen)
        for b in range(n // bs):
            idx = order[b * bs:(b + 1) * bs]
            yield x[idx], y[idx]


def steps_per_second(kind: str, x, y, bs: int, steps: int, warmup: int, seed: int, repeats: int = 1) -> dict:
    """Best of `repeats` timed runs of `steps` steps (one model, after `warmup` untimed steps), by wall-clock time
    and by this process's CPU time (the fair figure on a shared machine: time spent descheduled does not count)."""
    torch.manual_seed(seed)
    model = make_model(kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    it = batches(x, y, bs, torch.Generator().manual_seed(seed))

    def step() -> None:
        xb, yb = next(it)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        loss.item()

    for _ in range(warmup):
        step()
    best, best_cpu = 0.0, 0.0
    for _ in range(max(1, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        best = max(best, steps / (time.perf_counter() - t0))
        best_cpu = max(best_cpu, steps / max(1e-9, time.process_time() - c0))
    return {'wall': best, 'cpu': best_cpu}


def find_seconds(kind: str, x, y, bs: int, iters: int, seed: int, repeats: int = 1) -> dict:
    """Best of `repeats` range tests (each from a fresh model)."""
    runs = [find_once(kind, x, y, bs, iters, seed) for _ in range(max(1, repeats))]
    return min(runs, key=lambda r: r['seconds'])


def find_once(kind: str, x, y, bs: int, iters: int, seed: int) -> dict:
    """A fastai-style range test: exponential LR 1e-7..10, smoothed loss (beta 0.98), stop when
    smoothed > 4 * best. Timed in-process from model creation to the last step."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = make_model(kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    it = batches(x, y, bs, torch.Generator().manual_seed(seed))
    avg, best, done = 0.0, float('inf'), 0
    for i in range(iters):
        lr = 1e-7 * (10 / 1e-7) ** (i / (iters - 1))
        for g in opt.param_groups:
            g['lr'] = lr
        xb, yb = next(it)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        v = loss.item()
        avg = 0.98 * avg + 0.02 * v
        smooth = avg / (1 - 0.98 ** (i + 1))
        done = i + 1
        if smooth < best:
            best = smooth
        if smooth > 4 * best or smooth != smooth:
            break
    return {'seconds': time.perf_counter() - t0, 'iters': done}


def blas_library() -> str:
    """The BLAS shared library torch loaded (Linux: from /proc/self/maps), e.g. libopenblasp-r0.3.21.so or
    libblas.so.3 (the unoptimised reference BLAS, several times slower on dense layers)."""
    try:
        with open('/proc/self/maps') as f:
            paths = {line.split()[-1] for line in f if len(line.split()) >= 6}
    except OSError:
        return 'unknown'
    names = sorted({os.path.realpath(p) for p in paths if 'blas' in os.path.basename(p).lower() or 'mkl_rt' in p})
    return ', '.join(names) if names else 'none found (torch built without an external BLAS?)'


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('data')
    ap.add_argument('n', type=int)
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--steps-mlp', type=int, default=300)
    ap.add_argument('--steps-cnn', type=int, default=100)
    ap.add_argument('--warmup', type=int, default=10)
    ap.add_argument('--find-iters', type=int, default=100)
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--repeats', type=int, default=1, help='best of this many timed runs')
    ap.add_argument('--threads', type=int, default=1, help='intra-op threads (OMP/OpenBLAS/torch)')
    a = ap.parse_args()

    raw = np.fromfile(a.data, dtype='<f4', count=a.n * 784)
    labels = np.fromfile(a.data, dtype='<i4', count=a.n, offset=a.n * 784 * 4)
    x = torch.from_numpy(raw.reshape(a.n, 1, 28, 28).copy())
    y = torch.from_numpy(labels.astype(np.int64))

    out = {
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'blas': blas_library(),
        'mlp': steps_per_second('mlp', x, y, a.bs, a.steps_mlp, a.warmup, a.seed, a.repeats),
        'cnn': steps_per_second('cnn', x, y, a.bs, a.steps_cnn, a.warmup, a.seed, a.repeats),
        'mlp_find': find_seconds('mlp', x, y, a.bs, a.find_iters, a.seed, a.repeats),
        'cnn_find': find_seconds('cnn', x, y, a.bs, a.find_iters, a.seed, a.repeats),
    }
    print(json.dumps(out))


if __name__ == '__main__':
    main()

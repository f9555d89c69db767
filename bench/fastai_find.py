#!/usr/bin/env python3
"""fastai's own lr_find for `npm run bench`, when the interpreter has fastai (bench.js checks `import fastai` first).

Same data file as torch_bench.py (N_ROWS*784 float32 pixels, then N_ROWS int32 labels), the same two models,
batch 64, fastai's Adam (Learner default opt_func), CrossEntropyLossFlat; learn.lr_find(1e-7, 10, num_it=100,
stop_div=True) timed in process after one untimed lr_find (warm), best of --repeats. Prints one JSON line.
Usage: fastai_find.py DATA.bin N_ROWS [--threads N] [--repeats R]
"""
import argparse
import json
import os
import sys
import time

THREADS = 1
if '--threads' in sys.argv[1:]:
    THREADS = max(1, int(sys.argv[sys.argv.index('--threads') + 1]))
for _v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_v] = str(THREADS)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from fastai.data.core import DataLoaders  # noqa: E402
from fastai.data.load import DataLoader  # noqa: E402
from fastai.learner import Learner  # noqa: E402
from fastai.losses import CrossEntropyLossFlat  # noqa: E402

torch.set_num_threads(THREADS)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import make_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('data')
    ap.add_argument('n', type=int)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=1)
    a = ap.parse_args()
    raw = np.fromfile(a.data, dtype='<f4', count=a.n * 784)
    labels = np.fromfile(a.data, dtype='<i4', count=a.n, offset=a.n * 784 * 4)
    x = torch.from_numpy(raw.reshape(a.n, 1, 28, 28).copy())
    y = torch.from_numpy(labels.astype(np.int64))
    ds = list(zip(x, y))
    out = {'threads': torch.get_num_threads()}
    for kind in ('mlp', 'cnn'):
        dls = DataLoaders(DataLoader(ds, bs=64, shuffle=True, drop_last=True), DataLoader(ds[:640], bs=64))
        best = None
        for r in range(a.repeats + 1):
            torch.manual_seed(42)
            learn = Learner(dls, make_model(kind), loss_func=CrossEntropyLossFlat())
            t0 = time.perf_counter()
            with learn.no_bar(), learn.no_logging():
                learn.lr_find(start_lr=1e-7, end_lr=10, num_it=100, stop_div=True, show_plot=False)
            s = time.perf_counter() - t0
            iters = len(learn.recorder.lrs)
            if r > 0 and (best is None or s < best['seconds']):
                best = {'seconds': s, 'iters': iters}
        out[kind] = best
    print(json.dumps(out))


if __name__ == '__main__':
    main()

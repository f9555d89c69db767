#!/usr/bin/env python3
"""PyTorch baseline for the MobileNetV2 224x224 row of `npm run bench` (bench/mobilenet.js runs us).

torchvision's mobilenet_v2 (random weights, 1000 classes), train mode, Adam (lr 1e-3), cross-entropy, the loss
read back every step (loss.item()), one fixed batch of random images, --threads intra-op threads
(torch.set_num_threads; OMP/OPENBLAS/MKL_NUM_THREADS set by the caller too). The stages of fastlr's side:
  whole               every parameter trains, every BatchNorm in train mode
  whole_bn_inference  every parameter trains, every BatchNorm in eval mode (fastlr's model.bn_inference)
  frozen              fine_tune's first stage as fastlr runs it with bn_freeze and train_bn false: `features`
                      requires_grad False (no gradient computed into the body) AND in eval mode (its BatchNorm
                      normalises with the running statistics and leaves them alone); the classifier trains
images/s = batch * steps / time, by wall clock and by this process's CPU time, after two warm-up steps (as fastlr's side).
Prints one JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
    import torchvision
    from torch import nn
except ImportError as e:  # bench/mobilenet.js reports this and skips the PyTorch column
    print(json.dumps({'error': f'import failed: {e}'}))
    sys.exit(3)


def blas_library() -> str:
    try:
        with open('/proc/self/maps') as f:
            paths = {line.split()[-1] for line in f if len(line.split()) >= 6}
    except OSError:
        return 'unknown'
    names = sorted({os.path.basename(os.path.realpath(p)) for p in paths if 'blas' in os.path.basename(p).lower()})
    return ', '.join(names) if names else 'none found'


def measure(stage: str, batch: int, steps: int, seed: int) -> dict:
    torch.manual_seed(seed)
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=1000)
    model.train()
    if stage == 'frozen':
        for p in model.features.parameters():
            p.requires_grad_(False)
        model.features.eval()
    elif stage == 'whole_bn_inference':
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
    elif stage != 'whole':
        raise SystemExit(f'unknown stage {stage}')
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 224, 224, generator=g) * 2 - 1
    y = torch.randint(0, 1000, (batch,), generator=g)

    def step() -> None:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    step()
    step()  # two warm-up steps, as fastlr's side
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall = time.perf_counter() - w0
    cpu = max(1e-9, time.process_time() - c0)
    return {
        'stage': stage, 'batch': batch, 'steps': steps, 'trainable': len(params),
        'images_per_s': batch * steps / wall, 'cpu_images_per_s': batch * steps / cpu,
        'step_seconds': wall / steps, 'cpu_step_seconds': cpu / steps,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--stages', default='whole,whole_bn_inference,frozen')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    out = {
        'torch': torch.__version__, 'torchvision': torchvision.__version__, 'threads': torch.get_num_threads(),
        'blas': blas_library(), 'python': sys.executable,
    }
    for stage in a.stages.split(','):
        out[stage] = measure(stage, a.batch, a.steps, a.seed)
    print(json.dumps(out))


if __name__ == '__main__':
    main()

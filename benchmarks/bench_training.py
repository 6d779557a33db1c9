"""Training throughput (images/s) of the compact and paper-size HCA-Net on this machine.

Usage::

    python benchmarks/bench_training.py [--steps 20] [--batch 4] [--size 256x128] [--device cpu]

Each configuration runs ``--steps`` optimisation steps of :func:`train_step` (RMSprop + HCA
loss, channels-last) on pre-generated synthetic batches, after two warm-up steps, so the
figure is the network's training speed; the synthetic generator's own cost (per slab) is
printed separately. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", default="256x128", help="crop HxW in model pixels (multiples of 64)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import numpy as np
    import torch

    from hca_disc_label.conventions import DISC_VALUES
    from hca_disc_label.model.hca_net import COMPACT_CONFIG, PAPER_CONFIG, HCANet, count_parameters
    from hca_disc_label.model.loss import HCALoss
    from hca_disc_label.training.data import DataSpec, collate, make_sample
    from hca_disc_label.training.trainer import train_step

    h, w = (int(v) for v in args.size.lower().split("x"))
    spec = DataSpec(heights=(h,), widths=(w,))
    t0 = time.perf_counter()
    samples = [make_sample(spec, 0, s, i) for s in range(args.steps + 2) for i in range(args.batch)]
    gen_ms = 1000 * (time.perf_counter() - t0) / len(samples)
    values = list(DISC_VALUES)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"batch {args.batch}, crop {h}x{w}; synthetic sample generation + augmentation {gen_ms:.1f} ms each\n")
    print("| configuration | parameters | s / step | images / s |")
    print("|---|---|---|---|")
    for name, cfg in (("compact", COMPACT_CONFIG), ("paper", PAPER_CONFIG)):
        torch.manual_seed(0)
        net = HCANet(cfg).to(args.device).to(memory_format=torch.channels_last).train()
        crit = HCALoss(foreground_weight=10.0).to(args.device)
        opt = torch.optim.RMSprop(list(net.parameters()) + list(crit.parameters()), lr=2.5e-4)
        batches = [[collate(samples[k * args.batch:(k + 1) * args.batch], values, net.output_stride)]
                   for k in range(args.steps + 2)]
        times = []
        for k, micro in enumerate(batches):
            if args.device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            train_step(net, crit, opt, micro, args.batch, 1.5, args.device)
            if args.device == "cuda":
                torch.cuda.synchronize()
            if k >= 2:
                times.append(time.perf_counter() - t)
        step = float(np.median(times))
        print(f"| {name} | {count_parameters(net):,} | {step:.3f} | {args.batch / step:.1f} |")


if __name__ == "__main__":
    main()

"""Parameter counts and CPU forward time of the HCA-Net configurations.

Usage: ``python benchmarks/model_size.py [--size 256] [--threads 2] [--repeats 5]``.
Times one ``(1, 1, size, size)`` forward in eval mode under ``torch.no_grad`` after one
warm-up call and prints the median over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

# Runnable from a source checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hca_disc_label.model.hca_net import (  # noqa: E402
    COMPACT_CONFIG,
    PAPER_CONFIG,
    HCANet,
    count_parameters,
)


def median_forward_seconds(model: torch.nn.Module, size: int, repeats: int) -> float:
    """Median wall time of one forward of a ``(1, 1, size, size)`` input."""
    x = torch.rand(1, 1, size, size)
    times = []
    with torch.no_grad():
        model(x)  # warm-up: allocator and kernel selection
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, input 1x1x{args.size}x{args.size}")
    for name, config in (("paper", PAPER_CONFIG), ("compact", COMPACT_CONFIG)):
        model = HCANet(config).eval()
        seconds = median_forward_seconds(model, args.size, args.repeats)
        out = args.size // config.output_stride
        print(
            f"{name:8s} width {config.width:4d}  stacks {config.num_stacks}  depth {config.depth}  "
            f"stride {config.stem_stride}  V {config.num_classes}  "
            f"params {count_parameters(model):>9,}  out {out}x{out}  "
            f"forward median {seconds * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()

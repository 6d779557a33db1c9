"""One process or many: the device, and DistributedDataParallel under ``torchrun``.

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with one process nothing is
initialised. NCCL on GPUs, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hca_disc_label.errors import HCAError


@dataclass
class Dist:
    """This process's place: ``rank`` of ``world`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that writes files and validates (rank 0)."""
        return self.rank == 0


def init_distributed(device: str) -> Dist:
    """Join the process group when ``WORLD_SIZE`` > 1 (and pick this rank's GPU)."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    info = Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if device == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def pick_device(device: str) -> str:
    """"auto" -> "cuda" when a GPU is visible, else "cpu"; "cuda" without one is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise HCAError("-device cuda: no CUDA GPU is visible to PyTorch")
    return device

"""Checkpoints of a training run: ``checkpoints/last.pt`` to resume exactly, ``best.pt`` to export.

Both are torch pickles of plain dicts (the keys below), written atomically, so a run killed
while saving keeps its previous checkpoint. Older runs' files load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CHECKPOINT_NAME = "last.pt"
BEST_NAME = "best.pt"


def _save(path: Path, state: dict) -> None:
    import torch

    from hca_disc_label.atomic import atomic_write

    atomic_write(path, lambda tmp: torch.save(state, str(tmp)))


@dataclass
class Checkpoint:
    """Everything a run needs to continue bit for bit from ``step``.

    Attributes:
        model, loss, optimizer: state dicts of the network, the loss (its learned weight)
            and the optimiser.
        step: optimisation steps done.
        best: best validation score so far (mm), None before the first validation.
        losses: the loss of every step done.
        config: the run's :class:`~.config.TrainConfig` as JSON (for the record; resume does
            not read it).
    """

    model: dict
    loss: dict
    optimizer: dict
    step: int
    best: float | None = None
    losses: list[float] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write ``path`` atomically."""
        _save(path, {"model": self.model, "loss": self.loss, "optimizer": self.optimizer, "step": self.step,
                     "best": self.best, "losses": self.losses, "config": self.config})

    @classmethod
    def load(cls, path: Path, device: str) -> "Checkpoint":
        """Read ``path`` (tensors mapped to ``device``)."""
        import torch

        state = torch.load(str(path), map_location=device, weights_only=False)
        return cls(state["model"], state["loss"], state["optimizer"], int(state["step"]), state.get("best"),
                   list(state.get("losses", [])), state.get("config") or {})


@dataclass
class BestCheckpoint:
    """The network at its best validation score: ``model`` state dict, ``step``, ``val`` metrics."""

    model: dict
    step: int
    val: dict | None = None

    def save(self, path: Path) -> None:
        """Write ``path`` atomically."""
        _save(path, {"model": self.model, "step": self.step, "val": self.val})

    @classmethod
    def load(cls, path: Path) -> "BestCheckpoint":
        """Read ``path`` (tensors on the CPU)."""
        import torch

        saved = torch.load(str(path), map_location="cpu", weights_only=False)
        return cls(saved["model"], int(saved.get("step", 0)), saved.get("val"))

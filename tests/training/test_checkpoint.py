"""Checkpoints: what last.pt and best.pt hold, read back unchanged (resume depends on it)."""

from __future__ import annotations

import torch

from hca_disc_label.training.checkpoint import BestCheckpoint, Checkpoint


def test_checkpoint_round_trip_keeps_every_field(tmp_path):
    net = torch.nn.Linear(2, 3)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-3)
    ckpt = Checkpoint(net.state_dict(), {"alpha": torch.tensor(0.5)}, opt.state_dict(), 7, 3.25, [1.0, 0.5],
                      {"seed": 3})
    ckpt.save(tmp_path / "last.pt")
    back = Checkpoint.load(tmp_path / "last.pt", "cpu")
    assert (back.step, back.best, back.losses, back.config) == (7, 3.25, [1.0, 0.5], {"seed": 3})
    assert torch.equal(back.model["weight"], net.state_dict()["weight"])
    raw = torch.load(str(tmp_path / "last.pt"), weights_only=False)
    assert sorted(raw) == ["best", "config", "loss", "losses", "model", "optimizer", "step"]


def test_best_checkpoint_round_trip(tmp_path):
    BestCheckpoint({"w": torch.ones(2)}, 4, {"score_mm": 1.5}).save(tmp_path / "best.pt")
    back = BestCheckpoint.load(tmp_path / "best.pt")
    assert back.step == 4 and back.val == {"score_mm": 1.5} and torch.equal(back.model["w"], torch.ones(2))

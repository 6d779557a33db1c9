"""Distributed training: 2 gloo processes on CPU match one process on the same global batch."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, TINY_ARCH
from tests.training.test_trainer import small_bids


def _losses(run: Path) -> list[float]:
    with open(run / "metrics.csv", newline="") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def _args(out: Path, bids: Path, arch: Path) -> list[str]:
    return ["train", "-ofolder", str(out), "-data", str(bids), "-synthetic-fraction", "0", "-arch", str(arch),
            "-steps", "3", "-batch", "4", "-lr", "1e-3", "-heights", "128", "-widths", "64", "-workers", "0",
            "-val-every", "3", "-val-synthetic", "0", "-no-onnx", "-v", "0", "-seed", "7"]


@pytest.mark.slow
def test_two_gloo_processes_match_single_process(shared_data, tmp_path):
    bids = small_bids(shared_data, tmp_path, 4)
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(TINY_ARCH))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    # the single-process run starts first and runs beside the distributed one: the two never
    # share a folder, and the launcher's start-up leaves a core idle otherwise
    single = subprocess.Popen([sys.executable, "-m", "hca_disc_label", *_args(tmp_path / "one", bids, arch), "-micro", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ddp = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
             "-m", "hca_disc_label", *_args(tmp_path / "ddp", bids, arch)],
            env=env, capture_output=True, text=True, timeout=300,
        )
        _, single_err = single.communicate(timeout=300)
    finally:
        if single.poll() is None:
            single.kill()
            single.wait()
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert single.returncode == 0, single_err[-3000:]
    a, b = _losses(tmp_path / "ddp"), _losses(tmp_path / "one")
    assert len(a) == len(b) == 3
    np.testing.assert_allclose(a, b, rtol=1e-3)
    assert (tmp_path / "ddp" / "model" / "model.json").exists()

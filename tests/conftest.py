"""Shared fixtures: real data location, random reorientation helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HCA_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~20 s")
    # Tests share 2 cores with other work: keep torch from oversubscribing.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real labelled spine MRI); the suite needs it."""
    if not (SHARED_DATA / "bids").is_dir():
        raise RuntimeError(f"real test data not found at {SHARED_DATA} (set HCA_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the user's model cache or the network from tests."""
    monkeypatch.setenv("HCA_DISC_LABEL_HOME", str(tmp_path_factory.mktemp("hca_home")))

"""The labels written for every ``bids/`` image equal the committed snapshot: same values, same
voxels, world mm within float noise (the regression guard of the labelling-core refactor).

``tests/data/bids_labels_expected.json`` records the default model it was made with. The
refactor (issue 12) was checked against the labels of commit 1093493 with hca-compact 0.3.0
(passing at 74a1ddd); the snapshot was then regenerated for hca-compact 0.4.0, 0.5.0, 0.6.0, 0.7.0 and 0.8.0 (the labels change
with the model). A deliberate change of the model or the algorithm (mid-plane, decoder)
changes labels: regenerate the snapshot with the new code (``benchmarks/bids_labels_snapshot.py``)
and say so in the commit. A snapshot of another model fails here rather than being skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "tests" / "data" / "bids_labels_expected.json"


sys.path.insert(0, str(ROOT / "benchmarks"))  # bids_labels_snapshot (the same code made the snapshot)


@pytest.fixture(scope="module")
def fresh(shared_data):
    from bids_labels_snapshot import snapshot

    return snapshot(shared_data / "bids")


def test_every_bids_label_is_unchanged(fresh):
    from bids_labels_snapshot import default_model

    expected = json.loads(EXPECTED.read_text())
    model = expected.pop("_model")
    assert default_model() == model, (
        f"the snapshot is of {model['Name']} {model['Version']}, the default model is {default_model()['Version']}: "
        "regenerate it (benchmarks/bids_labels_snapshot.py) and check the label changes")
    assert sorted(fresh) == sorted(expected) and len(expected) == 8
    for image, discs in expected.items():
        got = fresh[image]
        assert [d["value"] for d in got] == [d["value"] for d in discs], image
        assert [d["voxel"] for d in got] == [d["voxel"] for d in discs], image
        for g, e in zip(got, discs):
            assert g["mm"] == pytest.approx(e["mm"], abs=1e-3), image

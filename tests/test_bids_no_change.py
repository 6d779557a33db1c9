"""The labels written for every ``bids/`` image equal the snapshot taken before the labelling
core was refactored (issue 12): same values, same voxels, world mm within float noise.

``tests/data/bids_labels_expected.json`` was written by the pipeline of commit 1093493 (the
last commit before the refactor; see ``benchmarks/bids_labels_snapshot.py`` for the command)
with the default model it records; with another default model the test is skipped (labels
change with the model). A deliberate change of the algorithm (mid-plane, decoder) changes
labels too: regenerate the snapshot with the new code then, and say so in the commit.
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
    if default_model() != model:
        pytest.skip(f"the default model changed ({model['Name']} {model['Version']} -> {default_model()['Version']}): "
                    "labels change with it; regenerate the snapshot (benchmarks/bids_labels_snapshot.py)")
    assert sorted(fresh) == sorted(expected) and len(expected) == 8
    for image, discs in expected.items():
        got = fresh[image]
        assert [d["value"] for d in got] == [d["value"] for d in discs], image
        assert [d["voxel"] for d in got] == [d["voxel"] for d in discs], image
        for g, e in zip(got, discs):
            assert g["mm"] == pytest.approx(e["mm"], abs=1e-3), image

"""benchmarks/lateral_placement.py: per-disc distances for each search width, on a tiny subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


def test_lateral_placement_on_one_real_and_one_synthetic_image(shared_data, capsys):
    bench = load_script(ROOT / "benchmarks" / "lateral_placement.py")
    assert bench.main(["hca-compact", "--data", str(shared_data / "bids-train"), "--limit", "1",
                       "--synthetic", "1", "--search", "8,12"]) == 0
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| real 3D")]
    assert [(r[1].strip(), r[2].strip()) for r in rows] == [("8", "15"), ("12", "15")]
    for r in rows:
        n, median = int(r[3]), float(r[4])
        assert n >= 3 and 0.0 <= median < 4.0  # discs on a real image land within a few mm of their labels
    assert out.count("| synthetic ") == 4


def test_plane_xs_follow_the_search_width(shared_data):
    from hca_disc_label import Labeller
    from hca_disc_label.training.data import find_bids_pairs

    bench = load_script(ROOT / "benchmarks" / "lateral_placement.py")
    labelling = Labeller("hca-compact", "t2", "onnx", "cpu").label(find_bids_pairs(shared_data / "bids-train")[0][1])
    xs = bench._plane_xs(labelling, [(0.5, 15.0), (12.0, 15.0)])
    centre = labelling.slice_index
    assert np.all(np.abs(xs[0.5, 15.0] - centre) <= 1)  # a 0.5 mm search cannot leave the slab's centre slice
    assert np.all(np.abs(xs[12.0, 15.0] - centre) * labelling.image.zooms[0] <= 12.0 + 1e-6)
    assert np.array_equal(xs[12.0, 15.0], np.array([d.canonical[0] for d in labelling.discs]))  # the defaults

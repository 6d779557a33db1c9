"""benchmarks/junction_identity.py on a tiny subset: one-channel and parasagittal models side by side."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import make_tiny_model

ROOT = Path(__file__).resolve().parents[2]


def test_models_with_and_without_lateral_channels_are_scored_on_the_same_cases(tmp_path, capsys):
    one = make_tiny_model(tmp_path / "one", name="tiny-one", onnx=False)
    three = make_tiny_model(tmp_path / "three", name="tiny-three", onnx=False, channel_offsets_mm=[-25.0, 0.0, 25.0])
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import junction_identity as bench
        out = bench.main([str(one), str(three), "--sets", "syn:lumbar-sacrum-edge", "--n", "2",
                          "--backend", "torch"])
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    printed = capsys.readouterr().out
    assert "side by side" in printed
    cases = [[r["case"] for r in out[label]["cases"]["syn:lumbar-sacrum-edge"]] for label in out]
    assert len(cases) == 2 and cases[0] == cases[1] and len(cases[0]) == 2
    for label in out:
        for row in out[label]["cases"]["syn:lumbar-sacrum-edge"]:
            assert row["gt"] and row["right"] + row["missed"] <= row["discs"]

"""Real images cut along the spine: world-preserving cuts, scoring, count comparison, and the two
benchmarks (real sacrum, crop consistency) on a tiny subset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.evaluation.real_crops import (
    Cut,
    compare_counts,
    cut_image,
    heights_in_view,
    random_cuts,
    sacrum_cuts,
    score_image,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("codes", [("R", "A", "S"), ("I", "P", "R"), ("P", "I", "L"), ("L", "S", "A")])
def test_a_cut_keeps_every_kept_voxel_at_its_world_position(codes):
    rng = np.random.default_rng(len("".join(codes)))
    ras = nib.Nifti1Image(rng.random((12, 14, 40)).astype(np.float32), np.diag([0.8, 1.0, 1.5, 1.0]))
    img = ras.as_reoriented(nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt("RAS"), nib.orientations.axcodes2ornt(codes)))
    low, high = heights_in_view(img)
    assert high - low == pytest.approx(39 * 1.5)
    out = cut_image(img, top_mm=high - 10.0, bottom_mm=low + 12.0)
    o_low, o_high = heights_in_view(out)
    assert low + 12.0 <= o_low < low + 13.5 and high - 11.5 < o_high <= high - 10.0
    # one voxel: same value at the same world point in both images
    ijk_out = np.array([3, 4, 5])
    world = out.affine[:3, :3] @ ijk_out + out.affine[:3, 3]
    ijk_in = np.rint(np.linalg.solve(img.affine[:3, :3], world - img.affine[:3, 3])).astype(int)
    assert out.get_fdata()[tuple(ijk_out)] == img.get_fdata()[tuple(ijk_in)]
    with pytest.raises(ValueError):
        cut_image(img, top_mm=low + 2.0, bottom_mm=low)


def test_sacrum_cuts_and_random_cuts_are_where_they_say():
    gt = {20: np.array([0, 0, 100.0]), 24: np.array([0, 0, 20.0]), 25: np.array([0, 0, 0.0])}
    cuts = sacrum_cuts(gt)
    assert len(cuts) == 10
    assert Cut("top=whole,bottom=-12mm", None, 12.0) in cuts
    assert Cut("top=20+15mm,bottom=+25mm", 115.0, -25.0) in cuts
    img = nib.Nifti1Image(np.zeros((4, 4, 100), np.float32), np.eye(4))
    for cut in random_cuts(img, 20, np.random.default_rng(0)):
        assert 0 <= cut.bottom_mm < cut.top_mm <= 99 and 0.4 * 99 <= cut.top_mm - cut.bottom_mm <= 0.8 * 99


def test_score_counts_right_wrong_and_missed_discs_in_view_only():
    gt = {23: np.array([0, 0, 60.0]), 24: np.array([0, 0, 30.0]), 25: np.array([0, 0, 0.0])}
    cut = Cut("c", None, 10.0)  # 25 is cut away: not scored
    pred = [(23, np.array([0, 2.0, 61.0])), (25, np.array([0, 0, 31.0]))]  # L4/L5 called L5/S1
    s = score_image(gt, pred, cut, (-50.0, 100.0), "ok", 0.97)
    assert (s.n_gt, s.right, s.wrong_value, s.missed, s.wrong) == (2, 1, 1, 0, True)
    s = score_image(gt, [(23, np.array([0, 0, 60.0]))], Cut("w", None, None), (-50.0, 100.0), "check", 0.5)
    assert (s.n_gt, s.right, s.wrong_value, s.missed, s.wrong) == (3, 1, 0, 2, False)


def test_compare_counts_pairs_mutual_nearest_labels_and_counts_changed_values():
    whole = [(22, [0, 0, 60.0]), (23, [0, 0, 30.0]), (24, [0, 0, 0.0])]
    same = [(23, [0, 1, 31.0]), (24, [0, 0, -1.0])]
    shifted = [(24, [0, 1, 31.0]), (25, [0, 0, -1.0]), (26, [0, 0, -40.0])]
    assert compare_counts(whole, same) == (2, 0)
    assert compare_counts(whole, shifted) == (2, 2)
    assert compare_counts(whole, []) == (0, 0)


def _run_benchmark(name: str, argv: list[str], capsys) -> str:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        module = __import__(name)
        assert module.main(argv) == 0
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return capsys.readouterr().out


def test_real_sacrum_benchmark_on_one_subject(shared_data, tmp_path, capsys):
    out = _run_benchmark("real_sacrum", ["--model", "hca-compact=sub-zuk08", "--data", str(shared_data / "bids-train"),
                                         "--json", str(tmp_path / "r.json")], capsys)
    assert "| sub-zuk08 | hca-compact | 10 |" in out and "identity among ok images" in out
    records = json.loads((tmp_path / "r.json").read_text())["records"]
    assert len(records) == 10
    whole = next(r for r in records if r["cut"] == "top=whole,bottom=whole")
    assert whole["n_gt"] == 7  # T11/T12 .. L4/L5 labelled, L5/S1 from the L5 mask
    for r in records:
        assert r["right"] + r["wrong_value"] + r["missed"] == r["n_gt"] and r["status"] in ("ok", "check")
    assert next(r for r in records if r["cut"] == "top=whole,bottom=-12mm")["n_gt"] == 6  # L5/S1 cut away


def test_real_sacrum_benchmark_scores_a_weights_only_fold_model_with_torch(shared_data, tmp_path, capsys):
    fold_model = ROOT / "benchmarks" / "fold_models" / "foldB28"  # no model.onnx: backend "auto" uses torch
    argv = ["--model", f"{fold_model}=sub-zuk08", "--data", str(shared_data / "bids-train"),
            "--calibration", "hca-compact", "--json", str(tmp_path / "r.json")]
    out = _run_benchmark("real_sacrum", argv, capsys)
    assert "| sub-zuk08 |" in out
    records = json.loads((tmp_path / "r.json").read_text())["records"]
    whole = next(r for r in records if r["cut"] == "top=whole,bottom=whole")
    # golden: out of fold, the whole scan is numbered right (measured 63/63 over the ten cuts)
    assert whole["right"] == whole["n_gt"] == 7 and not whole["wrong"]


def test_crop_consistency_benchmark_on_one_image(shared_data, tmp_path, capsys):
    out = _run_benchmark("crop_consistency", ["hca-compact", "--data", str(shared_data / "bids-train"),
                                              "--subjects", "sub-zuk08", "--crops", "2",
                                              "--json", str(tmp_path / "c.json")], capsys)
    assert "| bids-train:zuk | 1 | 2 |" in out and "anchored crops: changed" in out
    records = json.loads((tmp_path / "c.json").read_text())
    assert len(records) == 2 and all(r["matched"] >= 2 and 0 <= r["changed"] <= r["matched"] for r in records)
    assert all(isinstance(r["anchored"], bool) for r in records)


def test_a_cut_is_anchored_when_it_keeps_room_beyond_an_end_disc():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from crop_consistency import ANCHOR_ROOM_MM, anchored
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    lumbar = [(24, np.array([0.0, 0.0, -20.0])), (25, np.array([0.0, 0.0, -50.0]))]
    assert anchored(lumbar, None, None)                                  # the whole image
    assert anchored(lumbar, 0.0, -50.0 - ANCHOR_ROOM_MM)                 # S1's top in view
    assert not anchored(lumbar, None, -50.0 - ANCHOR_ROOM_MM + 5.0)      # L5/S1 at the lower edge
    assert not anchored(lumbar, -55.0, None)                             # L5/S1 cut away
    cervical = [(3, np.array([0.0, 0.0, 30.0])), (4, np.array([0.0, 0.0, 10.0]))]
    assert anchored(cervical, 30.0 + ANCHOR_ROOM_MM, None)               # the C2 body in view
    assert not anchored(cervical, 35.0, None)                            # C2/C3 at the upper edge
    assert not anchored([(22, np.array([0.0, 0.0, 0.0]))], None, None)   # no end disc found

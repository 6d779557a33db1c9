"""Sagittal-plane distances (world left-right axis dropped) next to the 3D ones, known answers.

A shift along world x (left-right, RAS+) must give sagittal distance 0 and 3D distance k; a
shift along world y or z must give k for both. Matching (FN/FP/identity) stays on 3D.
"""

from __future__ import annotations

import csv
import json
import math

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.evaluation.evaluate import evaluate
from hca_disc_label.evaluation.aggregation import summarise
from hca_disc_label.evaluation.matching import (
    Disc,
    evaluate_case,
    paper_protocol,
    sagittal_distance_mm,
)

PRED = "_label-discs_dlabel.nii.gz"
WORLD_AXIS = {"x": 0, "y": 1, "z": 2}

GT = [Disc(v, (1.0, 2.0, -16.0 * n)) for n, v in enumerate([3, 4, 5, 6, 7])]


def moved(discs, dx=0.0, dy=0.0, dz=0.0):
    return [Disc(d.value, (d.mm[0] + dx, d.mm[1] + dy, d.mm[2] + dz)) for d in discs]


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _all_stats(s):
    return {"paper": (s.paper_dtt, s.paper_dtt_sagittal), "label": (s.label_dtt, s.label_dtt_sagittal)}


# ------------------------------------------------------------------------------ pure metrics
def test_sagittal_distance_drops_world_x():
    a, b = Disc(3, (0.0, 0.0, 0.0)), Disc(3, (12.0, 3.0, 4.0))
    assert sagittal_distance_mm(a, b) == pytest.approx(5.0)  # hypot(3, 4); the 12 mm in x ignored
    assert sagittal_distance_mm(Disc(3, (-7.5, 1.0, 1.0)), Disc(3, (7.5, 1.0, 1.0))) == 0.0


@pytest.mark.parametrize("axis, k, sagittal", [("x", 2.5, 0.0), ("x", -6.0, 0.0), ("y", 2.5, 2.5),
                                               ("y", -6.0, 6.0), ("z", 3.0, 3.0), ("z", -1.5, 1.5)])
def test_shift_along_one_world_axis(axis, k, sagittal):
    c = evaluate_case("c", GT, moved(GT, **{f"d{axis}": k}))
    s = summarise([c])
    assert (s.paper_fnr_pct, s.paper_fpr_pct, s.identity_accuracy_pct) == (0, 0, 100)
    for name, (dtt3, sag) in _all_stats(s).items():
        assert dtt3.n == sag.n == 5, name
        assert (dtt3.mean, dtt3.median, dtt3.max) == pytest.approx((abs(k),) * 3), name
        assert (sag.mean, sag.median, sag.max) == pytest.approx((sagittal,) * 3), name
        assert dtt3.sd == pytest.approx(0.0) and sag.sd == pytest.approx(0.0)
    assert [m.distance_sagittal_mm for m in c.paper.gt] == pytest.approx([sagittal] * 5)
    assert [m.distance_sagittal_mm for m in c.label.gt] == pytest.approx([sagittal] * 5)


def test_oblique_shift_splits_into_left_right_and_sagittal_parts():
    c = evaluate_case("c", GT, moved(GT, dx=2.0, dy=3.0, dz=6.0))  # 3D 7, sagittal sqrt(45)
    for m in c.paper.gt + c.label.gt:
        assert m.distance_mm == pytest.approx(7.0) and m.distance_sagittal_mm == pytest.approx(45 ** 0.5)
    assert summarise([c]).paper_dtt_sagittal.mean == pytest.approx(45 ** 0.5)


def test_matching_stays_on_the_3d_distance():
    # 8 mm purely left-right: 0 mm in the sagittal plane, yet FN (> 7 mm) in both protocols
    c = evaluate_case("c", GT, moved(GT, dx=8.0), fn_mm=7.0, fp_mm=10.0)
    s = summarise([c])
    assert s.paper_fn == 5 and s.paper_fnr_pct == 100 and s.identity_accuracy_pct == 0
    assert s.paper_fp == 0  # 8 mm <= fp_mm 10
    assert s.paper_dtt_sagittal.n == 0 and math.isnan(s.paper_dtt_sagittal.mean)
    assert s.label_dtt_sagittal.n == 0 and s.label_dtt_sagittal.worst is None
    # the per-disc sagittal distance is still recorded for the unmatched discs
    assert [m.distance_sagittal_mm for m in c.paper.gt] == pytest.approx([0.0] * 5)
    assert [m.distance_sagittal_mm for m in c.label.gt] == pytest.approx([0.0] * 5)
    # and FP decisions are 3D as well: 11 mm left-right is an FP although 0 mm sagittally
    assert paper_protocol(GT, moved(GT, dx=11.0)).n_fp == 5


def test_nearest_prediction_is_chosen_in_3d_and_sagittal_follows_it():
    gt = [Disc(3, (0.0, 0.0, 0.0))]
    # a: 2 mm left-right + 2 mm S-I (3D 2.83, sagittal 2); b: 0 left-right, 3 mm S-I (3D 3)
    pred = [Disc(3, (2.0, 0.0, -2.0)), Disc(4, (0.0, 0.0, 3.0))]
    m = paper_protocol(gt, pred).gt[0]
    assert m.nearest_value == 3
    assert m.distance_mm == pytest.approx(8 ** 0.5) and m.distance_sagittal_mm == pytest.approx(2.0)


def test_missing_prediction_gives_nan_sagittal_distances():
    c = evaluate_case("c", GT, None)
    assert all(math.isnan(m.distance_sagittal_mm) for m in c.paper.gt + c.label.gt)
    s = summarise([c])
    assert s.paper_dtt_sagittal.n == 0 and math.isnan(s.label_dtt_sagittal.median)


def test_summary_dict_has_sagittal_stats_next_to_3d():
    s = summarise([evaluate_case("a", GT, moved(GT, dx=1.0, dz=2.0)),
                   evaluate_case("b", GT[:1], moved(GT[:1], dy=-4.0))])
    d = s.as_dict()
    for proto in ("paper", "label"):
        for stat in ("mean", "sd", "median", "max"):
            assert f"{proto}_dtt_{stat}_mm" in d and f"{proto}_dtt_sagittal_{stat}_mm" in d
    # pooled micro-average: five discs at 2 mm sagittal (sqrt 5 in 3D) and one at 4 mm
    assert d["paper_dtt_sagittal_n"] == 6
    assert d["paper_dtt_sagittal_mean_mm"] == pytest.approx((5 * 2.0 + 4.0) / 6)
    assert d["paper_dtt_mean_mm"] == pytest.approx((5 * 5 ** 0.5 + 4.0) / 6)
    assert d["paper_dtt_sagittal_max_mm"] == pytest.approx(4.0)
    assert d["paper_dtt_sagittal_worst"] == "b C2/C3"
    assert d["label_dtt_sagittal_median_mm"] == pytest.approx(2.0)
    keys = list(d)
    assert keys.index("paper_dtt_sagittal_mean_mm") == keys.index("paper_dtt_worst") + 2


# ------------------------------------------------------------- synthetic files, real affines
# (geometry, voxel axis of the shift, world axis that voxel axis maps to, k voxels)
FILE_SHIFTS = [
    ("perm-0.8", 1, "x", 4),   # 3.2 mm left-right
    ("perm-0.8", 0, "z", -5),  # flipped voxel axis -> world z
    ("perm-0.8", 2, "y", 6),
    ("ras-1", 0, "x", -3),
    ("aniso-oblique", 1, "z", 2),  # rotation is about world z, so this column stays pure z
]


@pytest.mark.parametrize("geometry, shift_axis, world_axis, k", FILE_SHIFTS)
def test_file_shift_along_world_axis(tmp_path, bids, lab, geometry, shift_axis, world_axis, k):
    affine = lab.AFFINES[geometry]
    column = affine[:3, shift_axis]
    assert np.count_nonzero(np.abs(column) > 1e-9) == 1 and abs(column[WORLD_AXIS[world_axis]]) > 0
    # stack the discs along the coarsest other voxel axis so that four of them fit the volume
    disc_axis = max((a for a in range(3) if a != shift_axis), key=lambda a: lab.voxel_size(affine, a))
    gt = lab.discs_along(affine, disc_axis)
    bids.add("sub-01_T2w", gt, affine)
    shifted = {v: tuple(c + (k if a == shift_axis else 0) for a, c in enumerate(ijk)) for v, ijk in gt.items()}
    lab.write_labels(tmp_path / "pred" / f"sub-01_T2w{PRED}", shifted, affine)
    k_mm = abs(k) * lab.voxel_size(affine, shift_axis)
    expected_sag = 0.0 if world_axis == "x" else k_mm

    result = evaluate(tmp_path / "pred", bids.root, out_dir=tmp_path / "out", plot=False)
    for name, (dtt3, sag) in _all_stats(result.overall).items():
        assert dtt3.n == sag.n == 4, name
        assert dtt3.max == pytest.approx(k_mm, abs=1e-4) and dtt3.mean == pytest.approx(k_mm, abs=1e-4)
        assert sag.max == pytest.approx(expected_sag, abs=1e-4)
        assert sag.mean == pytest.approx(expected_sag, abs=1e-4)
    rows = _read_csv(tmp_path / "out" / "per_disc.csv")
    for col, want in (("distance_mm", k_mm), ("paper_distance_mm", k_mm),
                      ("distance_sagittal_mm", expected_sag), ("paper_distance_sagittal_mm", expected_sag)):
        assert [float(r[col]) for r in rows] == pytest.approx([want] * 4, abs=1e-3), col


# ------------------------------------------------------------------------------- real data
def _translated_copy(real_bids, out, offset_mm):
    """Copy every real GT label file with its affine translated by ``offset_mm`` (world mm):
    every label moves by exactly that vector, whatever the (possibly oblique) voxel axes."""
    n = 0
    for path in sorted((real_bids / "derivatives" / "labels").glob(f"sub-*/anat/*{PRED}")):
        img = nib.load(str(path))
        affine = img.affine.copy()
        affine[:3, 3] += offset_mm
        out.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine, img.header), str(out / path.name))
        np.testing.assert_allclose(nib.load(str(out / path.name)).affine, affine, atol=1e-4)
        n += 1
    return n


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_real_labels_translated_along_world_axis(tmp_path, real_bids, axis):
    k = 2.5
    offset = np.zeros(3)
    offset[WORLD_AXIS[axis]] = k
    assert _translated_copy(real_bids, tmp_path / "moved", offset) == 8
    expected_sag = 0.0 if axis == "x" else k
    out = tmp_path / "out"
    result = evaluate(tmp_path / "moved", real_bids, out_dir=out, method="moved", plot=False)
    s = result.overall
    assert s.n_gt == 53 and (s.paper_fnr_pct, s.paper_fpr_pct, s.identity_accuracy_pct) == (0, 0, 100)
    for case in result.cases:
        for m in case.metrics.paper.gt + case.metrics.label.gt:
            assert m.distance_mm == pytest.approx(k, abs=1e-4), case.case
            assert m.distance_sagittal_mm == pytest.approx(expected_sag, abs=1e-4), case.case
    for name, (dtt3, sag) in _all_stats(s).items():
        assert dtt3.n == sag.n == 53
        assert (dtt3.mean, dtt3.median, dtt3.max) == pytest.approx((k,) * 3, abs=1e-4), name
        assert (sag.mean, sag.median, sag.max) == pytest.approx((expected_sag,) * 3, abs=1e-4), name

    rows = [r for r in _read_csv(out / "per_disc.csv") if r["in_gt"] == "1"]
    assert len(rows) == 53
    assert [float(r["distance_sagittal_mm"]) for r in rows] == pytest.approx([expected_sag] * 53, abs=1e-3)
    assert [float(r["paper_distance_sagittal_mm"]) for r in rows] == pytest.approx([expected_sag] * 53, abs=1e-3)
    assert [float(r["paper_distance_mm"]) for r in rows] == pytest.approx([k] * 53, abs=1e-3)
    data = json.loads((out / "summary.json").read_text())
    for group in [data["overall"]] + list(data["by_contrast"].values()):
        assert group["paper_dtt_mean_mm"] == pytest.approx(k, abs=1e-3)
        assert group["paper_dtt_sagittal_mean_mm"] == pytest.approx(expected_sag, abs=1e-3)
        assert group["label_dtt_sagittal_max_mm"] == pytest.approx(expected_sag, abs=1e-3)
    assert "paper_dtt_sagittal_median_mm" in data["cases"][0]
    md = (out / "summary.md").read_text()
    sag_cell = f"{expected_sag:.2f} (±0.00)"
    assert f"| moved | {k:.2f} (±0.00) | {sag_cell} | 0.00 | 0.00 | {k:.2f} (±0.00) | {sag_cell} |" in md
    assert "median sag. mm" in md and "**Two distances.**" in md and "hypot(dy, dz)" in md

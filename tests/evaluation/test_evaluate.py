"""``evaluate()`` on label files with known answers: synthetic geometries and the real dataset.

Synthetic labels use permuted/flipped, 0.8 mm, anisotropic and oblique affines so that a
distance in voxels is never the distance in mm: every expected value below is worked out in mm.
"""

from __future__ import annotations

import csv
import json
import logging

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.evaluation.evaluate import evaluate
from hca_disc_label.evaluation.writers import per_disc_rows

PRED = "_label-discs_dlabel.nii.gz"


def _pred_path(folder, stem):
    return folder / f"{stem}{PRED}"


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# (geometry, voxel axis along which the discs are stacked, voxel axis of the shift, k voxels)
SHIFTS = [
    ("perm-0.8", 0, 0, 3),
    ("perm-0.8", 0, 2, 5),
    ("aniso-oblique", 1, 2, 2),
    ("aniso-oblique", 1, 0, 7),
    ("ras-1", 2, 1, -4),
]


@pytest.mark.parametrize("geometry, disc_axis, shift_axis, k", SHIFTS)
def test_shift_by_k_voxels_gives_k_times_spacing(tmp_path, bids, lab, geometry, disc_axis, shift_axis, k):
    affine = lab.AFFINES[geometry]
    gt = lab.discs_along(affine, disc_axis)
    bids.add("sub-01_T2w", gt, affine)
    shifted = {v: tuple(int(c) + (k if a == shift_axis else 0) for a, c in enumerate(ijk)) for v, ijk in gt.items()}
    lab.write_labels(_pred_path(tmp_path / "pred", "sub-01_T2w"), shifted, affine)
    expected = abs(k) * lab.voxel_size(affine, shift_axis)
    if geometry != "ras-1":  # mm really differ from voxels
        assert expected != pytest.approx(abs(k))

    result = evaluate(tmp_path / "pred", bids.root)
    s = result.overall
    assert s.paper_dtt.n == 4 and s.label_dtt.n == 4
    for stats in (s.paper_dtt, s.label_dtt):
        assert stats.mean == pytest.approx(expected, abs=1e-4)
        assert stats.max == pytest.approx(expected, abs=1e-4)
        assert stats.sd == pytest.approx(0.0, abs=1e-4)
    assert s.paper_fnr_pct == 0 and s.paper_fpr_pct == 0 and s.identity_accuracy_pct == 100
    rows = per_disc_rows(result)
    assert [r["distance_mm"] for r in rows] == pytest.approx([expected] * 4, abs=1e-4)


def test_self_and_other_grid_are_zero_mm(tmp_path, bids, lab):
    """A prediction written on a different voxel grid (permuted, flipped) at the same world
    points is a perfect prediction: only world mm count."""
    affine = lab.AFFINES["aniso-oblique"]
    shape = lab.SHAPE
    gt = lab.discs_along(affine, 1)
    bids.add("sub-01_T2w", gt, affine)
    # new voxel (a, b, c) = old (c, shape0-1-a, b): build the matching affine
    perm, flips = (2, 0, 1), (1, -1, 1)
    m = np.zeros((4, 4))
    m[3, 3] = 1
    new_shape = tuple(shape[p] for p in perm)
    for new_axis, (old_axis, flip) in enumerate(zip(perm, flips)):
        m[old_axis, new_axis] = flip
        if flip < 0:
            m[old_axis, 3] = shape[old_axis] - 1
    other_affine = affine @ m
    old_of_new = {v: np.asarray(ijk) for v, ijk in gt.items()}
    inv = np.linalg.inv(m)
    regridded = {v: tuple(int(round(c)) for c in (inv @ np.r_[ijk, 1])[:3]) for v, ijk in old_of_new.items()}
    lab.write_labels(_pred_path(tmp_path / "pred", "sub-01_T2w"), regridded, other_affine, new_shape)
    for v in gt:  # the two files really put the discs at the same world points
        np.testing.assert_allclose(lab.world(affine, gt[v]), lab.world(other_affine, regridded[v]), atol=1e-9)
    assert regridded != gt

    for pred_root in (tmp_path / "pred", bids.root):
        s = evaluate(pred_root, bids.root).overall
        assert s.paper_dtt.max == pytest.approx(0.0, abs=1e-4)
        assert (s.paper_fnr_pct, s.paper_fpr_pct, s.identity_accuracy_pct) == (0, 0, 100)


def test_relabelled_removed_extra_and_missing(tmp_path, bids, lab, caplog):
    affine = lab.AFFINES["perm-0.8"]
    gt = lab.discs_along(affine, 0, values=(3, 4, 5, 6, 7))
    n = len(gt)
    for stem in ("sub-a_T2w", "sub-b_T2w", "sub-c_T2w", "sub-d_T1w"):
        bids.add(stem, gt, affine)
    pred = tmp_path / "pred"
    # a: every value +1 at the same voxels
    lab.write_labels(_pred_path(pred, "sub-a_T2w"), {v + 1: ijk for v, ijk in gt.items()}, affine)
    # b: disc 5 removed
    lab.write_labels(_pred_path(pred, "sub-b_T2w"), {v: ijk for v, ijk in gt.items() if v != 5}, affine)
    # c: one extra disc (value 9) far from every GT disc
    extra = dict(gt)
    last = gt[7]
    extra[9] = (last[0], last[1] + 25, last[2])  # 25 voxels * 0.8 mm = 20 mm from disc 7
    lab.write_labels(_pred_path(pred, "sub-c_T2w"), extra, affine)
    # d: no prediction file at all
    with caplog.at_level(logging.WARNING):
        result = evaluate(pred, bids.root, out_dir=tmp_path / "out")
    assert "sub-d_T1w: no prediction file" in caplog.text

    a = result.summary(subject="sub-a")
    assert a.paper_dtt.max == pytest.approx(0.0) and a.paper_fn == 0 and a.paper_fp == 0
    assert a.identity_accuracy_pct == 0 and a.label_mislabelled == n
    assert a.label_fp_unannotated_range == 1  # value 8 lies outside the annotated 3..7

    b = result.summary(subject="sub-b")
    assert b.paper_fn == 1 and b.paper_fnr_pct == pytest.approx(100 / n) and b.paper_fp == 0
    assert b.label_missed == 1 and b.identity_accuracy_pct == pytest.approx(100 * (n - 1) / n)

    c = result.summary(subject="sub-c")
    assert c.paper_fp == 1 and c.paper_fpr_pct == pytest.approx(100 / n) and c.paper_fn == 0
    assert c.label_fp_unannotated_range == 1 and c.identity_accuracy_pct == 100

    d = result.summary(subject="sub-d")
    assert d.n_pred_missing == 1 and d.paper_fnr_pct == 100 and d.label_missed == n
    assert result.missing_predictions == ["sub-d_T1w"]

    # pooled: T2 has 3 cases (15 GT discs), T1 is the missing one
    t2 = result.summary(contrast="T2")
    assert t2.n_gt == 3 * n and t2.paper_fn == 1 and t2.paper_fp == 1
    per_case = {r["case"]: r for r in _read_csv(tmp_path / "out" / "per_case.csv")}
    assert per_case["sub-d_T1w"]["pred_missing"] == "1" and per_case["sub-d_T1w"]["pred_file"] == ""
    assert float(per_case["sub-b_T2w"]["paper_fnr_pct"]) == pytest.approx(20.0)
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "## Missing predictions" in md and "- sub-d_T1w" in md
    # T1 column: every GT disc missed
    assert "| pred | n/a | n/a | 100.00 | 0.00 |" in md


def test_duplicate_voxels_use_centroid(tmp_path, bids, lab, caplog):
    affine = lab.AFFINES["perm-0.8"]
    gt = lab.discs_along(affine, 0)
    bids.add("sub-01_T2w", gt, affine)
    i, j, k = gt[4]
    points = [(v, ijk) for v, ijk in gt.items() if v != 4] + [(4, (i, j, k - 1)), (4, (i, j, k + 3))]
    lab.write_labels(_pred_path(tmp_path / "pred", "sub-01_T2w"), points, affine)
    with caplog.at_level(logging.WARNING):
        result = evaluate(tmp_path / "pred", bids.root)
    assert "centroid" in caplog.text
    row = next(r for r in per_disc_rows(result) if r["value"] == 4)
    assert row["distance_mm"] == pytest.approx(1 * lab.voxel_size(affine, 2))  # centroid k+1


def test_orphan_predictions_reported_not_evaluated(tmp_path, bids, lab):
    affine = lab.AFFINES["ras-1"]
    gt = lab.discs_along(affine, 2)
    bids.add("sub-01_T2w", gt, affine)
    lab.write_labels(_pred_path(tmp_path / "pred", "sub-01_T2w"), gt, affine)
    lab.write_labels(_pred_path(tmp_path / "pred", "sub-02_T2w"), gt, affine)
    result = evaluate(tmp_path / "pred", bids.root, out_dir=tmp_path / "out", method="m")
    assert [c.case for c in result.cases] == ["sub-01_T2w"]
    assert [p.stem for p in result.orphan_predictions] == ["sub-02_T2w"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["predictions_without_ground_truth"][0].endswith("sub-02_T2w" + PRED)


def test_all_outputs_written(tmp_path, bids, lab):
    affine = lab.AFFINES["aniso-oblique"]
    gt = lab.discs_along(affine, 1)
    bids.add("sub-01_T1w", gt, affine)
    bids.add("sub-01_T2w", gt, affine)
    shifted = {v: (ijk[0], ijk[1], ijk[2] + 1) for v, ijk in gt.items()}  # 3 mm
    lab.write_labels(_pred_path(tmp_path / "pred", "sub-01_T1w"), gt, affine)
    lab.write_labels(_pred_path(tmp_path / "pred", "sub-01_T2w"), shifted, affine)
    out = tmp_path / "out"
    result = evaluate(tmp_path / "pred", bids.root, out_dir=out, method="mine")
    assert set(result.files) == {"per_disc", "per_case", "summary_md", "summary_json", "plot"}
    for path in result.files.values():
        assert path.parent == out and path.stat().st_size > 0
    assert (out / "error_per_level.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "summary.md").read_text()
    assert ("| method | T1 DTT mm | T1 DTT sag. mm | T1 FNR % | T1 FPR % "
            "| T2 DTT mm | T2 DTT sag. mm | T2 FNR % | T2 FPR % |") in md
    # the 3 mm voxel step is rotated 20 degrees about world z: dx = 3 cos 20, dy = 3 sin 20,
    # so only 3 sin 20 = 1.03 mm of it lies in the sagittal plane
    assert ("| mine | 0.00 (±0.00) | 0.00 (±0.00) | 0.00 | 0.00 "
            "| 3.00 (±0.00) | 1.03 (±0.00) | 0.00 | 0.00 |") in md
    assert "divided by the number of GT discs" in md
    rows = _read_csv(out / "per_disc.csv")
    assert len(rows) == 8 and {"gt_x_mm", "pred_z_mm", "paper_fp", "label_fn"} <= set(rows[0])
    t1 = [r for r in rows if r["contrast"] == "T1"]
    expect = lab.world(affine, gt[3])
    assert [float(t1[0][f"gt_{a}_mm"]) for a in "xyz"] == pytest.approx(expect, abs=1e-3)
    text = (out / "summary.json").read_text()
    assert "NaN" not in text
    data = json.loads(text)
    assert data["by_contrast"]["T2"]["paper_dtt_mean_mm"] == pytest.approx(3.0)
    sag = 3.0 * np.sin(np.deg2rad(20.0))
    assert data["by_contrast"]["T2"]["paper_dtt_sagittal_mean_mm"] == pytest.approx(sag, abs=1e-4)
    assert data["by_contrast"]["T2"]["label_dtt_sagittal_median_mm"] == pytest.approx(sag, abs=1e-4)
    assert data["thresholds_mm"] == {"fn": 7.0, "fp": 10.0}
    assert data["overall"]["n_gt"] == 8


def test_thresholds_are_configurable(tmp_path, bids, lab):
    affine = lab.AFFINES["aniso-oblique"]
    gt = lab.discs_along(affine, 1)
    bids.add("sub-01_T2w", gt, affine)
    shifted = {v: (ijk[0], ijk[1], ijk[2] + 1) for v, ijk in gt.items()}  # 3 mm off
    lab.write_labels(_pred_path(tmp_path / "pred", "sub-01_T2w"), shifted, affine)
    strict = evaluate(tmp_path / "pred", bids.root, fn_mm=2.5, fp_mm=2.9).overall
    assert strict.paper_fnr_pct == 100 and strict.paper_fpr_pct == 100
    assert strict.identity_accuracy_pct == 0
    with pytest.raises(ValueError):
        evaluate(tmp_path / "pred", bids.root, fn_mm=-1)


# ------------------------------------------------------------------------------- real data
def _copy_labels(real_bids, out, transform):
    """Write transformed copies of every real GT label file into a flat folder."""
    expected = {}
    for path in sorted((real_bids / "derivatives" / "labels").glob("sub-*/anat/*_label-discs_dlabel.nii.gz")):
        img = nib.load(str(path))
        data = np.asarray(img.dataobj)
        new, info = transform(data, img)
        out.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(new, img.affine, img.header), str(out / path.name))
        expected[path.name[: -len(PRED)]] = info
    return expected


def test_real_dataset_against_itself(real_bids):
    result = evaluate(real_bids, real_bids, method="self")
    s = result.overall
    assert s.n_cases == 8 and s.n_gt == 53
    assert s.paper_dtt.max == 0 and s.label_dtt.max == 0
    assert s.paper_dtt_sagittal.max == 0 and s.label_dtt_sagittal.max == 0
    assert s.paper_dtt_sagittal.n == s.label_dtt_sagittal.n == 53
    assert (s.paper_fnr_pct, s.paper_fpr_pct, s.identity_accuracy_pct) == (0, 0, 100)
    assert result.contrasts() == ["T1", "T2"]


def test_real_labels_shifted_by_two_voxels(tmp_path, real_bids):
    k = 2

    def shift(data, img):
        nz = np.argwhere(data)
        axis = 0
        step = k if nz[:, axis].max() + k < data.shape[axis] else -k
        new = np.zeros_like(data)
        for ijk in nz:
            dst = ijk.copy()
            dst[axis] += step
            new[tuple(dst)] = data[tuple(ijk)]
        return new, k * float(np.linalg.norm(img.affine[:3, axis]))

    expected = _copy_labels(real_bids, tmp_path / "shifted", shift)
    result = evaluate(tmp_path / "shifted", real_bids)
    assert len(result.cases) == 8
    for case in result.cases:
        dists = [m.distance_mm for m in case.metrics.paper.gt]
        assert dists == pytest.approx([expected[case.case]] * len(dists), abs=1e-5), case.case
        assert [m.distance_mm for m in case.metrics.label.gt] == pytest.approx(dists, abs=1e-5)
    assert result.overall.identity_accuracy_pct == 100


def test_real_labels_relabelled(tmp_path, real_bids):
    def relabel(data, img):
        # +1, or -1 where +1 would leave the disc range (the lumbar GT ends at 25 = L5/S1)
        step = 1 if data.max() < 25 else -1
        new = np.where(data > 0, data + step, 0).astype(data.dtype)
        return new, step

    _copy_labels(real_bids, tmp_path / "relabelled", relabel)
    result = evaluate(tmp_path / "relabelled", real_bids)
    s = result.overall
    assert s.n_gt == 53 and s.identity_accuracy_pct == 0 and s.label_mislabelled == 53
    assert s.paper_dtt.max == pytest.approx(0.0) and s.paper_fnr_pct == 0 and s.paper_fpr_pct == 0
    # one value per case falls outside the annotated range
    assert s.label_fp_unannotated_range == 8 and s.label_fp_inside_range == 0

"""Selective accuracy of the numbering status: hand-made cases with known answers."""

from __future__ import annotations

import json
import math

import pytest

from hca_disc_label.evaluation.evaluate import evaluate, read_numbering
from hca_disc_label.evaluation.aggregation import NumberedCase, reliability_bins, selective_accuracy

PRED = "_label-discs_dlabel"


def _case(name, status, conf, n_gt, n_correct, wrong):
    return NumberedCase(name, status, conf, n_gt, n_correct, wrong)


def test_selective_accuracy_counts():
    cases = [
        _case("a", "ok", 0.99, 5, 5, False),
        _case("b", "ok", 0.97, 4, 3, False),     # a disc missed, no wrong value
        _case("c", "check", 0.40, 5, 0, True),    # numbered one level off, flagged
        _case("d", "ok", 0.96, 5, 0, True),       # wrong and not flagged
        _case("e", "check", 0.60, 6, 6, False),   # right but flagged
        _case("f", None, math.nan, 3, 3, False),  # no Numbering block: ignored
    ]
    s = selective_accuracy(cases)
    assert (s.n_images, s.n_ok, s.n_check, s.n_without_status) == (5, 3, 2, 1)
    assert s.coverage == pytest.approx(3 / 5)
    assert (s.gt_ok, s.correct_ok) == (14, 8) and s.identity_ok_pct == pytest.approx(100 * 8 / 14)
    assert (s.gt_check, s.correct_check) == (11, 6) and s.identity_check_pct == pytest.approx(100 * 6 / 11)
    assert (s.wrong_images, s.wrong_flagged) == (2, 1)
    assert s.check_cases == ("c", "e")
    assert json.dumps(s.as_dict())  # JSON-ready


def test_selective_accuracy_of_nothing_is_nan():
    s = selective_accuracy([])
    assert s.n_images == 0 and math.isnan(s.coverage) and math.isnan(s.identity_ok_pct)


def test_reliability_bins():
    conf = [0.05, 0.15, 0.12, 0.95, 1.0, 0.91, math.nan]
    right = [False, True, False, True, True, False, True]
    bins = reliability_bins(conf, right, bins=10)
    assert len(bins) == 10
    lo, hi, n, mean, acc = bins[0]
    assert (lo, hi, n, acc) == (0.0, 0.1, 1, 0.0)
    assert bins[1][2] == 2 and bins[1][3] == pytest.approx(0.135) and bins[1][4] == pytest.approx(0.5)
    assert bins[9][2] == 3 and bins[9][4] == pytest.approx(2 / 3)  # 1.0 falls in the last bin
    assert bins[5][2] == 0 and math.isnan(bins[5][3])


def _sidecar(path, status, conf, thr=0.9):
    side = path.with_name(path.name.replace(".nii.gz", ".json"))
    side.write_text(json.dumps({"Numbering": {"confidence": conf, "status": status, "threshold": thr,
                                              "alternative": {"offset": 1, "confidence": 1 - conf},
                                              "anchors": [], "source": "network"}}))


def test_evaluate_reads_the_numbering_status_and_reports_it(tmp_path, bids, lab):
    affine = lab.AFFINES["ras-1"]
    gt = lab.discs_along(affine, 2, values=(3, 4, 5, 6))
    for stem in ("sub-a_T2w", "sub-b_T2w", "sub-c_T2w", "sub-d_T2w"):
        bids.add(stem, gt, affine)
    pred = tmp_path / "pred"
    right = {v: ijk for v, ijk in gt.items()}
    shifted = {v + 1: ijk for v, ijk in gt.items()}
    cases = {"sub-a_T2w": (right, "ok", 0.99), "sub-b_T2w": (shifted, "check", 0.3),
             "sub-c_T2w": (right, "check", 0.8), "sub-d_T2w": (shifted, "ok", 0.95)}
    for stem, (points, status, conf) in cases.items():
        path = lab.write_labels(pred / f"{stem}{PRED}.nii.gz", points, affine)
        _sidecar(path, status, conf)
    assert read_numbering(pred / f"sub-a_T2w{PRED}.nii.gz")["status"] == "ok"
    assert read_numbering(tmp_path / "nothing.nii.gz") is None
    result = evaluate(pred, bids.root, out_dir=tmp_path / "out")
    s = result.selective()
    assert (s.n_ok, s.n_check, s.coverage) == (2, 2, 0.5)
    assert s.identity_ok_pct == pytest.approx(50.0)       # a 4/4, d 0/4
    assert s.identity_check_pct == pytest.approx(50.0)    # b 0/4, c 4/4
    assert (s.wrong_images, s.wrong_flagged) == (2, 1)
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "## Numbering confidence (selective accuracy)" in md
    assert "`check` images: sub-b_T2w, sub-c_T2w" in md
    assert "| 4 | 2 | 2 | 50.0 | 50.0 (4/8) | 50.0 (4/8) | 2 | 1 |" in md
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["numbering"]["selective"]["n_check"] == 2
    assert sum(b["images"] for b in summary["numbering"]["reliability"]) == 4
    assert (tmp_path / "out" / "numbering_reliability.png").stat().st_size > 1000
    rows = (tmp_path / "out" / "per_case.csv").read_text().splitlines()
    assert "numbering_status" in rows[0] and any(",check," in r for r in rows[1:])


def test_evaluate_without_numbering_has_no_section(tmp_path, bids, lab):
    affine = lab.AFFINES["ras-1"]
    gt = lab.discs_along(affine, 2, values=(3, 4, 5))
    bids.add("sub-a_T2w", gt, affine)
    lab.write_labels(tmp_path / "pred" / f"sub-a_T2w{PRED}.nii.gz", gt, affine)
    result = evaluate(tmp_path / "pred", bids.root, out_dir=tmp_path / "out", plot=False)
    assert not result.has_numbering()
    assert "Numbering confidence" not in (tmp_path / "out" / "summary.md").read_text()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["numbering"] is None


def test_printed_tables_include_the_numbering_status(tmp_path, bids, lab):
    affine = lab.AFFINES["ras-1"]
    gt = lab.discs_along(affine, 2, values=(3, 4, 5))
    bids.add("sub-a_T2w", gt, affine)
    path = lab.write_labels(tmp_path / "pred" / f"sub-a_T2w{PRED}.nii.gz", gt, affine)
    _sidecar(path, "check", 0.5)
    text = evaluate(tmp_path / "pred", bids.root, plot=False).tables_markdown()
    assert "Numbering status (selective accuracy; check: sub-a_T2w)" in text and "Reliability" in text

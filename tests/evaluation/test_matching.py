"""evaluation.matching: both protocols on hand-made discs in world mm, with answers worked out by hand."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import pytest

from hca_disc_label.evaluation.aggregation import summarise
from hca_disc_label.evaluation.matching import (
    Disc,
    discs_from_points,
    evaluate_case,
    label_aware_protocol,
    paper_protocol,
)
from tests.evaluation.helpers import GT, moved


def test_identical_is_perfect():
    c = evaluate_case("c", GT, GT)
    s = summarise([c])
    assert s.paper_dtt.mean == 0 and s.paper_dtt.max == 0
    assert s.paper_fnr_pct == 0 and s.paper_fpr_pct == 0
    assert s.identity_accuracy_pct == 100 and s.label_dtt.n == 5
    assert s.label_fp_inside_range == s.label_fp_unannotated_range == 0


def test_translation_gives_its_euclidean_length():
    c = evaluate_case("c", GT, moved(GT, dx=3.0, dy=4.0))  # 3-4-5 triangle
    s = summarise([c])
    assert s.paper_dtt.mean == pytest.approx(5.0) and s.paper_dtt.sd == pytest.approx(0.0)
    assert s.label_dtt.median == pytest.approx(5.0)
    assert s.identity_accuracy_pct == 100


def test_threshold_is_inclusive_and_euclidean():
    # exactly fn_mm away: matched; a hair further: FN (and also FP since fp_mm is smaller here)
    at = paper_protocol(GT[:1], moved(GT[:1], dx=7.0), fn_mm=7.0, fp_mm=10.0)
    assert at.n_fn == 0
    beyond = paper_protocol(GT[:1], moved(GT[:1], dx=4.0, dy=5.75), fn_mm=7.0, fp_mm=7.0)
    assert beyond.n_fn == 1 and beyond.n_fp == 1  # sqrt(16 + 33.06) = 7.004 mm


def test_relabelled_prediction_is_identity_free_perfect_but_label_aware_wrong():
    pred = [Disc(d.value + 1, d.mm) for d in GT]  # 4..8 at the positions of 3..7
    c = evaluate_case("c", GT, pred)
    s = summarise([c])
    assert s.paper_dtt.max == 0 and s.paper_fnr_pct == 0 and s.paper_fpr_pct == 0
    assert s.identity_accuracy_pct == 0
    assert s.label_mislabelled == 5 and s.label_missed == 0
    assert [m.mislabelled_as for m in c.label.gt] == [4, 5, 6, 7, 8]
    # value 8 is absent from the GT (3..7) and outside its range; 4..7 exist but 16 mm off
    assert s.label_fp_unannotated_range == 1 and s.label_fp_inside_range == 0
    assert s.label_misplaced == 4
    assert s.label_fpr_pct == pytest.approx(20.0)
    # the same-value distance is still recorded (16 mm), but is not a DTT sample
    assert [m.distance_mm for m in c.label.gt][1:] == pytest.approx([16.0] * 4)
    assert s.label_dtt.n == 0 and math.isnan(s.label_dtt.mean)


def test_removed_disc_is_one_fn_over_n():
    pred = [d for d in GT if d.value != 5]
    s = summarise([evaluate_case("c", GT, pred)])
    assert s.paper_fn == 1 and s.paper_fnr_pct == pytest.approx(100 / 5)
    assert s.paper_fp == 0
    assert s.label_missed == 1 and s.identity_accuracy_pct == pytest.approx(80.0)


def test_extra_far_disc_is_one_fp_over_n_and_classified_by_range():
    far_below = Disc(8, (1.0, 2.0, -64.0 - 30.0))  # 30 mm below the last GT disc
    s = summarise([evaluate_case("c", GT, GT + [far_below])])
    assert s.paper_fp == 1 and s.paper_fpr_pct == pytest.approx(100 / 5)
    assert s.paper_fnr_pct == 0
    assert s.label_fp_unannotated_range == 1 and s.label_fp_inside_range == 0
    # a GT with a gap: a predicted 5 between 4 and 6 is an inside-range FP
    gappy = [d for d in GT if d.value != 5]
    c = evaluate_case("c", gappy, gappy + [Disc(5, (1.0, 2.0, -32.0))])
    assert [p.status for p in c.label.pred if p.value == 5] == ["fp_inside_range"]
    # ...and it lies 16 mm from the nearest GT disc: a paper FP too
    assert c.paper.n_fp == 1


def test_extra_close_disc_is_not_a_paper_fp():
    near = Disc(9, (1.0, 2.0, -64.0 - 8.0))  # 8 mm from disc 7, under fp_mm = 10
    c = evaluate_case("c", GT, GT + [near])
    assert c.paper.n_fp == 0
    assert [p.status for p in c.label.pred if p.value == 9] == ["fp_unannotated_range"]


def test_one_prediction_may_serve_two_gt_discs_in_the_paper_protocol():
    gt = [Disc(3, (0.0, 0.0, 0.0)), Disc(4, (0.0, 0.0, -6.0))]
    pred = [Disc(3, (0.0, 0.0, -3.0))]
    c = paper_protocol(gt, pred)
    assert [m.matched for m in c.gt] == [True, True]
    assert [m.distance_mm for m in c.gt] == pytest.approx([3.0, 3.0])
    label = label_aware_protocol(gt, pred)
    assert [m.status for m in label.gt] == ["correct", "mislabelled"]


def test_missing_prediction_file_is_all_fn():
    c = evaluate_case("c", GT, None)
    s = summarise([c])
    assert c.pred_missing and s.n_pred_missing == 1
    assert s.paper_fnr_pct == 100 and s.paper_fpr_pct == 0
    assert s.identity_accuracy_pct == 0 and s.label_missed == 5
    assert math.isnan(s.paper_dtt.mean)


def test_empty_ground_truth_gives_nan_rates_not_division_errors():
    c = evaluate_case("c", [], GT)
    s = summarise([c])
    assert s.paper_fp == 5 and math.isnan(s.paper_fpr_pct)
    assert s.label_fp_unannotated_range == 5


def test_discs_from_points_centroid_and_non_disc_values(caplog):
    pts = [SimpleNamespace(value=4, mm=(0.0, 0.0, 0.0)), SimpleNamespace(value=4, mm=(2.0, 0.0, -4.0)),
           SimpleNamespace(value=50, mm=(9.0, 9.0, 9.0)), SimpleNamespace(value=3, mm=(1.0, 1.0, 1.0))]
    with caplog.at_level(logging.WARNING):
        discs = discs_from_points(pts, source="x.nii.gz")
    assert [d.value for d in discs] == [3, 4]
    assert discs[1].mm == pytest.approx((1.0, 0.0, -2.0))
    assert "centroid" in caplog.text and "50" in caplog.text


def test_bad_thresholds_rejected():
    with pytest.raises(ValueError):
        evaluate_case("c", GT, GT, fn_mm=0)

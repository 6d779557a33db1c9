"""Numbering confidence: features from the decoder's evidence, calibration, status, hint text."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hca_disc_label.conventions import DISC_VALUES, TYPICAL_LEVEL_SPACING_MM
from hca_disc_label.inference import calibration as cal_mod
from hca_disc_label.inference import numbering as nb
from hca_disc_label.inference.assign import score_labelling
from hca_disc_label.inference.decode import Anchor, decode_details, decode_heatmaps
from hca_disc_label.inference.heatmaps import model_to_heatmap, render_heatmaps

VALUES = list(DISC_VALUES)
STRIDE, SPACING, SIGMA = 2, 1.0, 1.5


def _positions(values, start_row=30.0, col=40.0):
    """Model-frame (row, col) of consecutive discs at the typical level spacing."""
    rows, r = {}, start_row
    for v in values:
        rows[v] = (r, col)
        r += TYPICAL_LEVEL_SPACING_MM.get(v, 30.0)
    return rows


def _maps(channel_points: dict[int, list[tuple[tuple[float, float], float]]], shape):
    """Heatmaps with ``channel value -> [(position, amplitude), ...]`` Gaussian peaks."""
    maps = np.zeros((len(VALUES),) + tuple(shape), dtype=np.float32)
    for v, items in channel_points.items():
        for p, amp in items:
            one = render_heatmaps({v: tuple(model_to_heatmap(p, STRIDE))}, VALUES, shape, SIGMA)
            maps = np.maximum(maps, amp * one)
    return maps


def _clean(values, amp=0.95, extra_rows=60):
    pts = _positions(values)
    height = int(max(r for r, _ in pts.values()) + extra_rows)
    shape = (height // STRIDE + 1, 48)
    return _maps({v: [(p, amp)] for v, p in pts.items()}, shape), (height, 96)


def _split(values, right=0.62, wrong=0.6):
    """Every disc fires its own channel (``right``) and the channel one level below (``wrong``)."""
    pts = _positions(values)
    height = int(max(r for r, _ in pts.values()) + 20)
    shape = (height // STRIDE + 1, 48)
    ch: dict[int, list] = {}
    for v, p in pts.items():
        ch.setdefault(v, []).append((p, right))
        ch.setdefault(v + 1, []).append((p, wrong))
    return _maps(ch, shape), (height, 96), pts


def _decoding(maps, valid, anchors=()):
    return decode_details(maps, VALUES, STRIDE, SPACING, valid_shape=valid, anchors=anchors)


@pytest.fixture(scope="module")
def calibration():
    from hca_disc_label.inference.labeller import model_calibration
    from hca_disc_label.weights.resolve import resolve_model

    cal = model_calibration(resolve_model("hca-compact"))
    assert cal is not cal_mod.UNCALIBRATED, "the default model ships a numbering calibration"
    return cal


def test_decode_details_matches_decode_heatmaps_and_scores_its_own_path():
    maps, valid = _clean(range(3, 12))
    dec = _decoding(maps, valid)
    assert [(d.value, d.row) for d in dec.discs] == [
        (d.value, d.row) for d in decode_heatmaps(maps, VALUES, STRIDE, SPACING, valid_shape=valid)]
    best = dec.score(dec.path)
    assert np.isfinite(best)
    # the chosen labelling is the DP optimum: a one-level shift never scores higher
    for offset in (-1, 1):
        path, _ = nb.shifted_path(dec, offset)
        assert score_labelling(dec.positions, dec.evidence, VALUES, SPACING, path) <= best + 1e-9
    # values that do not increase break a hard rule
    bad = [(dec.path[1][0], dec.path[0][1]), (dec.path[0][0], dec.path[1][1])]
    assert score_labelling(dec.positions, dec.evidence, VALUES, SPACING, sorted(bad)) == float("-inf")


def test_shifted_path_drops_values_beyond_the_channels():
    maps, valid = _clean(range(20, 26))
    dec = _decoding(maps, valid)
    path, dropped = nb.shifted_path(dec, +1)
    assert len(path) == len(dec.path) - 1 and len(dropped) == 1  # "L5/S1" would be S1/S2
    assert [VALUES[k] for _, k in path] == list(range(21, 26))


def test_clean_spine_is_confident_and_ok(calibration):
    maps, valid = _clean(range(3, 26))
    dec = _decoding(maps, valid)
    assert [d.value for d in dec.discs] == list(range(3, 26))
    num = nb.assess_numbering(dec, calibration)
    assert num.confidence > 0.97 and num.status == "ok"
    assert num.source == "network" and num.threshold == calibration.threshold
    assert {a["end"] for a in num.anchors if a["kind"] == "junction"} == {"top", "bottom"}
    assert num.alt_confidence < 0.05


def test_evidence_split_between_two_numberings_is_doubtful_with_the_right_alternative(calibration):
    maps, valid, _ = _split(range(18, 24))
    dec = _decoding(maps, valid)
    chosen = [d.value for d in dec.discs]
    assert chosen == list(range(18, 24))  # own channel slightly stronger
    ev = nb.numbering_features(dec)
    assert ev.alt_offset == +1  # the other reading: every disc one level lower
    assert abs(ev.features["margin"]) < 1.0
    num = nb.assess_numbering(dec, calibration)
    # well under the shipped model's cut (under 0.7 with 0.3.0's calibration; 0.74 with 0.4.0's, cut 0.93)
    assert num.confidence < calibration.threshold - 0.15 and num.status == "check"
    assert num.alt_offset == +1 and num.alt_confidence > 0.2
    assert num.confidence + num.alt_confidence <= 1.0 + 1e-9
    # the question is about the lowest disc (lumbar image: the sacrum decides)
    assert num.doubt() == "is the lowest disc L3/L4 or L4/L5?"


def test_hint_forces_ok_and_says_so(calibration):
    maps, valid, pts = _split(range(18, 24))
    row = pts[23][0]
    dec = _decoding(maps, valid, anchors=[Anchor(24, row)])
    assert dec.discs[-1].value == 24 and dec.fixed
    hints = [{"source": "-initz", "slice": 12, "value": 24}]
    num = nb.assess_numbering(dec, calibration, hints=hints)
    assert num.status == "ok" and num.confidence == 1.0 and num.source == "hint"
    assert num.anchors[0] == {"kind": "hint", "source": "-initz", "slice": 12, "value": 24}
    block = num.to_json()
    assert block["source"] == "hint" and block["status"] == "ok"


def test_threshold_override_sets_the_status(calibration):
    maps, valid = _clean(range(3, 26))
    dec = _decoding(maps, valid)
    assert nb.assess_numbering(dec, calibration, threshold=0.999999).status == "check"
    assert nb.assess_numbering(dec, calibration, threshold=0.0).status == "ok"


def test_block_schema_and_warning_line(calibration):
    maps, valid, _ = _split(range(18, 24))
    num = nb.assess_numbering(_decoding(maps, valid), calibration)
    block = json.loads(json.dumps(num.to_json()))
    assert set(block) >= {"confidence", "status", "alternative", "anchors", "threshold", "source"}
    assert 0.0 <= block["confidence"] <= 1.0 and block["status"] in ("ok", "check")
    assert set(block["alternative"]) == {"offset", "confidence"} and block["alternative"]["offset"] in (-1, 1)
    assert isinstance(block["anchors"], list)
    line = num.warning("sub-01_T2w.nii.gz", "t2", 213)
    assert "\n" not in line
    assert line.startswith("sub-01_T2w.nii.gz: numbering uncertain (")
    other = num.question[2]
    assert other in (22, 24)
    assert line.endswith(f"is the lowest disc L3/L4 or {nb._name(other)}? if L3/L4, confirm with: "
                         f"hca_label -i sub-01_T2w.nii.gz -c t2 -initz 213,23; if {nb._name(other)}: "
                         f"hca_label -i sub-01_T2w.nii.gz -c t2 -initz 213,{other}"), line


def test_cervical_question_is_about_the_top_disc(calibration):
    maps, valid = _clean(range(4, 9), extra_rows=5)
    num = nb.assess_numbering(_decoding(maps, valid), calibration)
    assert num.question[0] == 0 and num.question[1] == 4
    assert "highest disc C3/C4" in num.doubt()


def test_landmark_term_votes_for_the_count_it_implies():
    from dataclasses import replace

    from hca_disc_label.inference.landmarks import Landmark

    maps, valid = _clean(range(20, 26))
    dec = _decoding(maps, valid)
    assert dec.landmarks == [] and nb.landmark_margin(dec, +1) == 0.0  # disc-only model
    low = dec.discs[-1]
    s1 = Landmark(125, low.row + 15.0, low.col, 0.9)  # S1 body just below the lowest disc: it is L5/S1
    agree = replace(dec, landmarks=[s1])
    assert nb.landmark_margin(agree, -1) == pytest.approx(0.9)
    # the S1 body right under the second-lowest disc: that disc is L5/S1, so every value is one
    # level low and the +1 alternative is right
    above = dec.discs[-2]
    doubt = replace(dec, landmarks=[Landmark(125, above.row + 15.0, above.col, 0.9)])
    assert nb.landmark_margin(doubt, +1) == pytest.approx(-0.9)
    assert nb.landmark_margin(doubt, -1) == 0.0
    assert nb.numbering_features(doubt).features["landmark_margin"] <= 0.0
    anchors = nb.assess_numbering(agree).anchors
    assert {"kind": "landmark", "name": "S1 body", "names": "L5/S1", "agrees": True, "confidence": 0.9} in anchors


def test_calibration_json_roundtrip_and_validation(tmp_path):
    cal = cal_mod.Calibration(("margin", "log_discs"), (1.0, 0.5), 2.0, (3.0, 1.5), (2.0, 0.5), 0.8, 1.0, "test")
    again = cal_mod.Calibration.from_json(json.loads(json.dumps(cal.to_json())))
    f = {"margin": 4.0, "log_discs": 2.0}
    assert again.probability(f) == pytest.approx(cal.probability(f))
    assert again.threshold == 0.8
    with pytest.raises(ValueError):
        cal_mod.Calibration.from_json({**cal.to_json(), "features": ["margin", "nonsense"]})
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"schema": 1, "models": {"ab" * 32: cal.to_json()}}))
    assert "ab" * 32 in cal_mod.read_calibration_table(table)
    assert cal_mod.read_calibration_table(tmp_path / "missing.json") == {}


def test_model_card_entry_wins_and_unknown_model_is_uncalibrated():
    from hca_disc_label.inference.labeller import calibration_table_path

    class Folder:
        card = {"numbering_calibration": cal_mod.UNCALIBRATED.to_json() | {"threshold": 0.7}}
        sha256 = "0" * 64

    assert cal_mod.load_calibration(Folder(), calibration_table_path()).threshold == 0.7

    class Other:
        card: dict = {}
        sha256 = "f" * 64

    assert cal_mod.load_calibration(Other(), calibration_table_path()) is cal_mod.UNCALIBRATED
    assert cal_mod.load_calibration(Other(), None) is cal_mod.UNCALIBRATED


def test_fit_logistic_recovers_a_separating_direction():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + 0.1 * rng.normal(size=400) > 0).astype(float)
    coef, b = cal_mod.fit_logistic(x, y, l2=1e-3)
    assert coef[0] > 3 * abs(coef[1]) and abs(b) < 1.0


def test_block_carries_the_hint_once_the_slice_is_known(calibration):
    maps, valid, _ = _split(range(18, 24))
    num = nb.assess_numbering(_decoding(maps, valid), calibration)
    assert "hint" not in num.to_json() and num.to_json()["question"] == num.doubt()
    num = num.with_slice(57)
    assert num.to_json()["hint"] == "-initz 57,23"
    other = num.question[2]
    assert num.to_json()["alternative_hint"] == f"-initz 57,{other}" and other in (22, 24)
    assert num.warning("a b.nii.gz", "t1").endswith(
        f"confirm with: hca_label -i 'a b.nii.gz' -c t1 -initz 57,23; if {nb._name(other)}: "
        f"hca_label -i 'a b.nii.gz' -c t1 -initz 57,{other}")


def test_question_moves_inward_when_the_alternative_is_no_disc():
    from types import SimpleNamespace

    lumbar = SimpleNamespace(channel_values=list(range(2, 26)), path=[(i, v - 2) for i, v in enumerate(range(20, 26))])
    assert nb._question(lumbar, +1) == (-2, 24, 25)  # not "L5/S1 or S1/S2": the disc above it
    assert nb._question(lumbar, -1) == (-1, 25, 24)
    cervical = SimpleNamespace(channel_values=list(range(2, 26)), path=[(i, v - 2) for i, v in enumerate(range(2, 7))])
    assert nb._question(cervical, -1) == (1, 3, 2)
    num = nb.Numbering(0.5, "check", 1, 0.4, [], 0.9, question=(-2, 24, 25), hint_slice=40)
    assert num.doubt() == "is the disc above the lowest L4/L5 or L5/S1?"
    assert num.hint == "-initz 40,24" and num.alternative_hint == "-initz 40,25"

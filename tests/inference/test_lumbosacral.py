"""The lumbosacral turn: a remnant read as L5/S1 is renumbered or doubted; a normal sacrum is not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hca_disc_label.conventions import DISC_VALUES
from hca_disc_label.inference import lumbosacral as ls
from hca_disc_label.inference.decode import Anchor, decode_details
from hca_disc_label.inference.heatmaps import model_to_heatmap, render_heatmaps
from hca_disc_label.inference.numbering import assess_numbering

VALUES = list(DISC_VALUES)
STRIDE, SPACING, SIGMA = 2, 1.0, 1.5


def _walk(angles_deg, start=(30.0, 40.0), length_mm=34.0):
    """Posterior disc tips head to feet: each segment ``length_mm`` long at its angle from the
    head-to-feet direction (positive = posterior), model frame ``(row, col)`` at 1 mm/px."""
    pts = [start]
    for a in angles_deg:
        r, c = pts[-1]
        t = math.radians(a)
        pts.append((r + length_mm * math.cos(t) / SPACING, c + length_mm * math.sin(t) / SPACING))
    return pts


def _maps(channel_points, shape=(300, 120)):
    """Heatmaps with one clear peak per ``{value: (row, col)}``."""
    hm = {v: tuple(model_to_heatmap(p, STRIDE)) for v, p in channel_points.items()}
    return render_heatmaps(hm, VALUES, shape, SIGMA)


# Lordosis of a lumbar spine T12/L1 .. L5/S1: segments L1 .. L5 turning posterior step by step.
LUMBAR = [-12.0, -9.0, -4.0, 4.0, 16.0]


def _remnant_case(sacral_deg):
    """T12/L1 .. L5/S1 plus the S1/S2 remnant below, the segment to it at ``sacral_deg``; the
    network reads every disc one level too high: the remnant as L5/S1 (the known failure)."""
    pts = _walk(LUMBAR + [sacral_deg])
    true = dict(zip(range(20, 26), pts[:6]))
    misread = {v - 1: p for v, p in true.items()}
    misread[25] = pts[6]
    return true, _maps(misread)


def _values(decoding):
    return {d.value: (d.row, d.col) for d in decoding.discs}


def test_turn_geometry():
    assert ls.turn_at([(0, 0), (10, 0), (20, 0)]) == pytest.approx(0.0)
    assert ls.turn_at(_walk([10.0, 55.0])) == pytest.approx(45.0)
    assert ls.lowest_turn(_walk([0.0, 10.0]), [23, 24, 25]) == pytest.approx(10.0)
    assert ls.lowest_turn(_walk([0.0, 10.0]), [22, 24, 25]) is None  # a skipped level: no rule
    assert ls.lowest_turn(_walk([0.0, 10.0]), [22, 23, 24]) is None  # the lowest is not L5/S1


def test_remnant_read_as_l5s1_is_renumbered_and_checked():
    true, maps = _remnant_case(sacral_deg=60.0)
    dec = decode_details(maps, VALUES, STRIDE, SPACING, 0.3)
    assert dec.sacral_renumbered and dec.sacral_turn > ls.SACRAL_TURN_DEG
    out = _values(dec)
    assert sorted(out) == sorted(true)  # the remnant dropped, every disc its true value
    for v, (r, c) in true.items():
        assert abs(out[v][0] - r) < 1e-3 and abs(out[v][1] - c) < 1e-3
    num = assess_numbering(dec)
    assert num.status == "check" and num.source == "lumbosacral" and num.alt_offset == -1
    assert num.doubt() == "is the lowest disc L5/S1 or L4/L5?"
    assert any(a["kind"] == "lumbosacral_turn" and a["renumbered"] for a in num.anchors)


def test_normal_sacrum_is_left_unchanged():
    pts = _walk(LUMBAR)
    true = dict(zip(range(20, 26), pts))
    dec = decode_details(_maps(true), VALUES, STRIDE, SPACING, 0.3)
    assert dec.sacral_turn is None and not dec.sacral_renumbered
    assert sorted(_values(dec)) == sorted(true)
    assert dec.below_mm is None
    num = assess_numbering(dec)
    assert num.source == "network" and not any(a["kind"] in ("lumbosacral_turn", "disc_below") for a in num.anchors)


def test_turn_in_the_overlap_only_doubts():
    turn = (ls.SACRAL_DOUBT_DEG + ls.SACRAL_TURN_DEG) / 2
    true, maps = _remnant_case(sacral_deg=LUMBAR[-1] + turn)
    dec = decode_details(maps, VALUES, STRIDE, SPACING, 0.3)
    assert dec.sacral_turn == pytest.approx(turn, abs=0.5) and not dec.sacral_renumbered
    assert sorted(_values(dec)) == [v - 1 for v in true] + [25]  # the network's count is kept
    num = assess_numbering(dec)
    assert num.status == "check" and num.alt_offset == 1
    # the lowest would be S1/S2 under the alternative, so the question names the disc above it
    assert num.doubt() == "is the disc above the lowest L4/L5 or L5/S1?"
    shown = next(a["turn_deg"] for a in num.anchors if a["kind"] == "lumbosacral_turn")
    assert abs(shown - turn) < 0.5 and f"spine turns {shown:.0f} deg" in num.warning("x.nii.gz", "t2", z_slice=10)


def test_a_hint_wins_over_the_turn():
    true, maps = _remnant_case(sacral_deg=60.0)
    r, c = true[24]
    dec = decode_details(maps, VALUES, STRIDE, SPACING, 0.3, anchors=[Anchor(23, r, c)])  # the user: L3/L4 here
    assert dec.sacral_turn is None and not dec.sacral_renumbered
    assert _values(dec)[23] == pytest.approx(true[24], abs=1e-3)
    assert np.isfinite(dec.score(dec.path))


def _cut_below_l5s1_case():
    """T12/L1 .. L5/S1 with the field cut a few mm below L5/S1: the network reads L4/L5 as
    "L5/S1" (every value one level high) and L5/S1, near the edge, as a weaker peak."""
    pts = _walk(LUMBAR)
    true = dict(zip(range(20, 26), pts))
    misread = {v + 1: p for v, p in true.items() if v < 25}
    weak = _maps({25: true[25]})
    return true, np.maximum(_maps(misread), 0.5 * weak)


def test_disc_left_out_below_l5s1_doubts_the_count():
    true, maps = _cut_below_l5s1_case()
    dec = decode_details(maps, VALUES, STRIDE, SPACING, 0.3)
    assert sorted(_values(dec)) == [21, 22, 23, 24, 25]  # the network's count, one level high
    assert dec.below_mm == pytest.approx(34.0, abs=1.0) and dec.sacral_turn is None
    num = assess_numbering(dec)
    assert num.status == "check" and num.confidence <= 0.5 and num.alt_offset == -1
    assert num.doubt() == "is the lowest disc L5/S1 or L4/L5?"
    assert any(a["kind"] == "disc_below" and a["distance_mm"] == pytest.approx(34.0, abs=1.0) for a in num.anchors)
    assert "34 mm below the lowest disc" in num.warning("x.nii.gz", "t2", z_slice=10)


def test_a_hint_wins_over_a_disc_below():
    true, maps = _cut_below_l5s1_case()
    r, c = true[24]
    dec = decode_details(maps, VALUES, STRIDE, SPACING, 0.3, anchors=[Anchor(25, r, c)])  # the user confirms
    assert dec.below_mm is None and assess_numbering(dec).source == "hint"
    # the warning's other answer names the same disc L4/L5: the left-out peak becomes L5/S1
    dec = decode_details(maps, VALUES, STRIDE, SPACING, 0.3, anchors=[Anchor(24, r, c)])
    out = _values(dec)
    assert sorted(out) == sorted(true) and out[25] == pytest.approx(true[25], abs=1.0)


@pytest.mark.parametrize("peak, fires", [
    ((64.0, 40.0), True),     # one level straight below
    ((60.0, 60.0), True),     # one level below, along a sacrum turning posterior
    ((130.0, 40.0), False),   # far below (coccyx, pelvis): no disc one level down
    ((40.0, 40.0), False),    # closer than a level
    ((35.0, 70.0), False),    # beside the disc, not below it
    ((10.0, 40.0), False),    # above it
])
def test_disc_below_geometry(peak, fires):
    discs = [(0.0, 40.0), (30.0, 40.0)]  # L4/L5, L5/S1: 30 px apart
    got = ls.disc_below(discs, [24, 25], [peak])
    assert (got is not None) == fires
    assert ls.disc_below(discs, [23, 24], [peak]) is None  # the lowest is not L5/S1
    assert ls.disc_below(discs[1:], [25], [peak]) is None  # one disc: no level to compare with


def test_disc_below_measures_per_level_across_a_skipped_one():
    discs = [(0.0, 40.0), (30.0, 40.0)]  # L3/L4, L5/S1 (L4/L5 missed): 15 px per level
    assert ls.disc_below(discs, [23, 25], [(50.0, 40.0)]) == pytest.approx(20.0)
    assert ls.disc_below(discs, [23, 25], [(64.0, 40.0)]) is None  # over two levels down

"""Counting from landmarks: a clear C2 body, S1 body or S1/S2 junction fixes the count even
when the disc channels agree on another; no landmark, the old behaviour; hints still win."""

from __future__ import annotations

import numpy as np
import pytest

from hca_disc_label.conventions import DISC_VALUES, LANDMARKS
from hca_disc_label.inference.decode import Anchor, decode_details, decode_heatmaps
from hca_disc_label.inference.heatmaps import model_to_heatmap, render_heatmaps
from hca_disc_label.inference.landmarks import LANDMARK_THRESHOLD, named_discs, Landmark

CODES = list(DISC_VALUES) + list(LANDMARKS)
STRIDE, SPACING, SIGMA = 2, 1.0, 1.5


def _lumbar(true_values=range(20, 26), start_row=30.0, gap=30.0, col=40.0):
    """True disc positions (model px) of a lumbar field; the S1 body centre sits 15 mm below
    and 15 mm in front of L5/S1, the S1/S2 junction 28 mm below it."""
    pts = {v: (start_row + i * gap, col) for i, v in enumerate(true_values)}
    l5s1 = pts[25]
    return pts, {125: (l5s1[0] + 15.0, l5s1[1] - 15.0), 126: (l5s1[0] + 28.0, l5s1[1] + 2.0)}


def _maps(discs, landmarks, shape=(260, 64), landmark_peak=0.9, shift=0):
    """Heatmaps of ``CODES``: each disc in the channel of its value + ``shift`` (a network that
    numbers one level off), landmarks at ``landmark_peak``."""
    hm = {v + shift: tuple(model_to_heatmap(p, STRIDE)) for v, p in discs.items() if v + shift in DISC_VALUES}
    maps = render_heatmaps(hm, CODES, shape, SIGMA)
    lm = render_heatmaps({c: tuple(model_to_heatmap(p, STRIDE)) for c, p in landmarks.items()}, CODES, shape, SIGMA)
    return np.maximum(maps, landmark_peak * lm)


def _values(decoded):
    return {d.value: (d.row, d.col) for d in decoded}


def test_s1_landmark_fixes_a_count_the_disc_channels_get_one_level_high():
    discs, lms = _lumbar()
    maps = _maps(discs, {125: lms[125]}, shift=-1)  # every disc channel says one level higher
    out = _values(decode_heatmaps(maps, CODES, STRIDE, SPACING, 0.3))
    assert sorted(out) == sorted(discs)
    for v, (r, _) in discs.items():
        assert abs(out[v][0] - r) < 1e-3


def test_without_landmark_channels_the_count_is_the_channels_own():
    discs, lms = _lumbar()
    maps = _maps(discs, {125: lms[125]}, shift=-1)
    disc_only = maps[: len(DISC_VALUES)]
    out = _values(decode_heatmaps(disc_only, list(DISC_VALUES), STRIDE, SPACING, 0.3))
    assert sorted(out) == [v - 1 for v in sorted(discs)]
    # a landmark channel that is silent (nothing in view) changes nothing either
    silent = _maps(discs, {}, shift=-1)
    assert _values(decode_heatmaps(silent, CODES, STRIDE, SPACING, 0.3)) == out


def test_a_weak_landmark_does_not_override_the_channels():
    discs, lms = _lumbar()
    maps = _maps(discs, {125: lms[125]}, shift=-1, landmark_peak=0.5 * LANDMARK_THRESHOLD)
    out = _values(decode_heatmaps(maps, CODES, STRIDE, SPACING, 0.3))
    assert sorted(out) == [v - 1 for v in sorted(discs)]


def test_remnant_disc_at_the_s1s2_junction_is_not_counted():
    """ivd25's failure: the disc channels fire on the S1/S2 remnant as "L5/S1" and every disc
    above one level high; a clear S1/S2 junction drops the remnant and names the disc above."""
    discs, lms = _lumbar(range(21, 26))
    remnant = {26: lms[126]}  # what the network sees as a sixth disc
    shifted = {v - 1: p for v, p in {**discs, **remnant}.items()}
    hm = {v: tuple(model_to_heatmap(p, STRIDE)) for v, p in shifted.items()}
    maps = render_heatmaps(hm, CODES, (260, 64), SIGMA) * 0.8
    lm = render_heatmaps({126: tuple(model_to_heatmap(lms[126], STRIDE))}, CODES, (260, 64), SIGMA)
    maps = np.maximum(maps, 0.95 * lm)
    details = decode_details(maps, CODES, STRIDE, SPACING, 0.3)
    out = _values(details.discs)
    assert sorted(out) == sorted(discs)
    assert all(abs(out[v][0] - discs[v][0]) < 1e-3 for v in discs)
    assert [lm.code for lm in details.landmarks] == [126]
    assert details.landmark_fixed  # the count came from the landmark
    assert details.channel_values == list(DISC_VALUES)


def test_c2_landmark_fixes_the_count_at_the_top():
    discs = {v: (40.0 + i * 18.0, 40.0) for i, v in enumerate(range(3, 9))}  # C2/C3..C7/T1
    c2 = {102: (discs[3][0] - 12.0, discs[3][1] - 10.0)}
    maps = _maps(discs, c2, shift=+1)  # channels one level low
    out = _values(decode_heatmaps(maps, CODES, STRIDE, SPACING, 0.3))
    assert sorted(out) == sorted(discs)


def test_a_user_hint_wins_over_a_landmark():
    discs, lms = _lumbar()
    maps = _maps(discs, {125: lms[125]})  # channels and landmark agree on the truth
    # the user says the top disc is L1/L2 (one lower than the truth): the hint is obeyed
    top = discs[20]
    out = _values(decode_heatmaps(maps, CODES, STRIDE, SPACING, 0.3, anchors=[Anchor(21, *top)]))
    assert sorted(out) == [v + 1 for v in sorted(discs) if v + 1 in DISC_VALUES]


@pytest.mark.parametrize("code,side", [(102, +1), (125, -1), (126, -1)])
def test_named_disc_is_the_nearest_on_the_landmarks_side(code, side):
    rows = np.array([10.0, 40.0, 70.0])
    cols = np.full(3, 30.0)
    lm = Landmark(code, 55.0, 30.0, 0.9)
    (_, index, value), = named_discs([lm], rows, cols, SPACING)
    assert index == (2 if side > 0 else 1)
    assert value == (3 if code == 102 else 25)
    far = Landmark(code, 55.0 + side * 500.0, 30.0, 0.9)
    assert named_discs([far], rows, cols, SPACING) == []


def test_the_remnant_next_to_the_s1s2_junction_is_not_named_l5s1():
    rows = np.array([100.0, 130.0, 158.0])  # L4/L5, L5/S1, and the S1/S2 remnant just above the junction
    cols = np.full(3, 30.0)
    (_, index, value), = named_discs([Landmark(126, 161.0, 31.0, 0.95)], rows, cols, SPACING)
    assert (index, value) == (1, 25)


def test_sacral_landmarks_that_disagree_are_both_ignored():
    from hca_disc_label.inference.landmarks import consistent

    s1, s12 = Landmark(125, 100.0, 30.0, 0.9), Landmark(126, 118.0, 34.0, 0.9)
    assert consistent([s1, s12], SPACING) == [s1, s12]  # S1/S2 18 mm below the S1 centre
    s23 = Landmark(126, 160.0, 70.0, 0.96)  # the network's "S1/S2" is really S2/S3
    c2 = Landmark(102, 10.0, 30.0, 0.9)
    assert consistent([c2, s1, s23], SPACING) == [c2]
    above = Landmark(126, 90.0, 30.0, 0.9)  # junction above the S1 body: impossible
    assert consistent([s1, above], SPACING) == []
    weak = Landmark(125, 100.0, 30.0, 0.1)  # one barely seen: no check
    assert consistent([weak, s23], SPACING) == [weak, s23]

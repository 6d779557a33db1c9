"""Decoding: positions from peaks, values by anatomy-consistent counting.

Identities never shift at a missing disc, peaks that contradict the anatomy are dropped, and
where channels disagree with the count (a skipped or swapped value on evenly spaced discs)
the count wins."""

from __future__ import annotations

import numpy as np
import pytest

from hca_disc_label.conventions import DISC_VALUES
from hca_disc_label.inference.decode import Anchor, AnchorError, decode_heatmaps
from hca_disc_label.inference.heatmaps import heatmap_to_model, local_maxima, model_to_heatmap, refine_peak, render_heatmaps

VALUES = list(DISC_VALUES)
STRIDE, SPACING, SIGMA = 2, 1.0, 1.5


def _spine(values, start_row=20.0, gap_mm=24.0, col=40.0):
    """Model-frame positions of consecutive discs spaced ``gap_mm`` apart."""
    return {v: (start_row + i * gap_mm / SPACING, col + 3 * np.sin(i)) for i, v in enumerate(values)}


def _maps(model_points, shape=(200, 48), scale=None):
    hm = {v: tuple(model_to_heatmap(p, STRIDE)) for v, p in model_points.items()}
    maps = render_heatmaps(hm, VALUES, shape, SIGMA)
    for v, s in (scale or {}).items():
        maps[VALUES.index(v)] *= s
    return maps


def _decode(maps, threshold=0.3):
    return {d.value: (d.row, d.col, d.confidence) for d in decode_heatmaps(maps, VALUES, STRIDE, SPACING, threshold)}


def test_exact_positions_recovered():
    pts = _spine(range(3, 19))
    out = _decode(_maps(pts, shape=(220, 48)))
    assert set(out) == set(pts)
    for v, (r, c) in pts.items():
        assert abs(out[v][0] - r) < 1e-3 and abs(out[v][1] - c) < 1e-3


def test_missing_disc_does_not_shift_identities():
    pts = _spine(range(3, 12))
    del pts[6]
    out = _decode(_maps(pts))
    assert set(out) == set(pts)
    for v in pts:
        assert abs(out[v][0] - pts[v][0]) < 1e-3


def test_spurious_peak_in_wrong_place_is_dropped():
    pts = _spine(range(3, 10))
    maps = _maps(pts)
    # value 20 (T12/L1) firing in the neck, above C2/C3, stronger than nothing: contradicts anatomy
    extra = render_heatmaps({20: tuple(model_to_heatmap((10.0, 40.0), STRIDE))}, VALUES, maps.shape[1:], SIGMA)
    maps = np.maximum(maps, 0.6 * extra)
    out = _decode(maps)
    assert 20 not in out
    assert set(out) == set(pts)


def test_swapped_peaks_are_put_back_in_anatomical_order():
    pts = _spine(range(3, 10))
    swapped = dict(pts)
    swapped[5], swapped[6] = pts[6], pts[5]
    out = _decode(_maps(swapped, scale={5: 0.9, 6: 0.8}))
    # channels 5 and 6 fire on each other's disc: the head-to-feet count relabels them
    assert set(out) == set(pts)
    for v in pts:
        assert abs(out[v][0] - pts[v][0]) < 1e-3


def test_value_skipped_by_the_channels_is_restored_by_counting():
    # evenly spaced discs; from the fourth on, the channel of the disc below fires a bit
    # stronger than the right one (two adjacent channels on one disc), so the channels
    # alone read 3, 4, 5, 7, 8, 9: a level vanishes between two discs one spacing apart
    pts = _spine(range(3, 9))
    shifted = {v + (1 if v >= 6 else 0): p for v, p in pts.items()}
    maps = np.maximum(_maps(shifted, scale={7: 0.7, 8: 0.7, 9: 0.7}),
                      _maps({v: p for v, p in pts.items() if v >= 6}, scale={6: 0.6, 7: 0.6, 8: 0.6}))
    out = _decode(maps)
    assert sorted(out) == sorted(pts)
    for v, (r, _) in pts.items():
        assert abs(out[v][0] - r) < 1e-3


def test_decoded_discs_report_their_own_channel_evidence():
    pts = _spine(range(3, 10))
    out = {d.value: d for d in decode_heatmaps(_maps(pts, scale={6: 0.5}), VALUES, STRIDE, SPACING, 0.3)}
    assert abs(out[6].confidence - 0.5) < 0.02 and out[6].evidence == pytest.approx(out[6].confidence)
    assert out[5].evidence > 0.95


def test_duplicate_position_two_values_keeps_one():
    pts = _spine(range(3, 8))
    pts_dup = dict(pts)
    pts_dup[8] = (pts[7][0] + 1.0, pts[7][1])  # value 8 fires on the C6/C7 disc
    out = _decode(_maps(pts_dup, scale={8: 0.5}))
    assert 8 not in out and 7 in out


def test_threshold_drops_weak_discs():
    pts = _spine(range(3, 8))
    out = _decode(_maps(pts, scale={4: 0.2}), threshold=0.3)
    assert 4 not in out and {3, 5, 6, 7} <= set(out)


def test_nothing_found_returns_empty():
    assert _decode(np.zeros((len(VALUES), 50, 20), np.float32)) == {}


@pytest.mark.parametrize("centre", [(10.3, 7.8), (5.0, 5.0), (12.49, 3.51)])
def test_subpixel_refinement_is_exact_for_gaussians(centre):
    maps = render_heatmaps({2: centre}, [2], (20, 12), SIGMA)
    i, j = np.unravel_index(np.argmax(maps[0]), maps[0].shape)
    r, c = refine_peak(maps[0], int(i), int(j))
    assert abs(r - centre[0]) < 1e-3 and abs(c - centre[1]) < 1e-3


def test_heatmap_model_roundtrip():
    p = np.array([[13.25, 7.5], [0.0, 0.0]])
    np.testing.assert_allclose(heatmap_to_model(model_to_heatmap(p, 4), 4), p)


def _one_level_high(values=range(20, 26)):
    """Lumbar discs whose channels all read one level too high (value - 1), confidently."""
    true = _spine(values, gap_mm=32.0)
    return true, _maps({v - 1: p for v, p in true.items()}, shape=(240, 48))


def test_anchor_renumbers_a_confidently_shifted_spine():
    true, maps = _one_level_high()
    assert sorted(_decode(maps)) == [v - 1 for v in true]  # without a hint: one level high
    r, c = true[25]
    for anchor in (Anchor(25, r + 2.0, c - 1.5), Anchor(25, r + 4.0)):  # -initlabel near the tip / -initz row
        out = {d.value: d.row for d in decode_heatmaps(maps, VALUES, STRIDE, SPACING, 0.3, anchors=[anchor])}
        assert sorted(out) == sorted(true)
        for v, (row, _) in true.items():
            assert abs(out[v] - row) < 1e-3


def test_anchor_in_the_middle_counts_both_ways():
    true, maps = _one_level_high(range(14, 24))
    out = {d.value: d.row for d in decode_heatmaps(maps, VALUES, STRIDE, SPACING, 0.3,
                                                   anchors=[Anchor(18, true[18][0])])}
    assert sorted(out) == sorted(true)


@pytest.mark.parametrize("anchors, message", [
    ([Anchor(25, 5.0)], "no disc detected within"),  # far above the first disc
    ([Anchor(26, 60.0)], "not one of the model's disc values"),
    ([Anchor(22, 20.0), Anchor(21, 52.0)], "contradict"),  # values decreasing head to feet
    ([Anchor(22, 52.0), Anchor(23, 53.0)], "same disc"),
])
def test_impossible_anchors_raise(anchors, message):
    _, maps = _one_level_high()
    with pytest.raises(AnchorError, match=message):
        decode_heatmaps(maps, VALUES, STRIDE, SPACING, 0.3, anchors=anchors)


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_local_maxima_match_a_scipy_maximum_filter_reference(radius):
    """The numpy window maximum finds the same peaks as scipy.ndimage.maximum_filter (its
    reference), plateaus and borders included."""
    from scipy.ndimage import maximum_filter

    rng = np.random.default_rng(radius)
    channel = np.round(rng.random((17, 23)), 1).astype(np.float32)  # rounded: ties and plateaus
    peaks = local_maxima(channel, 0.3, radius, max_peaks=1000)
    ref = (channel == maximum_filter(channel, size=2 * radius + 1, mode="constant", cval=-np.inf)) & (channel >= 0.3)
    assert sorted((i, j) for i, j, _ in peaks) == sorted(map(tuple, np.argwhere(ref).tolist()))
    assert [v for _, _, v in peaks] == sorted((v for _, _, v in peaks), reverse=True)

"""The sacral ala and posterior ilium: off the midline only, starting at the L5/S1 level, and
absent from the one-channel mid-sagittal scene."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path as PolyPath

from hca_disc_label.synth.parts import section
from hca_disc_label.synth.pelvis import SACRALISED_L5, _l5_wing, ala_outline, pelvis_parts
from hca_disc_label.synth.scene import build_parts, sample_subject
from hca_disc_label.synth.spine_params import N_MOBILE
from hca_disc_label.synth.tissues import Tissue


def _subject(seed: int):
    return sample_subject(np.random.default_rng(seed), "lumbar")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ala_top_is_at_the_l5s1_disc_and_covers_the_s1s2_remnant(seed):
    spine = _subject(seed).spine
    ala = PolyPath(ala_outline(spine, top_drop=2.0, back_room=8.0))
    s1, s2 = spine.bones[N_MOBILE], spine.bones[N_MOBILE + 1]
    remnant = 0.5 * (s1.pb + s2.pt) + (-6.0) * spine.at_normal(spine.body_s[N_MOBILE, 1])
    assert ala.contains_point(remnant)                   # the remnant lies inside the ala's height
    above = spine.tips[25] + (-6.0) * spine.at_normal(spine.tip_s[25])
    assert not ala.contains_point(above)                 # nothing of it beside the L5/S1 disc
    assert not ala.contains_point(0.5 * (spine.bones[N_MOBILE - 1].pt + spine.bones[N_MOBILE - 1].at))


def test_pelvis_is_seen_off_the_midline_only():
    spine = _subject(4).spine
    parts = pelvis_parts(spine, np.random.default_rng(0), (-np.inf, np.inf))
    assert len(parts) == 8 and {p.item.tissue for p in parts} == {Tissue.CORTEX, Tissue.MARROW}
    assert all(section(p, 0.0) is None for p in parts)
    seen_25 = [section(p, 25.0) for p in parts]
    seen_m25 = [section(p, -25.0) for p in parts]
    assert sum(s is not None for s in seen_25) >= 2 and sum(s is not None for s in seen_m25) >= 2


def test_pelvis_needs_the_lumbosacral_region_in_the_field():
    spine = _subject(5).spine
    assert pelvis_parts(spine, np.random.default_rng(0), (0.0, spine.body_s[10, 1])) == []


def test_one_channel_scene_has_no_pelvis_and_the_same_details():
    """The pelvis is drawn last and only with ``lateral=True``: every mid-sagittal part is the same."""
    subject = _subject(6)
    subject.coronal = None  # a curved spine builds its off-midline parts anyway (test_coronal.py)
    mid = list(build_parts(subject, lateral=False))
    both = build_parts(subject, lateral=True)

    def pelvic(parts):
        return [p for p in parts if p.mode == "round" and p.item.tissue == Tissue.MARROW and abs(p.xc) > 20.0]

    assert pelvic(mid) == [] and len(pelvic(both)) == 4   # ala and ilium, both sides

    def geometry(part):
        return np.asarray(part.item.pts if hasattr(part.item, "pts") else part.item.va)

    kept = [geometry(p) for p in both]
    for part in mid:
        g = geometry(part)
        assert any(g.shape == k.shape and np.array_equal(g, k) for k in kept)


def _wing_seeds(spine, n=200):
    """Generator seeds (of the draws after the ala's) that give ``spine`` a transitional L5."""
    return [k for k in range(n) if _l5_wing(spine, np.random.default_rng(k), spine.body_s[N_MOBILE, 0], 30.0)]


def test_a_transitional_l5_is_drawn_for_its_share_never_with_a_lumbarised_s1():
    spine = _subject(5).spine
    assert not spine.params.lumbarised_s1
    share = len(_wing_seeds(spine)) / 200
    assert abs(share - SACRALISED_L5) < 0.06
    spine.params.lumbarised_s1 = True
    assert _wing_seeds(spine) == []


def test_the_transitional_l5_reaches_the_ala_off_the_midline_and_leaves_the_ala_unchanged():
    """The wing lies beside L5 (not at the midline) and reaches down to the ala's top; the ala and
    ilium are drawn from the same numbers as without it (the wing's come after theirs)."""
    spine = _subject(5).spine
    parts_of = {}
    for k in range(60):
        parts = pelvis_parts(spine, np.random.default_rng(k), (-np.inf, np.inf))
        parts_of.setdefault(len(parts) > 8, (k, parts))
    (k0, plain), (k1, winged) = parts_of[False], parts_of[True]
    r = np.random.default_rng(k1).random(8)
    ala = ala_outline(spine, top_drop=1.0 + 4.0 * r[1], back_room=(6.0 + 6.0 * r[2]) * spine.params.scale)
    assert any(np.array_equal(p.item.pts, ala) for p in winged)
    l5, s2 = spine.bones[N_MOBILE - 1], spine.bones[N_MOBILE + 1]
    # the ala starts at S1 and the ilium reaches S4: only the wing starts beside L5 and ends above S2
    wing = [p for p in winged if p.item.pts[:, 0].min() < l5.pb[0] and p.item.pts[:, 0].max() < s2.pt[0]]
    assert len(plain) == 8 and len(winged) in (10, 12) and len(wing) == len(winged) - 8
    for part in wing:
        assert section(part, 0.0) is None and section(part, part.xc) is not None
        top, bottom = part.item.pts[:, 0].min(), part.item.pts[:, 0].max()
        assert top < 0.5 * (l5.pt[0] + l5.pb[0]) < bottom      # beside the L5 body
        assert bottom > l5.pb[0]                                 # down past L5/S1 to the ala

"""Coronal curvature: the spine shifted laterally level by level, the pelvis and labels kept."""

from __future__ import annotations

import numpy as np

from hca_disc_label.synth.coronal import CURVE_P, CoronalCurve, _bump, bend, sample_curve, tip_shifts
from hca_disc_label.synth.parts import section
from hca_disc_label.synth.raster import Band
from hca_disc_label.synth.scene import build_parts, sample_subject
from hca_disc_label.synth.spine_params import N_MOBILE
from hca_disc_label.synth.tissues import Tissue
from hca_disc_label.synth.volume import generate_volume


def _subject(seed: int, region: str = "lumbar"):
    return sample_subject(np.random.default_rng(seed), region)


def test_curves_are_drawn_for_about_their_share_and_vanish_at_the_sacrum_and_neck():
    curved = 0
    for seed in range(120):
        spine = _subject(seed).spine
        curve = sample_curve(spine, seed)
        if curve is None:
            continue
        curved += 1
        assert 3.0 <= curve.amplitude <= 18.0 + 1e-6
        assert curve.at(spine.body_s[N_MOBILE, 0]) == 0.0          # the top of S1: the pelvis holds it
        assert curve.at(spine.body_s[N_MOBILE + 2, 0]) == 0.0
        assert curve.at(spine.body_s[0, 0]) == 0.0                 # C2
        assert 0.0 <= curve.plane <= 1.0
    assert abs(curved / 120 - CURVE_P) < 0.12
    spine = _subject(3).spine
    assert sample_curve(spine, 3, p=0.0) is None


def test_a_straight_spine_keeps_every_part_and_label():
    subject = _subject(4)
    subject.coronal = None
    parts = build_parts(subject)
    assert all(p.xc_profile is None for p in parts)
    assert set(tip_shifts(subject.spine, None).values()) == {0.0}


def test_bend_moves_spine_parts_by_the_shift_at_their_level():
    subject = _subject(7)
    spine = subject.spine
    s, dx = _bump(spine.body_s[16, 1], spine.body_s[N_MOBILE - 1, 1], 15.0)
    curve = CoronalCurve(s, dx, 0.0)
    subject.coronal = None
    straight = build_parts(subject)
    subject.coronal = curve
    bent = build_parts(subject, lateral=True)
    apex_s = 0.5 * (s[0] + s[-1])
    # the L2-ish body: its marrow is centred on the shift, so it narrows at x=0 and not at x=shift
    bodies = [p for p in bent if p.mode == "ap" and p.item.tissue == Tissue.MARROW]
    shifted = [p for p in bodies if abs(p.xc) > 10.0]
    assert shifted and all(abs(p.xc) <= 15.0 + 1e-9 for p in bodies)
    # the cord/sac tubes follow the curve sample by sample and leave the mid-sagittal slice
    sac = [p for p in bent if isinstance(p.item, Band) and p.item.tissue == Tissue.CSF]
    assert sac and sac[0].xc_profile is not None
    band = sac[0].item
    k = int(np.argmin(np.abs(band.u - spine.at(apex_s, 0.0)[0][0])))
    assert sac[0].xc_profile[k] > 12.0
    at_mid, at_shift = section(sac[0], 0.0), section(sac[0], float(sac[0].xc_profile[k]))
    assert at_mid.vb[k] <= at_mid.va[k] and at_shift.vb[k] > at_shift.va[k]  # empty at x=0, full there
    # the trunk and the pelvis stay; parts are copies, the straight ones unchanged
    straight_bg = [p for p in straight if p.background]
    bent_bg = [p for p in bent if p.background]
    assert len(straight_bg) == len(bent_bg) and all(a.xc == b.xc for a, b in zip(straight_bg, bent_bg))
    again = bend(straight, spine, curve)
    assert all(p.xc_profile is None for p in straight) and len(again) == len(straight)


def test_a_volume_puts_each_tip_on_its_own_levels_disc():
    """In a 3D volume of a curved spine each label's x is where that disc's section is centred
    (the disc tissue across the slices just in front of the tip, on the class map)."""
    checked = 0
    for seed in (10, 24):  # lumbar volumes whose curve moves some tips 12-16 mm off the midline
        vol = generate_volume(np.random.default_rng(seed), fov_mode="lumbar")
        dx = vol.zooms[0]
        assert max(abs(x - vol.meta["midsagittal_x"]) for x, _, _ in vol.discs.values()) * dx > 10.0
        for value, (x, y, z) in vol.discs.items():
            yy = int(round(y)) + max(1, int(round(3.0 / vol.zooms[1])))  # 3 mm anterior: inside the disc
            column = np.isin(vol.classes[:, yy, int(round(z))], (Tissue.ANNULUS, Tissue.NUCLEUS))
            xs = np.flatnonzero(column)
            if len(xs) < 3 or xs[0] == 0 or xs[-1] == column.size - 1:
                continue  # the disc is cut by the volume's edge
            assert abs(0.5 * (xs[0] + xs[-1]) - x) <= 1.5, (seed, value)
            checked += 1
    assert checked >= 4

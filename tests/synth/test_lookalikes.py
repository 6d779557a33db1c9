"""Disc look-alikes that carry no label: S1/S2 with a nucleus, a subdental synchondrosis band."""

from __future__ import annotations

import numpy as np

from hca_disc_label.synth import scene
from hca_disc_label.synth.spine_params import N_MOBILE
from hca_disc_label.synth.tissues import Tissue


def _inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    from matplotlib.path import Path as MplPath

    return MplPath(poly).contains_points(points, radius=1e-6)


def test_synchondrosis_band_is_a_thin_strip_across_the_middle_of_the_dens_base():
    subject = scene.sample_subject(np.random.default_rng(3), "cervical")
    bridge = subject.spine.dens_bridge
    band = scene.synchondrosis_band(bridge, 0.5)
    assert band.shape == (4, 2)
    assert _inside(band, bridge).all()
    # 1 mm thick along the dens axis, as long as the bridge is wide
    assert np.isclose(np.linalg.norm(band[0] - band[3]), 1.0)
    assert np.isclose(np.linalg.norm(band[1] - band[2]), 1.0)
    assert np.isclose(np.linalg.norm(band[0] - band[1]), np.linalg.norm(bridge[0] - bridge[1]))


def _band_parts(parts, bridge):
    return [p for p in parts if p.item.tissue in (Tissue.ANNULUS, Tissue.NUCLEUS)
            and _inside(np.asarray(p.item.pts), bridge + 0.01 * (bridge - bridge.mean(axis=0))).all()]


def test_some_subjects_get_a_dens_base_band_and_it_adds_no_label():
    subject = scene.sample_subject(np.random.default_rng(4), "cervical")
    counts = [len(_band_parts(scene._atlas_axis_parts(subject.spine, np.random.default_rng(s)),
                              subject.spine.dens_bridge)) for s in range(60)]
    frac = np.mean(np.array(counts) > 0)
    assert 0.15 < frac < 0.6  # SYNCHONDROSIS_LINE = 0.35
    assert max(counts) == 1
    assert sorted(subject.spine.tips) == list(range(2, 26))  # labels are the anatomy's only


def test_s1s2_remnant_sometimes_keeps_a_nucleus_and_lower_remnants_never_do():
    subject = scene.sample_subject(np.random.default_rng(5), "lumbar")
    spine = subject.spine
    rs = (-1e9, 1e9)
    s1s2 = spine.discs[N_MOBILE].outline
    lower = [d.outline for d in spine.discs[N_MOBILE + 1:]]
    with_nucleus = 0
    for s in range(60):
        parts = scene._disc_parts(spine, np.random.default_rng(s), rs)
        nuclei = [np.asarray(p.item.pts) for p in parts if p.item.tissue == Tissue.NUCLEUS]
        in_s1s2 = [n for n in nuclei if _inside(n.mean(axis=0)[None], s1s2).all()]
        with_nucleus += bool(in_s1s2)
        for outline in lower:
            assert not any(_inside(n.mean(axis=0)[None], outline).all() for n in nuclei)
    assert 0.2 < with_nucleus / 60 < 0.7  # PERSISTENT_S1S2 = 0.45


def test_some_subjects_have_a_disc_like_s1s2_that_carries_no_label():
    from hca_disc_label.synth.chain import build_spine
    from hca_disc_label.synth.spine_params import LUMBARISED_S1, sample_params

    params = [sample_params(np.random.default_rng([31, i])) for i in range(300)]
    lumbarised = [p for p in params if p.lumbarised_s1]
    assert 0.5 * LUMBARISED_S1 < len(lumbarised) / len(params) < 2.0 * LUMBARISED_S1
    assert all(5.0 * 0.85 <= p.sacral_disc_h[0] <= 9.0 * 1.15 for p in lumbarised)
    assert all(p.sacral_disc_h[0] < 5.0 * 1.15 * 1.0 + 1.0 for p in params if not p.lumbarised_s1)
    spine = build_spine(lumbarised[0], 0.0, np.random.default_rng(1))
    assert sorted(spine.tips) == list(range(2, 26))  # still S1: the disc above is L5/S1
    parts = scene._disc_parts(spine, np.random.default_rng(0), (-1e9, 1e9))
    s1s2 = spine.discs[N_MOBILE].outline
    nuclei = [np.asarray(p.item.pts) for p in parts if p.item.tissue == Tissue.NUCLEUS]
    assert any(_inside(n.mean(axis=0)[None], s1s2).all() for n in nuclei)  # always a nucleus

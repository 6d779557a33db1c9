"""2D slabs: reproducibility, label placement on the rendered anatomy, fields of view, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hca_disc_label.synth.choices import FOV_MODES, LOOKS
from hca_disc_label.synth.slab import generate_slab
from hca_disc_label.synth.tissues import Tissue

DISC = {int(Tissue.ANNULUS), int(Tissue.NUCLEUS)}
CANAL = {int(Tissue.CSF), int(Tissue.CORD), int(Tissue.NERVE), int(Tissue.FAT), int(Tissue.LIGAMENT)}
BONE = {int(Tissue.CORTEX), int(Tissue.MARROW)}


def _slab(seed, mode=None, look=None, spacing=1.0):
    return generate_slab(np.random.default_rng(seed), spacing_mm=spacing, fov_mode=mode, look=look)


def test_same_seed_same_slab_and_different_seeds_differ():
    a, b = _slab(7), _slab(7)
    assert np.array_equal(a.image, b.image) and a.discs == b.discs and a.meta == b.meta
    c = _slab(8)
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.float32 and np.all(np.isfinite(a.image)) and a.image.min() >= 0


def _neighbourhood(classes, r, c, radius=2):
    r0, c0 = int(round(r)), int(round(c))
    return set(np.unique(classes[max(r0 - radius, 0):r0 + radius + 1, max(c0 - radius, 0):c0 + radius + 1]).tolist())


@pytest.mark.parametrize("seed,mode", [(1, "lumbar"), (2, "cervical"), (3, "thoracic"), (4, "crop"), (5, "whole"),
                                       (6, "thoracolumbar")])
def test_labels_sit_on_the_posterior_border_of_discs(seed, mode):
    slab = _slab(seed, mode)
    cls = slab.classes
    assert slab.discs, "no disc in the field of view"
    for value, (r, c) in slab.discs.items():
        near = _neighbourhood(cls, r, c)
        if value == 2:  # C1/C2: behind the C2 body under the dens, in front of the canal
            assert near & BONE and near & CANAL, (value, near)
            continue
        assert near & DISC, (value, near)
        assert near & CANAL, (value, near)
        # Posterior (larger column) of the tip is canal (a bulging disc may reach a few mm
        # past the tip: the label is between the bodies' corners, not on the bulge), anterior
        # of it is disc or bone.
        row = int(round(r))
        behind = set(cls[row, int(round(c)) + 2:int(round(c)) + 8].tolist())
        front = set(cls[row, max(int(round(c)) - 4, 0):int(round(c)) - 1].tolist())
        assert behind & CANAL, (value, behind)
        assert front & (DISC | BONE), (value, front)


@pytest.mark.parametrize("seed", range(4))
def test_values_increase_head_to_feet_and_labels_inside(seed):
    slab = _slab(seed + 20)
    h, w = slab.image.shape
    values = sorted(slab.discs)
    rows = [slab.discs[v][0] for v in values]
    assert np.all(np.diff(rows) > 0)
    for r, c in slab.discs.values():
        assert 0 <= r <= h - 1 and 0 <= c <= w - 1
    assert set(values) <= set(range(2, 26))


def test_each_field_of_view_shows_its_discs():
    for seed in range(3):
        cerv = _slab(100 + seed, "cervical")
        assert set(cerv.discs) & set(range(2, 9)) and 140 <= cerv.image.shape[0] <= 320
        lumb = _slab(200 + seed, "lumbar")
        assert len(set(lumb.discs) & set(range(21, 26))) >= 4
        crop = _slab(300 + seed, "crop")
        assert 2 <= len(crop.discs) <= 5 and 50 <= crop.image.shape[0] <= 100 and crop.image.shape[1] <= 100
        whole = _slab(400 + seed, "whole")
        assert len(whole.discs) >= 20 and min(whole.discs) <= 3 and max(whole.discs) >= 24
        thor = _slab(500 + seed, "thoracic")
        assert set(thor.discs) & set(range(9, 21))
        for mode in ("cervicothoracic", "thoracolumbar"):
            assert len(_slab(600 + seed, mode).discs) >= 8
    for mode in FOV_MODES:
        assert _slab(700, mode).meta["fov_mode"] == mode


def test_looks_and_spacing():
    for look in LOOKS:
        assert _slab(31, "crop", look).meta["look"] == look
    a = _slab(32, "crop", "t2", spacing=1.0)
    b = _slab(32, "crop", "t2", spacing=0.5)
    assert abs(b.image.shape[0] - 2 * a.image.shape[0]) <= 2
    for v in a.discs:
        assert np.allclose(np.array(b.discs[v]) * 0.5, a.discs[v], atol=0.5)
    with pytest.raises(ValueError):
        _slab(1, "neck")
    with pytest.raises(ValueError):
        _slab(1, None, "flair")


def test_t2_contrast_puts_csf_above_cord_and_t1_below():
    for seed in range(3):
        for look, sign in (("t2", 1), ("t1", -1)):
            slab = _slab(40 + seed, "lumbar", look)
            if slab.meta["variant"] == "wild":
                continue
            img, cls = slab.image, slab.classes
            csf = np.median(img[cls == Tissue.CSF])
            bone = np.median(img[cls == Tissue.MARROW])
            assert sign * (csf - bone) > 0


def test_generation_speed_report(capsys):
    rng = np.random.default_rng(0)
    generate_slab(rng, fov_mode="lumbar")
    times, sizes = [], []
    for _ in range(6):
        t0 = time.perf_counter()
        s = generate_slab(rng, fov_mode="lumbar")
        times.append(time.perf_counter() - t0)
        sizes.append(s.image.shape)
    with capsys.disabled():
        print(f"\n[synth] lumbar slab median {1e3 * np.median(times):.1f} ms, sizes {sizes[:3]}")
    assert max(times) < 5.0


def test_a_placed_window_is_the_one_rendered():
    """``place_window`` replaces the drawn field of view (benchmark sets use it)."""
    from hca_disc_label.synth.slab import generate_slab
    from hca_disc_label.synth.fov import Window

    seen = {}

    def place(rng, subject, window):
        seen["window"] = Window(window.u_top, window.u_top + 80.0, window.v_left, window.v_left + 60.0, window.region)
        return seen["window"]

    slab = generate_slab(np.random.default_rng(5), 1.0, fov_mode="lumbar", place_window=place)
    w = seen["window"]
    assert slab.meta["window_mm"] == [w.u_top, w.u_bot, w.v_left, w.v_right]
    assert slab.image.shape == (80, 60)


def test_channel_offsets_draw_one_section_per_offset_of_the_same_subject():
    one = generate_slab(np.random.default_rng(4), fov_mode="lumbar")
    three = generate_slab(np.random.default_rng(4), fov_mode="lumbar", channel_offsets_mm=(-12.0, 0.0, 12.0))
    assert three.image.shape == (3, *one.image.shape) and three.classes.shape == one.image.shape
    assert three.discs == one.discs and three.landmarks == one.landmarks
    assert {k: v for k, v in three.meta.items() if k != "channel_offsets_mm"} == one.meta
    assert three.meta["channel_offsets_mm"] == [-12.0, 0.0, 12.0]
    # one acquisition: comparable intensity scales; lateral sections show other anatomy
    means = three.image.reshape(3, -1).mean(axis=1)
    assert means.max() < 2.0 * means.min()
    assert np.abs(three.image[0] - three.image[1]).mean() > 0.05 * means[1]

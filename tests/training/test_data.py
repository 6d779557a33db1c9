"""Training samples of partially labelled real images: where an unlabelled channel is unknown."""

from __future__ import annotations

import numpy as np

from hca_disc_label.conventions import DISC_VALUES
from hca_disc_label.inference.heatmaps import model_to_heatmap
from hca_disc_label.training.data import augment, collate
from hca_disc_label.training.sample import TrainSample, crop_to
from hca_disc_label.training.real_targets import known_values_real

VALUES = list(DISC_VALUES)
LUMBAR = {21: (60.0, 130.0), 22: (94.0, 122.0), 23: (128.0, 116.0), 24: (162.0, 114.0)}


def test_unlabelled_visible_discs_are_unknown_only_near_their_extrapolated_place():
    known, unsure = known_values_real(LUMBAR, height=224)
    assert known == set(DISC_VALUES)  # every channel has a target somewhere
    # L5/S1 and T12/L1 are one spacing (34 px) beyond the labels, inside the image
    assert abs(unsure[25][0] - 196.0) < 1e-6 and abs(unsure[20][0] - 26.0) < 1e-6
    assert 0.5 * 34 < unsure[25][2] < 34  # less than one spacing: the sacrum below stays known
    assert unsure[19][2] > unsure[20][2]  # two levels away: less certain
    assert 2 not in unsure and 10 not in unsure  # far outside the image: known absent everywhere


def test_single_label_gives_no_extrapolation():
    known, unsure = known_values_real({22: (50.0, 60.0)}, height=200)
    assert known == {22} and unsure == {}


def test_collate_masks_pixels_of_the_unsure_region_only():
    known, unsure = known_values_real(LUMBAR, height=224)
    sample = TrainSample(np.zeros((256, 192), np.float32), dict(LUMBAR), known, unsure)
    batch = collate([sample], VALUES, stride=4)
    mask = batch["mask"][0]
    assert mask.shape == (len(VALUES), 64, 48)
    for v in LUMBAR:
        assert mask[VALUES.index(v)].all()
    m25 = mask[VALUES.index(25)]
    r, c = np.round(model_to_heatmap(np.array(unsure[25][:2]), 4)).astype(int)
    assert m25[r, c] == 0.0 and m25[r + 2, c] == 0.0
    # the labelled L4/L5 disc and the sacrum ~30 mm below L5/S1 keep a known (zero) target
    assert m25[r + 8, c] == 1.0
    r24, c24 = np.round(model_to_heatmap(np.array(LUMBAR[24]), 4)).astype(int)
    assert m25[r24, c24] == 1.0
    assert 0 < (m25 == 0).sum() < 0.2 * m25.size


def test_unsure_regions_follow_augmentation_and_crop():
    known, unsure = known_values_real(LUMBAR, height=224)
    sample = TrainSample(np.random.default_rng(0).random((224, 192)).astype(np.float32), dict(LUMBAR), known, unsure)
    rng = np.random.default_rng(5)
    moved = crop_to(augment(sample, rng), rng, 192, 128)
    assert set(moved.unsure) == set(unsure)
    # the region keeps its place relative to the labelled discs it was extrapolated from
    for v in (21, 24):
        if v in moved.discs:
            before = np.subtract(unsure[25][:2], LUMBAR[v])
            after = np.subtract(moved.unsure[25][:2], moved.discs[v])
            assert abs(np.linalg.norm(after) / np.linalg.norm(before) - moved.unsure[25][2] / unsure[25][2]) < 1e-6


def test_fov_crop_keeps_part_of_the_height_and_drops_discs_outside_it():
    from hca_disc_label.training.sample import FOV_CROP_FRACTION, fov_crop

    known, unsure = known_values_real(LUMBAR, height=224)
    image = np.tile(np.arange(224, dtype=np.float32)[:, None] / 224, (1, 160))
    base = TrainSample(image, dict(LUMBAR), known, unsure)
    seen_absent = False
    for seed in range(20):
        out = fov_crop(base, np.random.default_rng(seed))
        h = out.image.shape[0]
        assert FOV_CROP_FRACTION[0] * 224 - 1 <= h <= FOV_CROP_FRACTION[1] * 224 + 1
        assert out.image.shape[1] == 160
        top = round(float(out.image[0, 0]) * 224)  # the gradient tells where the window starts
        for v, (r, c) in out.discs.items():
            assert np.isclose(r, LUMBAR[v][0] - top) and np.isclose(c, LUMBAR[v][1])
        for v in set(LUMBAR) - set(out.discs):
            r = LUMBAR[v][0] - top
            if r < -3 or r > h + 2:  # clearly outside the window: known absent there
                assert v in out.known
                seen_absent = True
    assert seen_absent


def test_landmarks_follow_augmentation_and_crops_and_reach_their_channels():
    from hca_disc_label.conventions import LANDMARKS
    from hca_disc_label.training.real_targets import known_landmarks_real

    image = np.zeros((200, 100), dtype=np.float32)
    s = TrainSample(image, {24: (100.0, 50.0)}, set(DISC_VALUES) | set(LANDMARKS), {}, {125: (130.0, 40.0)})
    a = augment(s, np.random.default_rng(0), 0.0)  # strength 0: identity geometry
    assert np.allclose(a.landmarks[125], (130.0, 40.0))
    c = crop_to(s, np.random.default_rng(1), 128, 100)
    codes = VALUES + list(LANDMARKS)
    batch = collate([c], codes, 4)
    k = codes.index(125)
    if 125 in c.landmarks:
        assert batch["present"][0, k]
        assert np.allclose(batch["coords"][0, k], model_to_heatmap(np.array(c.landmarks[125]), 4))
    else:
        assert not batch["present"][0, k]
    # a real lumbar image: C2 is far above (known absent), the sacrum may be in view (unknown)
    assert known_landmarks_real(LUMBAR, height=224) == ({102}, {})


def test_intensity_remap_keeps_background_and_tissue_order_or_reverses_it():
    from hca_disc_label.training.data import remap_intensity

    image = np.linspace(0.0, 1.0, 101, dtype=np.float32)[None, :].repeat(3, axis=0)
    kinds = set()
    for seed in range(20):
        out = remap_intensity(image, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.float32
        assert out[0, 0] == 0.0 and 0.0 <= out.min() and out.max() <= 1.0
        d = np.diff(out[0, 1:])
        kinds.add("up" if np.all(d >= -1e-6) else "down" if np.all(d <= 1e-6) else "mixed")
    assert kinds == {"up", "down"}  # monotone curves of both senses, never scrambled


def test_sacral_landmarks_are_known_absent_at_and_above_a_labelled_l5s1_and_unknown_below():
    from hca_disc_label.training.real_targets import known_landmarks_real

    discs = {**LUMBAR, 25: (196.0, 116.0)}
    known, unsure = known_landmarks_real(discs, height=300)
    assert {125, 126} <= known and set(unsure) == {125, 126}
    batch = collate([TrainSample(np.zeros((300, 200), np.float32), discs, set(DISC_VALUES) | known, unsure)],
                    VALUES + [125, 126], 1)
    mask = batch["mask"][0, -1]
    assert mask[196, 116] == 1.0 and mask[162, 114] == 1.0  # L5/S1 and L4/L5: S1/S2 known absent there
    assert mask[196 + 34, 118] == 0.0 and mask[196 + 60, 120] == 0.0  # S1, S1/S2: unknown
    # without a labelled L5/S1 nothing changes
    assert known_landmarks_real(LUMBAR, height=300) == ({102}, {})


def test_case_weights_change_how_often_a_case_is_drawn_and_equal_weights_draw_as_before():
    from hca_disc_label.training.data import DataSpec, _draw_case

    spec = DataSpec(real_cases=[object()] * 4, case_weights=(1.0, 1.0, 1.0, 5.0))
    counts = np.bincount([_draw_case(spec, np.random.default_rng(k)) for k in range(2000)], minlength=4)
    assert counts[3] > 2 * counts[:3].max()
    same = DataSpec(real_cases=[object()] * 4, case_weights=(2.0,) * 4)
    plain = DataSpec(real_cases=[object()] * 4)
    assert [_draw_case(same, np.random.default_rng(k)) for k in range(50)] == \
        [_draw_case(plain, np.random.default_rng(k)) for k in range(50)]


def test_l5_cut_ends_the_view_inside_l5_so_l5s1_is_known_absent():
    from hca_disc_label.training.sample import l5_cut

    discs = {**LUMBAR, 25: (196.0, 116.0)}
    s = TrainSample(np.ones((300, 200), np.float32), discs, set(DISC_VALUES))
    for k in range(20):
        out = l5_cut(s, np.random.default_rng(k))
        assert 162 + 0.25 * 34 - 1 <= out.image.shape[0] <= 162 + 0.75 * 34 + 1
        assert 25 not in out.discs and 25 in out.known  # cut away: known absent
        assert 24 in out.discs and {21, 22, 23} <= set(out.discs)  # L4/L5 is the lowest disc in view
    assert l5_cut(TrainSample(s.image, dict(LUMBAR)), np.random.default_rng(0)) is not None


def test_s1_cut_ends_the_view_inside_s1_with_l5s1_the_lowest_known_disc():
    from hca_disc_label.training.sample import EDGE_MARGIN_PX, s1_cut

    discs = {**LUMBAR, 25: (196.0, 116.0)}
    s = TrainSample(np.ones((300, 200), np.float32), discs, set(DISC_VALUES))
    heights = []
    for k in range(20):
        out = s1_cut(s, np.random.default_rng(k))
        heights.append(out.image.shape[0])
        assert 196 + 0.15 * 34 - 1 <= out.image.shape[0] <= 196 + 0.7 * 34 + 1
        assert out.image.shape[0] - 1 - out.discs[25][0] >= EDGE_MARGIN_PX  # L5/S1 stays a known target
        assert 25 in out.known and max(out.discs) == 25
    assert len(set(heights)) > 5
    # without L5/S1 labelled the sample is left as is
    assert s1_cut(TrainSample(s.image, dict(LUMBAR)), np.random.default_rng(0)).image.shape == (300, 200)


def test_fov_crop_after_an_s1_cut_moves_only_the_upper_edge():
    from hca_disc_label.training.sample import fov_crop

    image = np.arange(300, dtype=np.float32)[:, None] * np.ones((1, 64), np.float32)
    s = TrainSample(image, {**LUMBAR, 25: (196.0, 30.0)}, set(DISC_VALUES))
    for k in range(10):
        out = fov_crop(s, np.random.default_rng(k), keep_bottom=True)
        assert out.image[-1, 0] == 299.0 and out.image.shape[0] < 300
        assert out.discs[25][0] == 196.0 - (300 - out.image.shape[0])


def test_channels_share_every_geometric_step_and_collate_keeps_them():
    from hca_disc_label.training.data import DataSpec, make_sample, synthetic_sample
    from hca_disc_label.training.sample import window

    image = np.random.default_rng(0).random((224, 192)).astype(np.float32)
    flat = TrainSample(image, dict(LUMBAR))
    stacked = TrainSample(np.stack([image, image, image]), dict(LUMBAR))
    a, b = augment(flat, np.random.default_rng(3)), augment(stacked, np.random.default_rng(3))
    assert b.image.shape == (3, 224, 192) and a.discs == b.discs
    # same rotation/scale/gamma on each channel: identical channels differ only by their noise
    assert np.abs(b.image[0] - b.image[2]).mean() < 0.05 and np.abs(b.image[1] - a.image).mean() < 0.05
    cut = window(stacked, -10, 20, 128, 64)
    assert cut.image.shape == (3, 128, 64) and np.array_equal(cut.image[2], window(flat, -10, 20, 128, 64).image)
    batch = collate([cut, cut], VALUES, 4)
    assert batch["image"].shape == (2, 3, 128, 64) and batch["mask"].shape[-2:] == (32, 16)
    synth = synthetic_sample(np.random.default_rng(1), 1.0, (-10.0, 0.0, 10.0))
    assert synth.image.ndim == 3 and synth.image.shape[0] == 3 and 0 <= synth.image.min() <= synth.image.max() <= 1
    spec = DataSpec(heights=(128,), widths=(64,), channel_offsets_mm=(-10.0, 0.0, 10.0))
    assert make_sample(spec, 0, 0, 0).image.shape == (3, 128, 64)


def test_a_labelled_sacral_landmark_is_known_everywhere_and_the_other_stays_unknown_below_l5s1():
    from hca_disc_label.training.real_targets import known_landmarks_real

    discs = {**LUMBAR, 25: (196.0, 116.0)}
    known, unsure = known_landmarks_real(discs, height=300, labelled={126})
    assert {125, 126} <= known and set(unsure) == {125}
    s1s2 = {126: (250.0, 140.0)}
    batch = collate([TrainSample(np.zeros((300, 200), np.float32), discs, set(DISC_VALUES) | known, unsure, s1s2)],
                    VALUES + [125, 126], 1)
    assert batch["present"][0, -1] and not batch["present"][0, -2]
    assert batch["mask"][0, -1].all()  # S1/S2: a target at its label, zero elsewhere
    assert batch["mask"][0, -2][196 + 60, 120] == 0.0  # S1 body: still unknown in the sacral region
